/**
 * `serval listen` / `serval connect` as functions (runListen, runConnect)
 * against in-process daemons: a router and two hosts over loopback UDP,
 * each host with its application socket.
 */

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { AppSocketServer } from "@serval/client";
import { openUdpDatapath, ServalNode } from "@serval/runtime";
import { runConnect, runListen } from "./app_command.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function node(role: "host" | "router", routerPort?: number): Promise<ServalNode> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
  const routers = routerPort === undefined ? [] : [{ address: new Uint8Array([127, 0, 0, 1]), port: routerPort }];
  const n = await ServalNode.start({ role, datapath: dp, control: { routers } });
  cleanups.push(() => n.close());
  return n;
}

async function daemon(n: ServalNode): Promise<string> {
  const runDir = mkdtempSync(`${tmpdir()}/serval-appcmd-`);
  const s = await AppSocketServer.listen(n, `${runDir}/app.sock`);
  cleanups.push(async () => {
    await s.close();
    rmSync(runDir, { recursive: true, force: true });
  });
  return runDir;
}

/** An output that keeps what it is given. */
function sink() {
  const parts: Uint8Array[] = [];
  return {
    parts,
    write(chunk: Uint8Array, cb: (err?: Error | null) => void) {
      parts.push(chunk.slice());
      cb();
      return true;
    },
    bytes: () => Buffer.concat(parts),
  };
}

async function* chunks(data: Uint8Array, size = 50_000): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}

/** Resolves once `cond()` holds, checked at every step of `n` (bounded). */
function until(n: ServalNode, cond: () => boolean, ms = 3000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error("timed out"))), ms);
    const off = n.onStep(() => {
      if (!cond()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

describe("serval listen / serval connect (in-process daemons)", () => {
  test("connect's input reaches listen's output and back, byte-exact; both exit 0", async () => {
    const router = await node("router");
    const a = await daemon(await node("host", router.locals[0]!.port));
    const b = await daemon(await node("host", router.locals[0]!.port));
    const up = new Uint8Array(1_000_000).map((_, i) => (i * 31 + 7) & 255);
    const down = new TextEncoder().encode("hello from the listener\n");
    const lOut = sink();
    const cOut = sink();
    const lLines: string[] = [];
    const cLines: string[] = [];
    const listening = runListen({ service: "nc.example", runDir: a, once: true, input: chunks(down), output: lOut, report: (l) => lLines.push(l) });
    await until(router, () => router.agent.leases!.size === 1);
    expect(lLines).toEqual(["serval listen: listening on nc.example"]);
    const code = await runConnect({ service: "nc.example", runDir: b, input: chunks(up), output: cOut, report: (l) => cLines.push(l) });
    expect(code).toBe(0);
    expect(await listening).toBe(0);
    expect(cLines).toEqual([]);
    expect(Buffer.compare(lOut.bytes(), Buffer.from(up))).toBe(0);
    expect(cOut.bytes().toString()).toBe("hello from the listener\n");
    // --once withdrew the service.
    await until(router, () => router.agent.leases!.size === 0);
  }, 30_000);

  test("one clear line and exit 1: unreachable (the router has no rule), no daemon", async () => {
    const router = await node("router");
    const b = await daemon(await node("host", router.locals[0]!.port));
    const lines: string[] = [];
    const report = (l: string) => lines.push(l);
    expect(await runConnect({ service: "nobody.example", runDir: b, input: chunks(new Uint8Array(0)), output: sink(), report })).toBe(1);
    expect(lines).toEqual(["serval connect: Cannot connect to nobody.example: unreachable (no route to the service)"]);
    lines.length = 0;
    expect(await runListen({ service: "x.example", runDir: "/nonexistent-serval", once: true, report })).toBe(1);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/^serval listen: Cannot reach the Serval daemon at \/nonexistent-serval\/app\.sock: ENOENT/);
    lines.length = 0;
    expect(await runListen({ service: "bad name!", runDir: b, once: true, report })).toBe(1);
    expect(lines[0]).toMatch(/^serval listen: Cannot listen on bad name!: Cannot parse service prefix/);
  }, 30_000);

  test("listen stops with exit 0 on abort (a signal)", async () => {
    const router = await node("router");
    const a = await daemon(await node("host", router.locals[0]!.port));
    const ac = new AbortController();
    const lines: string[] = [];
    const done = runListen({ service: "sig.example", runDir: a, signal: ac.signal, input: chunks(new Uint8Array(0)), output: sink(), report: (l) => lines.push(l) });
    await until(router, () => router.agent.leases!.size === 1);
    ac.abort();
    expect(await done).toBe(0);
    await until(router, () => router.agent.leases!.size === 0);
  }, 30_000);
});

/**
 * `serval translate` as a process, over loopback UDP (no root needed): a
 * router, an exporting translator in front of a kernel TCP echo server, and
 * a client translator with a mapped port and SOCKS5. Also the command's
 * errors: bad flag texts exit 2, a port in use exits 1, one line each.
 */

import { afterEach, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { socksConnectRequest } from "./socks5.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

interface Proc {
  readonly child: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}

const procs: Proc[] = [];
const dirs: string[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
    const killer = setTimeout(() => p.child.kill("SIGKILL"), 3000);
    await p.exited;
    clearTimeout(killer);
  }
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs `serval ARGS --run-dir <fresh dir>`. */
function serval(args: string[]): Proc {
  const dir = mkdtempSync(join(tmpdir(), "serval-translate-"));
  dirs.push(dir);
  const child = spawn(process.execPath, [CLI, ...args, "--run-dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = {
    child,
    out: "",
    err: "",
    exited: new Promise((r) => child.on("close", (code) => r(code))),
  };
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (p.out += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (p.err += s));
  procs.push(p);
  return p;
}

/** Waits until the process's stdout matches; returns the match. */
async function waitFor(p: Proc, re: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
  const end = performance.now() + ms;
  for (;;) {
    const m = p.out.match(re);
    if (m) return m;
    if (performance.now() > end || p.child.exitCode !== null) throw new Error(`Cannot find ${re} in: ${p.out}${p.err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function echoServer(): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

function exchange(port: number, send: Uint8Array): Promise<{ data: Buffer; error: string | undefined }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const parts: Buffer[] = [];
    let error: string | undefined;
    s.on("data", (b: Buffer) => parts.push(b));
    s.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code));
    s.on("close", () => resolve({ data: Buffer.concat(parts), error }));
    s.end(send);
  });
}

describe("serval translate (processes over loopback UDP)", () => {
  test("router + export + mapped port + SOCKS5: bytes go through; SIGTERM exits 0", async () => {
    const echo = await echoServer();
    const router = serval(["router", "--bind", "127.0.0.1", "--port", "0"]);
    const [, rport] = await waitFor(router, /serval router: udp 127\.0\.0\.1:(\d+)/);
    const r = `127.0.0.1:${rport}`;
    const exporter = serval(["translate", "--bind", "127.0.0.1", "--port", "0", "--router", r, "--export", `echo.example=127.0.0.1:${echo}`]);
    await waitFor(exporter, new RegExp(`serval translate: exporting echo\\.example -> 127\\.0\\.0\\.1:${echo}`));
    const client = serval(["translate", "--bind", "127.0.0.1", "--port", "0", "--router", r, "--map", "127.0.0.1:0=echo.example", "--socks", "127.0.0.1:0"]);
    const [, mapped] = await waitFor(client, /serval translate: mapped 127\.0\.0\.1:(\d+) -> echo\.example/);
    const [, socks] = await waitFor(client, /serval translate: socks5 on 127\.0\.0\.1:(\d+)/);
    await waitFor(router, /lease \+/);

    const data = Buffer.alloc(300_000, 42);
    const viaMap = await exchange(Number(mapped), data);
    expect(viaMap.error).toBeUndefined();
    expect(viaMap.data.equals(data)).toBe(true);

    const viaSocks = await exchange(Number(socks), Buffer.concat([Buffer.from([5, 1, 0]), socksConnectRequest("echo.example", 7), Buffer.from("hello")]));
    expect(viaSocks.error).toBeUndefined();
    expect([...viaSocks.data.subarray(0, 12)]).toEqual([5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(viaSocks.data.subarray(12).toString()).toBe("hello");

    const unknown = await exchange(Number(socks), Buffer.concat([Buffer.from([5, 1, 0]), socksConnectRequest("nobody.example", 80)]));
    // The router knows no such service: refused (0x05) or unreachable (0x04), as the router answers.
    const [, why] = await waitFor(client, /socks .* -> nobody\.example: (\w+)/);
    expect(unknown.data[3]).toBe(why === "refused" ? 5 : 4);
    console.log(`[translate] SOCKS to an unknown service: reply ${unknown.data[3]} (${why})`);

    for (const p of [client, exporter, router]) {
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    }
  }, 30_000);

  test("bad flag texts: one line, exit 2", async () => {
    const none = serval(["translate", "--bind", "127.0.0.1", "--port", "0"]);
    expect(await none.exited).toBe(2);
    expect(none.err.trim()).toBe("serval translate: Cannot translate: give at least one --map, --socks or --export");
    const bad = serval(["translate", "--map", "8080=web..example"]);
    expect(await bad.exited).toBe(2);
    expect(bad.err.trim()).toMatch(/^serval translate: Cannot parse --map "8080=web\.\.example": /);
    const max = serval(["translate", "--socks", "0", "--max-connections", "lots"]);
    expect(await max.exited).toBe(2);
    expect(max.err.trim()).toBe(`serval translate: Cannot parse --max-connections "lots": expected a whole number >= 1`);
  }, 30_000);

  test("a mapped port already in use: one line, exit 1", async () => {
    const taken = await echoServer();
    const p = serval(["translate", "--bind", "127.0.0.1", "--port", "0", "--map", `127.0.0.1:${taken}=web.example`]);
    expect(await p.exited).toBe(1);
    expect(p.err).toContain(`serval translate: Cannot listen on 127.0.0.1:${taken} (mapped port): EADDRINUSE`);
  }, 30_000);
});

import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
import { reportPrinter } from "./preset_command.ts";
import { daemonEnv, removeRunDirs } from "../../test/run_dirs.ts";

afterAll(removeRunDirs);

const MAIN = join(import.meta.dir, "main.ts");
const SHIM = join(import.meta.dir, "bin", "serval.js");

/** A child process whose stdout and stderr are collected as lines, with bounded waits. */
class Proc {
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly proc: ReturnType<typeof Bun.spawn>;

  constructor(cmd: string[]) {
    this.proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: daemonEnv() });
    void this.#pump(this.proc.stdout as ReadableStream<Uint8Array>, this.out);
    void this.#pump(this.proc.stderr as ReadableStream<Uint8Array>, this.err);
  }

  async #pump(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) lines.push(buf);
  }

  /** The first stdout line matching `re` (polled: an external process); rejects after `ms` with what was printed. */
  async line(re: RegExp, ms = 5000): Promise<RegExpExecArray> {
    const end = performance.now() + ms;
    for (;;) {
      for (const l of this.out) {
        const m = re.exec(l);
        if (m) return m;
      }
      if (performance.now() > end) {
        throw new Error(`no line matching ${re} in ${ms} ms; stdout: ${JSON.stringify(this.out)}; stderr: ${JSON.stringify(this.err)}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Exit code, or rejects after `ms`. */
  async exit(ms: number): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process did not exit in ${ms} ms; stdout: ${JSON.stringify(this.out)}`)), ms);
    });
    try {
      return await Promise.race([this.proc.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }
}

const procs: Proc[] = [];
const nodes: ServalNode[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

function serval(...args: string[]): Proc {
  const p = new Proc([process.execPath, MAIN, ...args]);
  procs.push(p);
  return p;
}

describe("serval router / host presets (real processes, loopback UDP)", () => {
  test("a client reaches an echo host through a router by serviceID; SIGTERM withdraws at once and exits 0", async () => {
    const router = serval("router", "--bind", "127.0.0.1", "--port", "0");
    const rport = Number((await router.line(/^serval router: udp 127\.0\.0\.1:(\d+), boot id [0-9a-f]{8}, balance round-robin$/))[1]);
    expect(rport).toBeGreaterThan(0);
    // A long lease: its removal within a second can only be the withdrawal.
    const host = serval(
      "host", "--bind", "127.0.0.1", "--port", "0", "--echo", "echo.example", "--router", `127.0.0.1:${rport}`,
      "--weight", "2", "--lifetime-ms", "30000",
    );
    const hport = Number((await host.line(/^serval host: udp 127\.0\.0\.1:(\d+), routers 127\.0\.0\.1:(\d+)$/))[1]);
    await host.line(/^serval host: serving echo\.example \(echo\)$/);
    await host.line(new RegExp(`^serval host: registered echo\\.example at 127\\.0\\.0\\.1:${hport} with 127\\.0\\.0\\.1:${rport} \\(1 router\\(s\\), lease 30000 ms\\)$`));
    await router.line(new RegExp(`^lease \\+ [0-9a-f]+…/256 127\\.0\\.0\\.1:${hport} weight 2$`));

    const client = await ServalNode.start({
      role: "host",
      datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }),
      control: { routers: [{ address: new Uint8Array([127, 0, 0, 1]), port: rport }] },
    });
    nodes.push(client);
    const c = await new ServalApi(client).connect("echo.example");
    const w = c.writable.getWriter();
    await w.write(new TextEncoder().encode("echo across processes"));
    await w.close();
    let echoed = "";
    for await (const chunk of c.readable) echoed += new TextDecoder().decode(chunk);
    expect(echoed).toBe("echo across processes");

    const t0 = performance.now();
    host.proc.kill("SIGTERM");
    expect(await host.exit(1000)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1000);
    await router.line(new RegExp(`^lease - [0-9a-f]+…/256 127\\.0\\.0\\.1:${hport} \\(unregistered\\)$`), 1000);
    expect(host.out).toContain("serval host: stopping: withdrawing 1 service(s) from 1 router(s)");
    expect(host.out.at(-1)).toBe("serval host: stopped");
    expect(host.err).toEqual([]);

    router.proc.kill("SIGINT");
    expect(await router.exit(1000)).toBe(0);
    expect(router.out.at(-1)).toBe("serval router: stopped");
  }, 20_000);

  test("bad flag values: one line on stderr naming the field and value, exit code 2", async () => {
    const weight = serval("host", "--weight", "0");
    expect(await weight.exit(5000)).toBe(2);
    expect(weight.err).toEqual(["serval host: weight: expected an integer 1..65535, got 0"]);
    expect(weight.out).toEqual([]);
    const router = serval("router", "--router", "127.0.0.1:99999");
    expect(await router.exit(5000)).toBe(2);
    expect(router.err).toEqual(['serval router: routers[0]: expected IPv4 or IPv4:PORT (port 1..65535), got "127.0.0.1:99999"']);
    const dir = mkdtempSync(join(tmpdir(), "serval-preset-"));
    try {
      writeFileSync(join(dir, "bad.json"), JSON.stringify({ echo: ["ok.example"], priority: -1 }));
      const file = serval("host", "--config", join(dir, "bad.json"));
      expect(await file.exit(5000)).toBe(2);
      expect(file.err).toEqual(["serval host: priority: expected an integer 0..65535, got -1"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // An unknown flag: the help and the error from effect/cli, then exit code 2.
    const bogus = serval("host", "--bogus");
    expect(await bogus.exit(5000)).toBe(2);
    expect([...bogus.out, ...bogus.err].join("\n")).toContain("Unrecognized flag: --bogus");
  }, 15_000);

  test("a port in use: one line, exit code 1", async () => {
    const taken = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
    try {
      const p = serval("router", "--bind", "127.0.0.1", "--port", String(taken.port));
      expect(await p.exit(5000)).toBe(1);
      expect(p.err.length).toBe(1);
      expect(p.err[0]).toStartWith("serval router: ");
    } finally {
      await taken.close();
    }
  }, 10_000);

  test("the Node shim forwards SIGTERM: the node shuts down gracefully and the shim exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "serval-preset-"));
    try {
      // The config file gives the bind address and the echo service; the flag gives the port.
      writeFileSync(join(dir, "adhoc.json"), JSON.stringify({ bind: "127.0.0.1", port: 54325, echo: ["a.example"] }));
      const p = new Proc(["node", SHIM, "adhoc", "--config", join(dir, "adhoc.json"), "--port", "0"]);
      procs.push(p);
      await p.line(/^serval adhoc: udp 127\.0\.0\.1:\d+, no router/);
      await p.line(/^serval adhoc: serving a\.example \(echo\)$/);
      expect(p.out[0]).not.toContain(":54325,");
      p.proc.kill("SIGTERM");
      expect(await p.exit(2000)).toBe(0);
      expect(p.out.at(-1)).toBe("serval adhoc: stopped");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);
});

describe("reportPrinter()", () => {
  test("lines for leases (plain, or coloured when asked) and registrations (our address as the router sees it)", () => {
    const lease = {
      prefix: { toString: () => "50d858e0092c79e8000000000000000000000000000000000000000000000000/256" },
      locator: { address: new Uint8Array([198, 18, 1, 2]), port: 0 },
      weight: 2,
      priority: 0,
      since: 0,
      expiresAt: 1,
    } as never;
    const plain = reportPrinter("router");
    expect(plain({ type: "lease-added", lease })).toEqual(["lease + 50d858e0092c79e8…/256 198.18.1.2 weight 2"]);
    expect(plain({ type: "lease-removed", lease, reason: "expired" })).toEqual(["lease - 50d858e0092c79e8…/256 198.18.1.2 (expired)"]);
    const host = reportPrinter("host");
    const loc = (a: number[], port: number) => ({ address: new Uint8Array(a), port });
    host({
      type: "started", role: "host", datapath: "udp", bind: "0.0.0.0", port: 54325,
      locals: [loc([127, 0, 0, 1], 54325), loc([198, 18, 0, 2], 54325)], bootId: undefined,
      routers: [loc([198, 18, 0, 1], 54325)], discover: false, balance: "round-robin", echo: ["echo.example"],
    });
    expect(host({ type: "registered", router: loc([198, 18, 0, 1], 54325), lifetimeMs: 3000, services: ["echo.example"], routers: 1 })).toEqual([
      "serval host: registered echo.example at 198.18.0.2:54325 with 198.18.0.1:54325 (1 router(s), lease 3000 ms)",
    ]);
    const color = reportPrinter("router", { color: true });
    expect(color({ type: "lease-added", lease })[0]).toStartWith("\x1b[32mlease +\x1b[0m ");
  });
});

/**
 * The presets as an unprivileged user over the UDP datapath on loopback: no
 * namespaces, no root. When the test runs as root (CI), every process is
 * started as user `nobody` (setpriv) to prove nothing needs privileges.
 *
 * Router, three replicas of weights 1/2/3 and a client, each a process:
 * 3,000 connects by weight within 5 %, echoes byte-exact; a replica stopped
 * with SIGTERM withdraws at once; a frozen one (SIGSTOP: silent) ages out
 * within 3 s; the router restarts on its port and the replicas are back
 * within one refresh interval. (Ad hoc needs broadcast, which loopback
 * lacks: it is covered across namespaces in presets.test.ts.)
 *
 * @module
 */

import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { daemonEnv, removeRunDirs } from "../run_dirs.ts";

afterAll(removeRunDirs);

const CLI = new URL("../../packages/cli/main.ts", import.meta.url).pathname;
const CLIENT = new URL("./_connect_client.ts", import.meta.url).pathname;
const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** As root, run as `nobody` — if `nobody` can read the checkout and run bun (a clone under /root cannot). */
function dropPrivileges(): string[] {
  if (process.getuid?.() !== 0) return [];
  const probe = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, "-e", `require("fs").accessSync(${JSON.stringify(CLI)})`]);
  if (probe.status === 0) return NOBODY;
  console.log("[e2e] presets_unprivileged: user nobody cannot read this checkout; running the processes as root");
  return [];
}
const asNobody = dropPrivileges();

interface Proc {
  readonly pid: number;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

const procs: Proc[] = [];

function start(script: string, args: string[]): Proc {
  const cmd = [...asNobody, process.execPath, script, ...args];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...daemonEnv(), HOME: "/tmp" } });
  const p: Proc = {
    pid: child.pid!,
    out: "",
    err: "",
    exited: new Promise((r) => child.on("close", (code) => r(code))),
    kill: (s) => child.kill(s),
  };
  child.stdout.setEncoding("utf8").on("data", (s: string) => (p.out += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (p.err += s));
  procs.push(p);
  return p;
}

async function waitFor(p: Proc, re: RegExp, n = 1, ms = 10_000): Promise<RegExpMatchArray> {
  const end = performance.now() + ms;
  for (;;) {
    const all = [...p.out.matchAll(new RegExp(re.source, "g"))];
    if (all.length >= n) return all[n - 1]!;
    if (performance.now() > end) throw new Error(`Timed out waiting for ${n} × ${re}: ${p.out.slice(-600)} ${p.err.slice(-300)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A UDP port free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function client(rport: number, count: number): Promise<{ ok: number; errors: Record<string, number>; perReplica: Record<string, number>; connectsPerSecond: number }> {
  const c = start(CLIENT, ["--service", "echo.example", "--count", String(count), "--router", `127.0.0.1:${rport}`, "--bind", "127.0.0.1", "--port", "0"]);
  await c.exited;
  const line = c.out.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`client printed nothing: ${c.err.slice(-500)}`);
  return JSON.parse(line);
}

describe("serval presets as an unprivileged user (loopback UDP)", () => {
  test("router + 3 replicas + client: weights, stop, silent freeze, router restart", async () => {
    try {
      const rport = await freePort();
      const routerArgs = ["router", "--bind", "127.0.0.1", "--port", String(rport)];
      let router = start(CLI, routerArgs);
      await waitFor(router, /serval router: udp 127\.0\.0\.1:\d+, boot id/);
      const replicas = [1, 2, 3].map((w) =>
        start(CLI, ["host", "--bind", "127.0.0.1", "--port", "0", "--router", `127.0.0.1:${rport}`, "--echo", "echo.example", "--weight", String(w)])
      );
      const ports = await Promise.all(replicas.map(async (r) => Number((await waitFor(r, /serval host: udp 127\.0\.0\.1:(\d+)/))[1])));
      await waitFor(router, /lease \+/, 3);

      const r = await client(rport, 3000);
      expect(r.errors).toEqual({});
      expect(r.ok).toBe(3000);
      ports.forEach((p, i) => {
        const want = (3000 * (i + 1)) / 6;
        expect(Math.abs((r.perReplica[`127.0.0.1:${p}`] ?? 0) - want) / want).toBeLessThanOrEqual(0.05);
      });
      console.log(`[e2e] unprivileged: 3,000 connects ${JSON.stringify(r.perReplica)}, ${r.connectsPerSecond}/s with echo`);

      replicas[0]!.kill("SIGTERM");
      expect(await replicas[0]!.exited).toBe(0);
      await waitFor(router, /lease - .*\(unregistered\)/, 1, 1_000);

      const t1 = performance.now();
      replicas[1]!.kill("SIGSTOP"); // alive but silent
      await waitFor(router, /lease - .*\(expired\)/, 1, 3_000);
      expect(performance.now() - t1).toBeLessThanOrEqual(3_000);
      const r2 = await client(rport, 100);
      expect(r2.ok).toBe(100);
      expect(Object.keys(r2.perReplica)).toEqual([`127.0.0.1:${ports[2]}`]);
      replicas[1]!.kill("SIGKILL");

      router.kill("SIGTERM");
      expect(await router.exited).toBe(0);
      router = start(CLI, routerArgs);
      await waitFor(router, /boot id/);
      const t2 = performance.now();
      await waitFor(router, /lease \+/, 1, 1_500);
      expect(performance.now() - t2).toBeLessThanOrEqual(1_100);
      expect((await client(rport, 50)).ok).toBe(50);
    } finally {
      for (const p of procs.splice(0)) p.kill("SIGKILL");
    }
  }, 60_000);
});

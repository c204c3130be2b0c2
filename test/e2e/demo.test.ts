/**
 * `serval demo` as a real process: as root (network namespaces, packet
 * datapath) and as user `nobody` (UDP on loopback). Each run must finish
 * with exit code 0 well within 60 s, print the four parts with their checks
 * passed, and leave nothing behind: no namespace of its own (`sdemo-<pid>-*`),
 * no process, no socket. SIGINT in the middle of a run still cleans up.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { isRoot, skipUnlessRoot } from "./netns.ts";

const CLI = new URL("../../packages/cli/main.ts", import.meta.url).pathname;
const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** As root, run as `nobody` — if `nobody` can read the checkout and run bun (a clone under /root cannot). */
function unprivileged(): { prefix: string[]; note?: string } {
  if (!isRoot()) return { prefix: [] };
  const probe = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, "-e", `require("fs").accessSync(${JSON.stringify(CLI)})`]);
  if (probe.status === 0) return { prefix: NOBODY };
  return { prefix: [], note: "user nobody cannot read this checkout: running the UDP variant as root with --udp" };
}

interface Run {
  readonly pid: number;
  out: string;
  err: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(s: NodeJS.Signals): void;
}

function demo(prefix: readonly string[], args: readonly string[] = []): Run {
  const cmd = [...prefix, process.execPath, CLI, "demo", ...args];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: "/tmp" } });
  const r: Run = {
    pid: child.pid!,
    out: "",
    err: "",
    exited: new Promise((res) => child.on("close", (code, signal) => res({ code, signal }))),
    kill: (s) => child.kill(s),
  };
  child.stdout.setEncoding("utf8").on("data", (s: string) => (r.out += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (r.err += s));
  return r;
}

/** Waits for the process to end, killing it after `ms`. */
async function finish(r: Run, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((res) => {
    timer = setTimeout(() => {
      r.kill("SIGKILL");
      res();
    }, ms);
  });
  const e = await Promise.race([r.exited, killed.then(() => r.exited)]);
  clearTimeout(timer);
  return e;
}

async function waitFor(r: Run, re: RegExp, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!re.test(r.out)) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${re}: ${r.out.slice(-500)} ${r.err.slice(-300)}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** What a run of `pid` may have left: its namespaces, processes naming them or started by it, unix sockets naming it. */
function leftoversOf(pid: number): string[] {
  const left: string[] = [];
  const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of ns.split("\n")) if (line.startsWith(`sdemo-${pid}-`)) left.push(`netns ${line.split(" ")[0]}`);
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, "utf8").replaceAll("\0", " ");
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (Number(d) === pid || ppid === pid || cmdline.includes(`sdemo-${pid}-`)) left.push(`process ${d}: ${cmdline.trim()}`);
    } catch {
      // It ended while we looked.
    }
  }
  const unix = readFileSync("/proc/net/unix", "utf8");
  for (const line of unix.split("\n")) if (line.includes(`sdemo-${pid}`)) left.push(`socket ${line.trim()}`);
  return left;
}

/** The lines every complete run prints. */
function expectComplete(out: string): void {
  expect(out).toMatch(/1\. Late binding/);
  expect(out).toMatch(/SYN forwarded to replica-\d/);
  expect(out).toMatch(/"hello, echo\.demo" echoed ✓/);
  expect(out).toMatch(/2\. Load balancing — 600 connects/);
  expect(out).toMatch(/600 of 600 connected in .*shares match the weights ✓/);
  for (const w of [1, 2, 3]) expect(out).toMatch(new RegExp(`replica-${w}\\s+weight ${w}\\s+\\d+`));
  expect(out).toMatch(/3\. Failover — replica-3 dies/);
  expect(out).toMatch(/lease of replica-3 expired [\d.]+ s after the crash .*✓/);
  expect(out).toMatch(/30 connects after: .*replica-3 0 ✓/);
  expect(out).toMatch(/4\. Migration/);
  expect(out).toMatch(/moved \S+ → \S+ by RSYN.*same flowIDs ✓/);
  expect(out).toMatch(/8 MB echoed back; SHA-256 sent (\w+)… received \1… equal ✓/);
  expect(out).toMatch(/All four shown in [\d.]+ s\./);
  expect(out).toMatch(/cleaned up: /);
  expect(out).not.toMatch(/✗|\x1b\[/); // no failed check, no colours when not a terminal
}

describe("serval demo", () => {
  test.skipIf(skipUnlessRoot("serval demo in network namespaces"))("as root: namespaces and the packet datapath, exit 0, nothing left", async () => {
    const r = demo([]);
    const t0 = performance.now();
    const e = await finish(r, 60_000);
    const s = (performance.now() - t0) / 1000;
    console.log(`[e2e] serval demo (namespaces): ${s.toFixed(1)} s`);
    expect(r.err).toBe("");
    expect(e).toEqual({ code: 0, signal: null });
    expect(r.out).toMatch(/network namespaces, packet datapath/);
    expect(r.out).toMatch(new RegExp(`namespace sdemo-${r.pid}-1`));
    expect(r.out).toMatch(/ip addr add 198\.19\.\d+\.101\/24, ip addr del 198\.19\.\d+\.100\/24/);
    expect(r.out).toMatch(/cleaned up: 6 namespaces deleted/);
    expectComplete(r.out);
    expect(leftoversOf(r.pid)).toEqual([]);
  }, 90_000);

  test("unprivileged (user nobody when root): in-process nodes over UDP loopback, exit 0, nothing left", async () => {
    const u = unprivileged();
    if (u.note) console.log(`[e2e] ${u.note}`);
    const r = demo(u.prefix, u.prefix.length === 0 && isRoot() ? ["--udp"] : []);
    const t0 = performance.now();
    const e = await finish(r, 60_000);
    console.log(`[e2e] serval demo (UDP): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(e).toEqual({ code: 0, signal: null });
    expect(r.out).toMatch(/in-process nodes over UDP on loopback/);
    if (u.prefix.length > 0) expect(r.out).toMatch(/serval demo: not root, so no network namespaces/);
    expect(r.out).toMatch(/new UDP socket \S+ opened, socket \S+ closed/);
    expectComplete(r.out);
    expect(leftoversOf(r.pid)).toEqual([]);
  }, 90_000);

  test.skipIf(skipUnlessRoot("serval demo interrupted"))("SIGINT in the middle (namespaces): the run stops and still removes everything", async () => {
    const r = demo([]);
    await waitFor(r, /3\. Failover/, 30_000);
    // The namespaces exist while it runs.
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).toContain(`sdemo-${r.pid}-0`);
    r.kill("SIGINT");
    const e = await finish(r, 15_000);
    expect(e.signal).toBeNull();
    expect(e.code).not.toBe(0);
    expect(r.out).toMatch(/cleaned up: 6 namespaces deleted/);
    expect(r.out).not.toMatch(/All four shown/);
    expect(leftoversOf(r.pid)).toEqual([]);
  }, 60_000);

  test("SIGINT in the middle (UDP): the run stops and closes its nodes", async () => {
    const u = unprivileged();
    const r = demo(u.prefix, ["--udp"]);
    await waitFor(r, /2\. Load balancing/, 30_000);
    r.kill("SIGINT");
    const e = await finish(r, 15_000);
    expect(e.signal).toBeNull();
    expect(e.code).not.toBe(0);
    expect(r.out).toMatch(/cleaned up: 5 nodes stopped/);
    expect(leftoversOf(r.pid)).toEqual([]);
  }, 60_000);
});

/**
 * The presets end to end: real `serval router`, `serval host` and
 * `serval adhoc` processes, each in its own network namespace on one LAN,
 * over the UDP datapath (root only; skipped with a notice otherwise). The
 * client is `test/e2e/_connect_client.ts`, a process too.
 *
 * - one router, three replicas of weights 1, 2, 3, one client: 3,000
 *   connects spread by weight within 5 %, every echo byte-exact;
 * - a replica stopped (SIGTERM) withdraws at once: new connects all succeed;
 *   a replica whose link goes down silently ages out within 3 s;
 * - the router restarts: registrations are back within one refresh interval;
 * - ad hoc: two hosts and no router connect by serviceID.
 *
 * @module
 */

import { afterAll, describe, expect, test } from "bun:test";
import { lan, skipUnlessRoot } from "./netns.ts";
import type { LanTopology, NsProcess } from "./netns.ts";
import { daemonEnv, removeRunDirs } from "../run_dirs.ts";

afterAll(removeRunDirs);

const skip = skipUnlessRoot("serval presets across namespaces");
const CLI = new URL("../../packages/cli/main.ts", import.meta.url).pathname;
const CLIENT = new URL("./_connect_client.ts", import.meta.url).pathname;

interface ClientResult {
  ok: number;
  mismatched: number;
  errors: Record<string, number>;
  perReplica: Record<string, number>;
  ms: number;
  connectsPerSecond: number;
}

function serval(t: LanTopology, h: string, args: string[]): NsProcess {
  return t.hosts[h]!.ns.spawn([process.execPath, CLI, ...args], { env: daemonEnv() });
}

async function client(t: LanTopology, h: string, args: string[]): Promise<ClientResult> {
  const p = t.hosts[h]!.ns.spawn([process.execPath, CLIENT, ...args]);
  await p.exited;
  const line = p.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`client printed nothing: ${p.stderr.slice(-500)}`);
  return JSON.parse(line) as ClientResult;
}

/** Waits until `p` printed `n` lines matching `re` in total. */
async function lines(p: NsProcess, re: RegExp, n: number, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while ((p.stdout.match(new RegExp(re.source, "g")) ?? []).length < n) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${n} × ${re}: ${p.stdout.slice(-800)}${p.stderr.slice(-300)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const datapath of ["udp", "packet"] as const) describe.skipIf(skip)(`serval presets across namespaces (${datapath} datapath)`, () => {
  const dp = ["--datapath", datapath];
  /** A host's locator as the client reports it (IP:port on the UDP datapath, IP on the packet one). */
  const at = (t: LanTopology, h: string) => datapath === "udp" ? `${t.hosts[h]!.address}:54325` : t.hosts[h]!.address;
  const clientDp = datapath === "packet" ? ["--packet"] : [];
  test("router + 3 replicas (weights 1/2/3) + client: 3,000 connects by weight within 5 %, echoes byte-exact; stop, vanish, restart", async () => {
    const t = lan(5);
    try {
      const router = serval(t, "h0", ["router", ...dp]);
      await router.waitFor(/serval router: .*boot id/, 10_000);
      const replicas = [1, 2, 3].map((w) => serval(t, `h${w}`, ["host", ...dp, "--echo", "echo.example", "--weight", String(w)]));
      await lines(router, /lease \+/, 3, 10_000);

      const r = await client(t, "h4", [...clientDp, "--service", "echo.example", "--count", "3000", "--bytes", "64", "--parallel", "32"]);
      expect(r.errors).toEqual({});
      expect(r.mismatched).toBe(0);
      expect(r.ok).toBe(3000);
      for (const w of [1, 2, 3]) {
        const got = r.perReplica[at(t, `h${w}`)] ?? 0;
        const want = (3000 * w) / 6;
        expect(Math.abs(got - want) / want).toBeLessThanOrEqual(0.05);
      }
      console.log(`[e2e] 3,000 connects through the router: ${r.connectsPerSecond}/s with echo (32 at a time); spread ${JSON.stringify(r.perReplica)}`);

      // A replica stopped gracefully withdraws at once: no connect goes to it.
      const t0 = performance.now();
      expect(await replicas[0]!.stop("SIGTERM")).toBe(0);
      await lines(router, /lease - .*\(unregistered\)/, 1, 1_000);
      const stopped = performance.now() - t0;
      const r2 = await client(t, "h4", [...clientDp, "--service", "echo.example", "--count", "200"]);
      expect(r2.ok).toBe(200);
      expect(r2.perReplica[at(t, "h1")]).toBeUndefined();
      console.log(`[e2e] replica stopped: withdrawn ${stopped.toFixed(0)} ms after SIGTERM; 200/200 later connects succeed`);

      // A replica whose link goes down silently ages out within 3 s.
      const h2 = t.hosts.h2!;
      h2.ns.exec(["ip", "link", "set", "dev", h2.ifname, "down"]);
      const t1 = performance.now();
      await lines(router, /lease - .*\(expired\)/, 1, 3_000);
      const aged = performance.now() - t1;
      expect(aged).toBeLessThanOrEqual(3_000);
      const r3 = await client(t, "h4", [...clientDp, "--service", "echo.example", "--count", "100"]);
      expect(r3.ok).toBe(100);
      expect(Object.keys(r3.perReplica)).toEqual([at(t, "h3")]);
      console.log(`[e2e] replica vanished: lease expired ${aged.toFixed(0)} ms after its link went down`);
      h2.ns.exec(["ip", "link", "set", "dev", h2.ifname, "up"]);

      // The router restarts: registrations come back within one refresh interval (1 s).
      expect(await router.stop("SIGTERM")).toBe(0);
      const router2 = serval(t, "h0", ["router", ...dp]);
      await router2.waitFor(/boot id/, 10_000);
      const t2 = performance.now();
      await lines(router2, /lease \+/, 2, 2_000);
      const back = performance.now() - t2;
      expect(back).toBeLessThanOrEqual(1_100);
      console.log(`[e2e] router restarted: ${back.toFixed(0)} ms until both remaining replicas were registered again`);
      const r4 = await client(t, "h4", [...clientDp, "--service", "echo.example", "--count", "100"]);
      expect(r4.ok).toBe(100);
    } finally {
      t.close();
    }
  }, 90_000);

  test("ad hoc: two hosts and no router connect by serviceID", async () => {
    const t = lan(2);
    try {
      const server = serval(t, "h0", ["adhoc", ...dp, "--echo", "files.example"]);
      await server.waitFor(/serval adhoc:/, 10_000);
      const r = await client(t, "h1", [...clientDp, "--adhoc", "--service", "files.example", "--count", "20", "--bytes", "10000"]);
      expect({ errors: r.errors, ok: r.ok }).toEqual({ errors: {}, ok: 20 });
      expect(Object.keys(r.perReplica)).toEqual([at(t, "h0")]);
    } finally {
      t.close();
    }
  }, 30_000);
});

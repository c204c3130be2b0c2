/**
 * The root demo topology: six network namespaces (`sdemo-<pid>-0` holds a
 * Linux bridge, `-1` the router, `-2`…`-4` the replicas, `-5` the client),
 * one veth per node into the bridge, addresses in 198.18.0.0/15, and an
 * in-process {@linkcode ServalNode} per namespace on its own packet
 * datapath. Everything is removed by exact name when the world is closed,
 * and — should the process exit first — by an exit hook.
 *
 * Built with `ip` (iproute2) directly: the test harness's builders are for
 * tests only.
 *
 * @module
 */

import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { ServalNode } from "@serval/runtime";
import type { Locator } from "@serval/wire";
import { DEMO_WEIGHTS, type DemoReplica, type DemoWorld, within } from "./demo_world.ts";

/** The part of `@serval/datapath-ffi` used here (loaded on demand: Bun and root only). */
interface PacketModule {
  openPacketDatapath(opts: { netns?: string; interfaces?: readonly string[]; ringVersion?: 2 | 3 }): Promise<ServalNode["datapath"]>;
}
const PACKET_MODULE = "@serval/datapath-ffi";

/** Why namespaces cannot be used here, or `undefined` when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (typeof (globalThis as { Bun?: unknown }).Bun === "undefined") return "not running on Bun (the packet datapath needs bun:ffi)";
  const r = spawnSync("ip", ["-V"], { encoding: "utf8", timeout: 5000 });
  if (r.status !== 0) return "no `ip` command (iproute2)";
  return undefined;
}

function ipSync(args: readonly string[], check = true): { code: number; stderr: string } {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  const code = r.status ?? -1;
  if (check && code !== 0) throw new Error(`ip ${args.join(" ")}: ${(r.stderr || r.error?.message || `exit ${code}`).trim()}`);
  return { code, stderr: r.stderr ?? "" };
}

function ipAsync(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, { timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ip ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/** Sets sysctls inside a namespace by writing /proc/sys (no `sysctl` binary needed); best effort. */
function sysctl(ns: string, values: Record<string, string>): void {
  const script = Object.entries(values).map(([k, v]) => `echo ${v} > /proc/sys/${k.replaceAll(".", "/")} 2>/dev/null`).join("; ");
  spawnSync("ip", ["netns", "exec", ns, "sh", "-c", `${script}; true`], { timeout: 10_000 });
}

/** Namespaces this process made and has not removed yet, for the exit hook. */
const live = new Set<string>();
let hooked = false;

function removeNamespaces(names: readonly string[]): string[] {
  const problems: string[] = [];
  for (const n of [...names].reverse()) {
    if (!live.has(n) && !existsSync(`/run/netns/${n}`)) continue;
    const r = ipSync(["netns", "del", n], false);
    if (r.code !== 0 && !/No such file|not found/i.test(r.stderr)) problems.push(`${n}: ${r.stderr.trim()}`);
    live.delete(n);
  }
  return problems;
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // The last resort: the process exits (an error, process.exit) before the world was closed.
  process.on("exit", () => removeNamespaces([...live]));
}

/**
 * Builds the namespace topology and starts its nodes. On failure halfway,
 * what was made is removed before the error is thrown.
 *
 * @returns The running world; close it.
 * @throws {Error} When a namespace, link or datapath cannot be made.
 *
 * @example Root only
 * ```ts ignore
 * import { netnsDemoWorld } from "@serval/cli";
 * const w = await netnsDemoWorld();
 * await w.close();
 * ```
 */
export async function netnsDemoWorld(): Promise<DemoWorld> {
  const pid = process.pid;
  const base = `sdemo-${pid}`;
  const names = [0, 1, 2, 3, 4, 5].map((i) => `${base}-${i}`);
  const [brNs, routerNs, ...rest] = names as [string, string, ...string[]];
  const clientNs = rest[3]!;
  // Interface names are ≤ 15 characters and unique to this run.
  const ifname = (i: number) => `sd${pid}n${i}`;
  const portName = (i: number) => `sd${pid}p${i}`;
  // A /24 of 198.18.0.0/15 picked by pid: namespaces isolate runs anyway, this keeps captures readable.
  const net = `198.19.${pid % 250}`;
  const addr = (host: number) => `${net}.${host}`;
  const hostPart = [0, 1, 11, 12, 13, 100];
  const nodes: ServalNode[] = [];
  let closed = false;
  hookExit();

  const close = async () => {
    if (closed) return;
    closed = true;
    await within(Promise.allSettled(nodes.map((n) => n.close())), 3000);
    const problems = removeNamespaces(names);
    if (problems.length > 0) console.error(`serval demo: cleanup: ${problems.join("; ")}`);
  };

  try {
    for (const n of names) {
      ipSync(["netns", "add", n]);
      live.add(n);
      ipSync(["-n", n, "link", "set", "lo", "up"]);
      sysctl(n, { "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1" });
    }
    // The client's old address goes while its new one stays: promote it instead of deleting it with the primary.
    sysctl(clientNs, { "net.ipv4.conf.all.promote_secondaries": "1", "net.ipv4.conf.default.promote_secondaries": "1" });
    ipSync(["-n", brNs, "link", "add", "br0", "type", "bridge"]);
    ipSync(["-n", brNs, "link", "set", "br0", "up"]);
    for (let i = 1; i < names.length; i++) {
      ipSync(["link", "add", ifname(i), "netns", names[i]!, "type", "veth", "peer", "name", portName(i), "netns", brNs]);
      ipSync(["-n", brNs, "link", "set", portName(i), "master", "br0"]);
      ipSync(["-n", brNs, "link", "set", portName(i), "up"]);
      ipSync(["-n", names[i]!, "addr", "add", `${addr(hostPart[i]!)}/24`, "brd", "+", "dev", ifname(i)]);
      ipSync(["-n", names[i]!, "link", "set", ifname(i), "up"]);
    }
    let mod: PacketModule;
    try {
      mod = (await import(PACKET_MODULE)) as PacketModule;
    } catch (e) {
      throw new Error(`${PACKET_MODULE} is not available: ${(e as Error).message}`);
    }
    const start = async (i: number, role: "host" | "router", routers: Locator[] = [], weight = 1) => {
      // TPACKET_V2: a wake-up per packet (V3 would add its 1 ms block timer to every hop of a connect).
      const dp = await mod.openPacketDatapath({ netns: names[i]!, interfaces: [ifname(i)], ringVersion: 2 });
      try {
        const n = await ServalNode.start({ role, datapath: dp, mtu: 1480, control: { routers, weight } });
        nodes.push(n);
        return n;
      } catch (e) {
        await dp.close();
        throw e;
      }
    };
    const router = await start(1, "router");
    const r: Locator = { address: new Uint8Array(addr(1).split(".").map(Number)), port: 0 };
    const replicas: DemoReplica[] = [];
    for (const [k, weight] of DEMO_WEIGHTS.entries()) {
      replicas.push({ name: `replica-${k + 1}`, weight, node: await start(2 + k, "host", [r], weight) });
    }
    const client = await start(5, "host", [r]);
    const description = [
      `router     ${addr(1).padEnd(15)} namespace ${routerNs}`,
      ...replicas.map((x, k) => `${x.name.padEnd(10)} ${addr(11 + k).padEnd(15)} namespace ${names[2 + k]}  weight ${x.weight}`),
      `client     ${addr(100).padEnd(15)} namespace ${clientNs}`,
      `all on one bridge (namespace ${brNs}), each node a Serval stack on its own AF_PACKET datapath`,
    ];
    return {
      variant: "namespaces",
      description,
      router,
      replicas,
      client,
      namespaces: names,
      async moveClient() {
        const from = addr(100);
        const to = addr(101);
        await ipAsync(["-n", clientNs, "addr", "add", `${to}/24`, "brd", "+", "dev", ifname(5)]);
        const removedAt = performance.now();
        await ipAsync(["-n", clientNs, "addr", "del", `${from}/24`, "dev", ifname(5)]);
        return { from, to, how: `ip addr add ${to}/24, ip addr del ${from}/24 (in ${clientNs})`, removedAt };
      },
      async crash(i) {
        // Cut its cable at the bridge: it cannot say goodbye, the router must notice by itself.
        await ipAsync(["-n", brNs, "link", "set", portName(2 + i), "down"]);
        return `its bridge port ${portName(2 + i)} set down: no goodbye`;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

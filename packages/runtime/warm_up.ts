/**
 * {@linkcode warmUp}: runs a daemon's per-packet code before the daemon
 * starts, so its first connections do not pay for cold JIT code (issue 6: a
 * fresh process spends ~370 µs per connect at first, ~27 µs once warm, and a
 * daemon sees too few packets in a short test to get warm).
 *
 * @module
 */

import { type MemoryDatapath, MemoryNetwork } from "@serval/datapath";
import type { Locator } from "@serval/wire";
import { serveEcho } from "./config.ts";
import { ServalApi } from "./serval_api.ts";
import { ServalNode } from "./serval_node.ts";

/** Options of {@linkcode warmUp}. */
export interface WarmUpOptions {
  /** Connects to run at most (default 3000). */
  readonly connects?: number;
  /** Wall time to spend at most, in ms (default 200): stops early when it is up. */
  readonly maxMs?: number;
  /** Connects in flight at once (default 32). */
  readonly parallel?: number;
  /** Bytes echoed on each connection (default 16). */
  readonly bytes?: number;
  /**
   * Do nothing when this process already finished a warm-up that ran to
   * its count or time (JIT state is per process: a second node started in
   * the same process, as in tests, gains nothing from another one).
   */
  readonly once?: boolean;
}

/** What {@linkcode warmUp} did. */
export interface WarmUpResult {
  /** Connects that completed (handshake, echo and close). */
  readonly connects: number;
  /** Connects that failed (should be 0). */
  readonly failed: number;
  /** Wall time spent, in ms (setting up and tearing down included). */
  readonly ms: number;
  /** Packets the warm-up router forwarded or answered (its packets in). */
  readonly routerPackets: number;
  /** Flows still in the warm-up nodes' tables when they were closed (closing handshakes cut short). */
  readonly flowsAtClose: number;
  /** Whether every node and datapath the warm-up made is closed (always, unless closing threw). */
  readonly closed: boolean;
}

/** Whether a warm-up already ran to its end in this process. */
let warm = false;

const SERVICE = "warm-up.serval.invalid";
const PORT = 54325;
const addr = (n: number) => new Uint8Array([198, 18, 255, n]);

/**
 * Runs connects through a router to an echo replica, all in this process
 * over an in-memory network ({@linkcode MemoryNetwork}: no sockets), with
 * the very code a daemon runs per packet: {@linkcode ServalNode}'s step, the
 * SAL host's forwarding (router) and flow handshake, the control agent's
 * registration, {@linkcode ServalApi} and its stream connections. Stops at
 * `connects` or after `maxMs`, then closes every node it made: no timer, no
 * node and no listener is left behind.
 *
 * @param opts Bounds ({@linkcode WarmUpOptions}).
 * @returns Counts and time ({@linkcode WarmUpResult}).
 *
 * @example
 * ```ts
 * import { warmUp } from "@serval/runtime";
 * const r = await warmUp({ connects: 20, maxMs: 1000 });
 * console.assert(r.connects === 20 && r.failed === 0);
 * ```
 */
export async function warmUp(opts: WarmUpOptions = {}): Promise<WarmUpResult> {
  const t0 = performance.now();
  if (opts.once && warm) return { connects: 0, failed: 0, ms: 0, routerPackets: 0, flowsAtClose: 0, closed: true };
  const max = opts.connects ?? 3000;
  const deadline = t0 + (opts.maxMs ?? 200);
  const parallel = Math.max(1, opts.parallel ?? 32);
  const size = opts.bytes ?? 16;
  const net = new MemoryNetwork();
  const routerAt: Locator = { address: addr(1), port: PORT };
  const nodes: ServalNode[] = [];
  const datapaths: MemoryDatapath[] = [];
  let connects = 0, failed = 0, routerPackets = 0, flowsAtClose = 0;
  try {
    const start = async (role: "router" | "host", n: number) => {
      const datapath = net.attach({ address: addr(n), port: PORT });
      datapaths.push(datapath);
      const node = await ServalNode.start({ role, datapath, control: role === "router" ? {} : { routers: [routerAt] } });
      nodes.push(node);
      return node;
    };
    const router = await start("router", 1);
    const replica = await start("host", 2);
    const client = await start("host", 3);
    const stopEcho = serveEcho(replica, [SERVICE]);
    const api = new ServalApi(client);
    try {
      const ready = () => client.agent.routers().length > 0 && (router.agent.leases?.size ?? 0) > 0;
      while (!ready() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 0));
      const data = new Uint8Array(size).fill(7);
      let started = 0;
      const one = async () => {
        const c = await api.connect(SERVICE);
        const w = c.writable.getWriter();
        await w.write(data);
        await w.close();
        let n = 0;
        for await (const chunk of c.readable) n += chunk.length;
        if (n !== size) throw new Error(`echoed ${n} of ${size} bytes`);
      };
      await Promise.all(Array.from({ length: Math.min(parallel, max) }, async () => {
        while (ready() && started < max && performance.now() < deadline) {
          started++;
          try {
            await one();
            connects++;
          } catch {
            failed++;
          }
        }
      }));
    } finally {
      api.close();
      stopEcho();
    }
    routerPackets = router.stats.packetsIn;
  } finally {
    for (const n of nodes) flowsAtClose += n.host.flowCount;
    await Promise.all(nodes.map((n) => n.close()));
  }
  if (failed === 0 && connects > 0) warm = true;
  const closed = nodes.every((n) => n.closed) && datapaths.every((d) => d.closed);
  return { connects, failed, ms: performance.now() - t0, routerPackets, flowsAtClose, closed };
}

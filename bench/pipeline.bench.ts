/**
 * The composed pipeline against a hand-wired one, same run, loopback UDP:
 *
 * - **layers**: a router and an echo host started from configs through the
 *   Effect layers (`runNode`: config Schema, scoped datapath, scoped node,
 *   control-plane watcher, built-in echo service);
 * - **hand-wired**: the same two nodes started directly with
 *   `ServalNode.start` over `openUdpDatapath`, with the round-robin plugin
 *   wired by hand and the same echo service (`serveEcho`).
 *
 * The client is the same plain `ServalNode` in both. Measured: connects per
 * second through the router (SYN resolved by serviceID at the router, each
 * connection reset once up; 8 in flight) and the echo round trip of 32 bytes
 * on one Serval TCP connection through the application API (p50, p99). All three nodes share this process
 * (one core), so the numbers are the stack's CPU cost, not the network's.
 * Effect wraps the node and never runs per packet: the two columns should
 * tie within noise.
 *
 * `bun bench/pipeline.bench.ts [seconds-per-measure]` (default 1.5; two
 * rounds per setup, alternated; under 20 s in all).
 *
 * @module
 */

import { Effect, Fiber } from "effect";
import { ROUND_ROBIN_PLUGIN, roundRobin } from "@serval/plugin-round-robin";
import { openUdpDatapath, parseConfig, type NodeReport, NodeReporter, runNode, serveEcho, ServalApi, ServalNode } from "@serval/runtime";
import type { Locator } from "@serval/wire";
import { type BenchRow, report } from "./harness.ts";

const SECONDS = Number(process.argv[2] ?? 1.5);
const PINGS = 1500;
const WINDOW = 8;
const LOOP = new Uint8Array([127, 0, 0, 1]);
const SERVICE = "echo.example";

interface Setup {
  readonly name: string;
  readonly router: Locator;
  stop(): Promise<void>;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`bench: ${what} not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Router + echo host through the Effect layers. */
async function layered(): Promise<Setup> {
  const seen: NodeReport[] = [];
  const reporter = (r: NodeReport) => seen.push(r);
  const router = Effect.runFork(
    runNode(parseConfig({ role: "router", bind: "127.0.0.1", port: 0 })).pipe(Effect.provideService(NodeReporter, reporter)),
  );
  await until(() => seen.some((r) => r.type === "started"), 2000, "router start");
  const s = seen.find((r) => r.type === "started");
  const port = s?.type === "started" ? s.port : 0;
  const host = Effect.runFork(
    runNode(parseConfig({ role: "host", bind: "127.0.0.1", port: 0, routers: [`127.0.0.1:${port}`], echo: [SERVICE] })).pipe(
      Effect.provideService(NodeReporter, reporter),
    ),
  );
  await until(() => seen.some((r) => r.type === "lease-added"), 2000, "registration");
  return {
    name: "layers (runNode)",
    router: { address: LOOP, port },
    async stop() {
      await Effect.runPromise(Fiber.interrupt(host));
      await Effect.runPromise(Fiber.interrupt(router));
    },
  };
}

/** The same two nodes, started and wired by hand. */
async function handWired(): Promise<Setup> {
  const router = await ServalNode.start({
    role: "router",
    datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: true }),
    plugins: [roundRobin()],
    control: { leases: { plugin: ROUND_ROBIN_PLUGIN } },
  });
  const r: Locator = { address: LOOP, port: router.locals[0]!.port };
  const host = await ServalNode.start({
    role: "host",
    datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: true }),
    control: { routers: [r] },
  });
  serveEcho(host, [SERVICE]); // the same echo service the layer serves
  await until(() => (router.agent.leases?.size ?? 0) === 1, 2000, "registration");
  return {
    name: "hand-wired (ServalNode)",
    router: r,
    async stop() {
      await host.close();
      await router.close();
    },
  };
}

interface Measure {
  connects: number;
  failed: number;
  secs: number;
  rtts: number[];
}

async function measure(setup: Setup): Promise<Measure> {
  const client = await ServalNode.start({
    role: "host",
    datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }),
    control: { routers: [setup.router] },
  });
  const api = new ServalApi(client);
  try {
    // Connects through the router, WINDOW in flight, each reset once up.
    let connects = 0;
    let failed = 0;
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: WINDOW }, async () => {
        while (performance.now() < end) {
          try {
            (await api.connect(SERVICE)).abort();
            connects++;
          } catch {
            failed++;
          }
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    // Echo round trips of 32 bytes on one connection.
    const c = await api.connect(SERVICE);
    const w = c.writable.getWriter();
    const r = c.readable.getReader();
    const payload = new Uint8Array(32).fill(7);
    const rtts: number[] = [];
    for (let i = 0; i < PINGS + 100; i++) {
      const s = performance.now();
      await w.write(payload);
      for (let got = 0; got < payload.length;) {
        const { value, done } = await r.read();
        if (done) throw new Error("bench: the echo connection ended");
        got += value.length;
      }
      if (i >= 100) rtts.push((performance.now() - s) * 1000); // the first 100 warm up
    }
    c.abort();
    return { connects, failed, secs, rtts };
  } finally {
    api.close();
    await client.close();
  }
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const results = new Map<string, Measure[]>();
// Alternate (A B B A) so drift in the machine's load hits both alike.
for (const make of [layered, handWired, handWired, layered]) {
  const setup = await make();
  try {
    const m = await measure(setup);
    const list = results.get(setup.name) ?? [];
    list.push(m);
    results.set(setup.name, list);
  } finally {
    await setup.stop();
  }
}

const rows: BenchRow[] = [];
const LAYERS = "layers (runNode)";
const HAND = "hand-wired (ServalNode)";
const stats = new Map<string, { cps: number; failed: number; rtts: number[] }>();
for (const [name, ms] of results) {
  const secs = ms.reduce((s, m) => s + m.secs, 0);
  stats.set(name, {
    cps: ms.reduce((s, m) => s + m.connects, 0) / secs,
    failed: ms.reduce((s, m) => s + m.failed, 0),
    rtts: ms.flatMap((m) => m.rtts).sort((x, y) => x - y),
  });
}
const base = stats.get(HAND)!;
for (const name of [LAYERS, HAND]) {
  const st = stats.get(name)!;
  rows.push({
    name: `connect via router: ${name}`,
    nsPerOp: 1e9 / st.cps,
    opsPerSec: st.cps,
    extra: { failed: st.failed, "vs hand-wired": (st.cps / base.cps).toFixed(3) },
  });
}
for (const name of [LAYERS, HAND]) {
  const st = stats.get(name)!;
  const p50 = pct(st.rtts, 0.5);
  rows.push({
    name: `echo RTT 32 B: ${name}`,
    nsPerOp: p50 * 1000,
    opsPerSec: 1e6 / p50,
    extra: { "p50 µs": p50.toFixed(1), "p99 µs": pct(st.rtts, 0.99).toFixed(1), "vs hand-wired": (p50 / pct(base.rtts, 0.5)).toFixed(3) },
  });
}
report(`Composed pipeline (Effect layers) vs hand-wired node, loopback UDP, one process, ${SECONDS} s x2 per setup`, rows);

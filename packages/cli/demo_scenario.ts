/**
 * What `serval demo` shows on a {@linkcode DemoWorld}, in four parts with
 * readable lines: late binding (a connect names a service; the router picks
 * a replica), weighted load balancing (600 connects against weights 1/2/3),
 * failover (a replica dies silently; connects keep succeeding; its lease
 * expires) and migration (the client's address changes during a transfer
 * that stays byte-exact).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ServalApi, type ServalNode, type StreamConnection } from "@serval/runtime";
import { type Locator, locatorKey, ServiceId } from "@serval/wire";
import { DEMO_SERVICE, type DemoReplica, type DemoWorld, locatorLabel } from "./demo_world.ts";

/** Options of {@linkcode runDemoScenario}. */
export interface DemoScenarioOptions {
  /** Where lines go. */
  readonly out: (line: string) => void;
  /** ANSI colours (only on a terminal). */
  readonly color?: boolean;
  /** Aborts the run (SIGINT): the scenario stops at its next step. */
  readonly signal?: AbortSignal;
  /** Connects of the load-balancing part (default 600). */
  readonly connects?: number;
  /** Bytes of the migration transfer (default 8 MiB). */
  readonly transferBytes?: number;
}

/** What the run found; `ok` is false when a check failed (the demo then exits 1). */
export interface DemoResult {
  readonly ok: boolean;
  readonly failures: readonly string[];
}

interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  cyan(s: string): string;
  yellow(s: string): string;
}

function style(color: boolean): Style {
  const p = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: p("1"), dim: p("2"), green: p("32"), red: p("31"), cyan: p("36"), yellow: p("33") };
}

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DemoAborted();
}

/** The run was interrupted. */
export class DemoAborted extends Error {
  constructor() {
    super("serval demo: interrupted");
    this.name = "DemoAborted";
  }
}

async function until(cond: () => boolean, ms: number, what: string, signal?: AbortSignal): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    aborted(signal);
    if (performance.now() > end) throw new Error(`serval demo: timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (n: number) => `${(n / (1 << 20)).toFixed(n % (1 << 20) === 0 ? 0 : 1)} MB`;

/**
 * Runs the four parts on `world` (which the caller closes).
 *
 * @param world A started topology.
 * @param opts Output, colours, abort signal, sizes.
 * @returns Whether every check held.
 * @throws {DemoAborted} When the signal aborts the run.
 *
 * @example Over UDP loopback (a smaller run)
 * ```ts
 * import { runDemoScenario, udpDemoWorld } from "@serval/cli";
 * const w = await udpDemoWorld();
 * try {
 *   const r = await runDemoScenario(w, { out: () => {}, connects: 30, transferBytes: 1 << 16 });
 *   console.assert(r.ok);
 * } finally {
 *   await w.close();
 * }
 * ```
 */
export async function runDemoScenario(world: DemoWorld, opts: DemoScenarioOptions): Promise<DemoResult> {
  const { out, signal } = opts;
  const s = style(opts.color ?? false);
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
    return ok ? s.green("✓") : s.red("✗");
  };
  const { router, client, replicas } = world;
  const t0 = performance.now();
  const byLocator = new Map<string, DemoReplica>(replicas.map((r) => [locatorKey(r.node.locals[0]!), r]));
  const nameOf = (l: Locator | undefined) => (l ? byLocator.get(locatorKey(l))?.name ?? locatorLabel(l) : "?");

  // The router's lease news, as they happen.
  const leaseNews: { at: number; type: string; reason?: string; locator: string }[] = [];
  const unhook = router.onStep(() => {
    const leases = router.agent.leases;
    for (let e = leases?.pollEvent(); e; e = leases?.pollEvent()) {
      leaseNews.push({ at: performance.now(), type: e.type, ...(e.type === "lease-removed" ? { reason: e.reason } : {}), locator: locatorKey(e.lease.locator) });
    }
  });

  try {
    out(s.bold(`serval demo — services by name, live: ${world.variant === "namespaces" ? "network namespaces, packet datapath (AF_PACKET)" : "in-process nodes over UDP on loopback"}`));
    for (const line of world.description) out(`  ${line}`);

    // Every replica serves echo.demo and registers it with the router.
    for (const r of replicas) serveEcho(r.node);
    await until(() => router.agent.leases!.size === replicas.length, 5000, `${replicas.length} leases at the router`, signal);
    out(`  ${s.dim("router")}  ${replicas.length} leases for ${DEMO_SERVICE}: ${replicas.map((r) => `${r.name} (weight ${r.weight})`).join(", ")}`);
    out("");

    const api = new ServalApi(client);
    const sid = ServiceId.parse(DEMO_SERVICE);

    // 1. Late binding.
    out(s.bold("1. Late binding — the client names a service, never a host"));
    const defaultRouter = client.agent.routers()[0];
    out(`  ${s.dim("client")}  connect("${DEMO_SERVICE}"): a SYN for serviceID ${s.cyan(sid.toString().slice(0, 16) + "…")}`);
    out(`  ${s.dim("client")}  its service table has only the default rule → router ${defaultRouter ? locatorLabel(defaultRouter) : "?"}`);
    const tc = performance.now();
    const c1 = await api.connect(DEMO_SERVICE);
    const connectMs = performance.now() - tc;
    const peer1 = client.host.flowState(c1.flow)?.peer;
    out(`  ${s.dim("router")}  longest-prefix match on the serviceID → ${replicas.length} leases, one picked by weight → SYN forwarded to ${s.cyan(nameOf(peer1))} ${peer1 ? locatorLabel(peer1) : ""}`);
    const hello = new TextEncoder().encode("hello, echo.demo");
    const back = await echoOnce(c1, hello);
    const same = back.length === hello.length && back.every((b, i) => b === hello[i]);
    out(`  ${s.dim("client")}  SYN-ACK from ${nameOf(peer1)}: connected in ${connectMs.toFixed(1)} ms; "hello, echo.demo" echoed ${check(same, "the first echo came back different")}`);
    out(`  ${s.dim("        data then flows straight between client and replica: routers forward only SYNs")}`);
    out("");
    aborted(signal);

    // 2. Weighted load balancing.
    const n = opts.connects ?? 600;
    out(s.bold(`2. Load balancing — ${n} connects, spread by the router by weight`));
    const counts = new Map<string, number>();
    const tl = performance.now();
    const lb = await connectMany(api, client, n, 24, signal);
    const lbMs = performance.now() - tl;
    for (const p of lb.peers) counts.set(nameOf(p), (counts.get(nameOf(p)) ?? 0) + 1);
    const total = replicas.reduce((a, r) => a + r.weight, 0);
    let close = true;
    for (const r of replicas) {
      const got = counts.get(r.name) ?? 0;
      const share = got / Math.max(1, lb.peers.length);
      const want = r.weight / total;
      // Binomial spread: 4 standard deviations is a broken balance, not bad luck.
      if (Math.abs(share - want) > 4 * Math.sqrt((want * (1 - want)) / Math.max(1, n)) + 0.01) close = false;
      const bar = "█".repeat(Math.round(share * 40));
      out(`  ${r.name.padEnd(10)} weight ${r.weight}  ${String(got).padStart(4)}  ${(share * 100).toFixed(1).padStart(5)} %  (expected ${(want * 100).toFixed(1)} %)  ${s.cyan(bar)}`);
    }
    const lbOk = lb.failed === 0 && close;
    out(`  ${lb.peers.length} of ${n} connected in ${secs(lbMs)} (${Math.round(lb.peers.length / (lbMs / 1000))}/s), shares match the weights ${check(lbOk, `load balancing: ${lb.failed} failed, shares ${[...counts].join(" ")}`)}`);
    out("");
    aborted(signal);

    // 3. Failover.
    const victim = replicas.length - 1;
    const dead = replicas[victim]!;
    const deadKey = locatorKey(dead.node.locals[0]!);
    out(s.bold(`3. Failover — ${dead.name} dies`));
    const how = await world.crash(victim);
    const tCrash = performance.now();
    out(`  ${s.dim(dead.name)}  ${how}`);
    const gone = () => leaseNews.some((e) => e.type === "lease-removed" && e.locator === deadKey && e.at >= tCrash);
    const during = await connectUntil(api, client, gone, 8, 8000, signal);
    const removed = leaseNews.find((e) => e.type === "lease-removed" && e.locator === deadKey && e.at >= tCrash);
    const slow = during.durations.filter((d) => d > 500);
    out(`  ${s.dim("client")}  ${during.peers.length + during.failed} connects during the failure: ${during.peers.length} succeeded${slow.length > 0 ? `, ${slow.length} of them after a retransmitted SYN (up to ${secs(Math.max(...slow))})` : ""}${during.failed > 0 ? s.red(`, ${during.failed} failed`) : ""} ${check(during.failed === 0, `failover: ${during.failed} connects failed`)}`);
    out(`  ${s.dim("router")}  lease of ${dead.name} ${removed ? `${removed.reason} ${secs(removed.at - tCrash)} after the crash` : s.red("still there")} (lifetime 2.5 s, refreshed every 0.8 s) ${check(removed !== undefined, "the dead replica's lease did not go")}`);
    const after = await connectMany(api, client, 30, 8, signal);
    const afterCounts = replicas.map((r) => `${r.name} ${after.peers.filter((p) => nameOf(p) === r.name).length}`);
    const noneDead = after.peers.every((p) => locatorKey(p) !== deadKey);
    out(`  ${s.dim("client")}  30 connects after: ${afterCounts.join(", ")} ${check(after.failed === 0 && noneDead, "connects after the failover failed or reached the dead replica")}`);
    out("");
    aborted(signal);

    // 4. Migration.
    const size = opts.transferBytes ?? 8 << 20;
    out(s.bold(`4. Migration — the client's address changes during a transfer of ${mb(size)}`));
    const c = await api.connect(DEMO_SERVICE);
    const peer = client.host.flowState(c.flow)?.peer;
    out(`  ${s.dim("client")}  flow ${c.flow.toString(16).padStart(8, "0")} to ${nameOf(peer)}: sending ${mb(size)} and reading the echo back`);
    let movedAt = 0;
    let movedTo: Locator | undefined;
    const off = client.onEvent((e) => {
      if (e.type === "migrated" && e.flow === c.flow && movedAt === 0) {
        movedAt = performance.now();
        movedTo = e.local;
      }
    });
    // Where the replica's end of this flow sends, as it changes during the
    // transfer (after it, the flow may be gone): the proof that the replica
    // learnt the new address, not only that the client moved.
    const serverSide = peer ? replicas.find((x) => locatorKey(x.node.locals[0]!) === locatorKey(peer)) : undefined;
    const replicaPeers = new Set<string>();
    let replicaFlow: number | undefined;
    const unwatch = serverSide?.node.onStep(() => {
      const host = serverSide.node.host;
      if (replicaFlow === undefined) {
        for (const f of host.flows()) if (f.side === "server" && f.peerFlowId === c.flow) replicaFlow = f.id;
      }
      const p = replicaFlow === undefined ? undefined : host.flowState(replicaFlow)?.peer;
      if (p) replicaPeers.add(locatorLabel(p));
    });
    let move: { from: string; to: string; how: string; removedAt: number } | undefined;
    let r: Awaited<ReturnType<typeof transfer>>;
    try {
      r = await transfer(c, size, async () => {
        move = await world.moveClient();
      }, signal);
    } finally {
      off();
      unwatch?.();
    }
    out(`  ${s.dim("client")}  at ${mb(r.movedAtBytes)}: ${move?.how ?? "?"}`);
    const learnt = move !== undefined && replicaPeers.has(move.to);
    out(`  ${s.dim("client")}  flow ${c.flow.toString(16).padStart(8, "0")} moved ${move?.from ?? "?"} → ${s.cyan(movedTo ? locatorLabel(movedTo) : "?")} by RSYN, RSYN-ACK, ACK${movedAt > 0 && move ? ` (${Math.max(0, movedAt - move.removedAt).toFixed(1)} ms after the old address began to go)` : ""}; same flowIDs ${check(movedTo !== undefined && locatorLabel(movedTo) === move?.to, "the flow did not migrate")}`);
    out(`  ${s.dim(nameOf(peer))}  now sends to ${move?.to ?? "?"} ${check(learnt, `${nameOf(peer)} did not learn the new address`)}`);
    const equal = r.sent === r.received && r.sent.length > 0 && r.bytes === size;
    out(`  ${s.dim("client")}  ${mb(r.bytes)} echoed back; SHA-256 sent ${r.sent.slice(0, 16)}… received ${r.received.slice(0, 16)}… ${equal ? s.green("equal ✓") : s.red("DIFFERENT ✗")}`);
    if (!equal) failures.push("the transfer across the migration was not byte-exact");
    out("");
    out(failures.length === 0 ? s.green(`All four shown in ${secs(performance.now() - t0)}.`) : s.red(`${failures.length} check(s) failed: ${failures.join("; ")}`));
    return { ok: failures.length === 0, failures };
  } finally {
    unhook();
  }
}

/** The replica side: accept every connection on the demo service and echo it. */
function serveEcho(node: ServalNode): void {
  const l = new ServalApi(node).listen(DEMO_SERVICE);
  (async () => {
    for await (const c of l) c.readable.pipeTo(c.writable).catch(() => {});
  })().catch(() => {});
}

async function echoOnce(c: StreamConnection, bytes: Uint8Array): Promise<Uint8Array> {
  const w = c.writable.getWriter();
  await w.write(bytes);
  await w.close();
  const parts: number[] = [];
  for await (const x of c.readable) parts.push(...x);
  return new Uint8Array(parts);
}

interface Many {
  readonly peers: Locator[];
  readonly durations: number[];
  failed: number;
}

/** `n` connects, `parallel` at a time; each is aborted once up (the peer is what matters). */
async function connectMany(api: ServalApi, client: ServalNode, n: number, parallel: number, signal?: AbortSignal): Promise<Many> {
  const m: Many = { peers: [], durations: [], failed: 0 };
  let next = 0;
  const worker = async () => {
    while (next < n) {
      aborted(signal);
      next++;
      await oneConnect(api, client, m);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return m;
}

/** Connects, `parallel` at a time, until `done()` holds (or `maxMs` passed). */
async function connectUntil(api: ServalApi, client: ServalNode, done: () => boolean, parallel: number, maxMs: number, signal?: AbortSignal): Promise<Many> {
  const m: Many = { peers: [], durations: [], failed: 0 };
  const end = performance.now() + maxMs;
  const worker = async () => {
    while (!done() && performance.now() < end) {
      aborted(signal);
      await oneConnect(api, client, m);
      // A steady trickle rather than a flood: the point is that connects keep working.
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return m;
}

async function oneConnect(api: ServalApi, client: ServalNode, m: Many): Promise<void> {
  const t = performance.now();
  try {
    const c = await api.connect(DEMO_SERVICE);
    m.durations.push(performance.now() - t);
    const p = client.host.flowState(c.flow)?.peer;
    if (p) m.peers.push(p);
    c.abort();
  } catch {
    m.failed++;
  }
}

/**
 * Writes `size` bytes and reads their echo, hashing both; calls `move` once
 * when half of the echo has arrived.
 */
async function transfer(
  c: StreamConnection,
  size: number,
  move: () => Promise<void>,
  signal?: AbortSignal,
): Promise<{ sent: string; received: string; bytes: number; movedAtBytes: number }> {
  const chunk = 64 * 1024;
  const hSent = createHash("sha256");
  const writing = (async () => {
    const w = c.writable.getWriter();
    for (let o = 0; o < size; o += chunk) {
      aborted(signal);
      const b = new Uint8Array(Math.min(chunk, size - o));
      for (let i = 0; i < b.length; i++) b[i] = ((o + i) * 2654435761) >>> 24;
      hSent.update(b);
      await w.write(b);
    }
    await w.close();
  })();
  const hGot = createHash("sha256");
  let bytes = 0;
  let movedAtBytes = 0;
  let moving: Promise<void> | undefined;
  for await (const x of c.readable) {
    hGot.update(x);
    bytes += x.length;
    if (!moving && bytes >= size / 2) {
      movedAtBytes = bytes;
      moving = move();
    }
    aborted(signal);
  }
  await writing;
  await moving;
  return { sent: hSent.digest("hex"), received: hGot.digest("hex"), bytes, movedAtBytes };
}

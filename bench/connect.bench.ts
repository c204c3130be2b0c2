/**
 * Connect latency and connections per second through a service router,
 * against kernel TCP `connect` to a direct server, between network
 * namespaces on one LAN (root only). Every node is a process of its own:
 *
 * - Serval: a router (h0), a replica listening on `echo.example` (h1), a
 *   client (h2) that connects by serviceID: the SYN goes through the router,
 *   the SYN-ACK comes straight back. Over the packet datapath (TPACKET_V2:
 *   a wake-up per packet) and over the UDP datapath.
 * - kernel: a TCP server in h1 and a client in h2 (`node:net`), direct.
 *
 * Latency: sequential connects, time until the connection is usable, then
 * an abort (no close handshake in the measurement). Rate: 64 connects in
 * flight for 2 s, each aborted once up. Target (issue 6): ≥ 10 k/s.
 *
 * Run: `sudo npx bun bench/connect.bench.ts` (or `npm run bench -- connect`).
 *
 * @module
 */

import { connect as tcpConnect, createServer } from "node:net";
import { parseIpv4 } from "@serval/wire";
import type { Datapath } from "@serval/datapath";
import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
import { isRoot, lan } from "../test/e2e/netns.ts";
import { runInNetns, within } from "./_ns_child.ts";
import { report } from "./harness.ts";
import type { BenchRow } from "./harness.ts";

const ROUNDS = Number(process.env.CONNECT_ROUNDS ?? 300);
const RATE_MS = Number(process.env.CONNECT_RATE_MS ?? 2000);
const IN_FLIGHT = 64;

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

type Kind = "packet" | "udp";

async function openDatapath(kind: Kind, netns: string): Promise<Datapath> {
  if (kind === "packet") {
    const { openPacketDatapath } = await import("@serval/datapath-ffi");
    return openPacketDatapath({ netns, ringVersion: 2 });
  }
  return openUdpDatapath();
}

const quantile = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

/** Connects `ROUNDS` times in a row, then as many as possible with IN_FLIGHT at once for RATE_MS. */
async function measure(connectOnce: () => Promise<void>): Promise<{ p50: number; p90: number; p99: number; rate: number }> {
  for (let i = 0; i < 20; i++) await connectOnce(); // warm-up: neighbours, JIT
  const lat: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await connectOnce();
    lat.push((performance.now() - t) * 1000);
  }
  lat.sort((a, b) => a - b);
  let done = 0;
  const end = performance.now() + RATE_MS;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (performance.now() < end) {
      await connectOnce();
      done++;
    }
  }));
  return { p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), p99: quantile(lat, 0.99), rate: done / ((performance.now() - t0) / 1000) };
}

async function child(role: string, kind: Kind | "tcp", netns: string, peer: string): Promise<void> {
  if (kind === "tcp") {
    if (role === "replica") {
      const srv = createServer((s) => s.on("error", () => {}));
      srv.listen(7000, () => console.log("ready"));
      return;
    }
    const r = await measure(() =>
      new Promise<void>((resolve, reject) => {
        const s = tcpConnect({ host: peer, port: 7000 }, () => {
          s.resetAndDestroy();
          resolve();
        });
        s.on("error", reject);
      })
    );
    console.log(JSON.stringify(r));
    process.exit(0);
  }
  const dp = await openDatapath(kind, netns);
  const node = await ServalNode.start({
    role: role === "router" ? "router" : "host",
    datapath: dp,
    mtu: kind === "packet" ? 1480 : 1472,
    control: role === "router" ? {} : { routers: [{ address: parseIpv4(peer), port: kind === "packet" ? 0 : 54325 }] },
    flow: { timeWaitUs: 1_000_000 },
  });
  const api = new ServalApi(node);
  if (role === "router") {
    console.log("ready");
    return;
  }
  if (role === "replica") {
    const l = api.listen("echo.example", { backlog: 1024 });
    (async () => {
      for await (const c of l) c.closed.catch(() => {});
    })();
    console.log("ready");
    return;
  }
  while (node.agent.routers().length === 0) await new Promise((r) => setTimeout(r, 5));
  // Wait until the replica's registration reached the router: a connect then succeeds.
  for (let i = 0; i < 200; i++) {
    try {
      (await api.connect("echo.example")).abort();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const r = await measure(async () => {
    const c = await api.connect("echo.example");
    c.abort();
  });
  console.log(JSON.stringify(r));
  await node.close();
  process.exit(0);
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.log("[bench] skipped connect.bench.ts: needs root (network namespaces)");
    return;
  }
  const rows: BenchRow[] = [];
  const t = lan(3);
  try {
    const [h0, h1, h2] = [t.hosts.h0!, t.hosts.h1!, t.hosts.h2!];
    const add = (name: string, r: Record<string, number>) =>
      rows.push({
        name,
        nsPerOp: r.p50! * 1000,
        opsPerSec: r.rate!,
        extra: { "p50 µs": r.p50!.toFixed(0), "p90 µs": r.p90!.toFixed(0), "p99 µs": r.p99!.toFixed(0), "connects/s": r.rate!.toFixed(0) },
      });
    {
      const srv = runInNetns(h1.ns.name, import.meta.path, ["--role", "replica", "--kind", "tcp", "--netns", h1.ns.name, "--peer", "-"], 60_000);
      await within(srv.ready, 10_000, "tcp server");
      add("kernel TCP connect, direct (node:net)", await runInNetns(h2.ns.name, import.meta.path, ["--role", "client", "--kind", "tcp", "--netns", h2.ns.name, "--peer", h1.address], 60_000).result);
      srv.kill();
      await Promise.allSettled([srv.result]);
    }
    for (const kind of ["packet", "udp"] as const) {
      const router = runInNetns(h0.ns.name, import.meta.path, ["--role", "router", "--kind", kind, "--netns", h0.ns.name, "--peer", "-"], 60_000);
      await within(router.ready, 10_000, `${kind} router`);
      const replica = runInNetns(h1.ns.name, import.meta.path, ["--role", "replica", "--kind", kind, "--netns", h1.ns.name, "--peer", h0.address], 60_000);
      await within(replica.ready, 10_000, `${kind} replica`);
      add(`Serval connect through the router (${kind} datapath)`, await runInNetns(h2.ns.name, import.meta.path, ["--role", "client", "--kind", kind, "--netns", h2.ns.name, "--peer", h0.address], 60_000).result);
      replica.kill();
      router.kill();
      await Promise.allSettled([replica.result, router.result]);
    }
  } finally {
    t.close();
  }
  report(`Connect latency (${ROUNDS} sequential) and rate (${IN_FLIGHT} in flight, ${RATE_MS} ms) between namespaces`, rows);
}

if (arg("--role")) await child(arg("--role")!, arg("--kind") as Kind | "tcp", arg("--netns")!, arg("--peer")!);
else await main();

/**
 * Serval TCP goodput between two network namespaces (root only), one flow,
 * MTU 1500, sender and receiver in their own processes, against iperf3 TCP
 * on the same veth pair in the same run. The stack runs whole: ServalNode
 * (datapath + SAL + transport) with the application API's WHATWG streams at
 * both ends.
 *
 * Rows: the packet datapath (AF_PACKET) with a TPACKET_V2 ring, as the
 * `serval` daemons open it (runtime/config.ts: every frame visible at once),
 * and with TPACKET_V3 (the library's default: frames handed over in blocks,
 * so ACKs wait up to the block retire timer); the UDP datapath over
 * `node:dgram` (its default) and over `Bun.udpSocket`; iperf3 TCP. Besides
 * Gbit/s, each row gives the CPU time of each process (all threads) per
 * 1448 bytes delivered: steadier than Gbit/s when other work shares the
 * cores. Targets (issue 6): ≥ 3 Gbit/s on the packet datapath, ≥ 1.5
 * Gbit/s on the UDP datapath.
 *
 * Run: `sudo npx bun bench/goodput.bench.ts` (or `npm run bench -- goodput`).
 * Environment: `GOODPUT_SECONDS` (default 3), `GOODPUT_KINDS` (rows, e.g.
 * `packet,iperf3`), `GOODPUT_CHILD_FLAGS` (runtime flags of both children,
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * Child roles: `--role sink|source --datapath packet|packet-v3|udp|udp-bun --netns NS --peer IP --seconds S`.
 *
 * @module
 */

import { parseIpv4, ServicePrefix } from "@serval/wire";
import type { Datapath } from "@serval/datapath";
import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
import { isRoot, iperf3, pair } from "../test/e2e/netns.ts";
import { runInNetns, within } from "./_ns_child.ts";
import { report } from "./harness.ts";
import type { BenchRow } from "./harness.ts";

const SECONDS = Number(process.env.GOODPUT_SECONDS ?? 3);
/** Rows to run (comma-separated kinds, e.g. `packet`; default all, iperf3 included). */
const KINDS = (process.env.GOODPUT_KINDS ?? "packet,packet-v3,udp,udp-bun,iperf3").split(",");
/** Runtime flags for the children, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile both ends. */
const CHILD_FLAGS = (process.env.GOODPUT_CHILD_FLAGS ?? "").split(" ").filter((x) => x !== "");
const SERVICE = "sink.example";

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

type Kind = "packet" | "packet-v3" | "udp" | "udp-bun";

const NAMES: Record<Kind, string> = {
  packet: "packet datapath (TPACKET_V2, as the daemons open it)",
  "packet-v3": "packet datapath (TPACKET_V3, the library default)",
  udp: "UDP datapath (node:dgram)",
  "udp-bun": "UDP datapath (Bun.udpSocket)",
};

async function openDatapath(kind: Kind, netns: string): Promise<Datapath> {
  if (kind === "packet" || kind === "packet-v3") {
    const { openPacketDatapath } = await import("@serval/datapath-ffi");
    return openPacketDatapath({ netns, ringVersion: kind === "packet" ? 2 : 3 });
  }
  // The process already runs inside the namespace (ip netns exec).
  return openUdpDatapath({ backend: kind === "udp-bun" ? "bun" : "dgram" });
}

/** Child: a sink that counts, or a source that writes as fast as the flow takes, for `seconds`. */
async function child(role: string, kind: Kind, netns: string, peer: string, seconds: number): Promise<void> {
  const dp = await openDatapath(kind, netns);
  const node = await ServalNode.start({ role: "host", datapath: dp, mtu: dp.kind === "packet" ? 1480 : 1472, control: { discover: false } });
  const api = new ServalApi(node);
  if (role === "sink") {
    const l = api.listen(SERVICE);
    console.log("ready");
    const c = await l.accept();
    let bytes = 0, first = 0, last = 0;
    let cpu0 = process.cpuUsage();
    for await (const chunk of c.readable) {
      const now = performance.now();
      if (first === 0) {
        first = now;
        cpu0 = process.cpuUsage();
      }
      last = now;
      bytes += chunk.length;
    }
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ bytes, seconds: (last - first) / 1000, cpu: (cpu.user + cpu.system) / 1e6 }));
  } else {
    node.host.serviceTable.addTarget(ServicePrefix.parse(SERVICE), {
      type: "forward",
      locator: { address: parseIpv4(peer), port: dp.kind === "packet" ? 0 : 54325 },
    });
    const c = await api.connect(SERVICE);
    const w = c.writable.getWriter();
    const chunk = new Uint8Array(256 << 10);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) await w.write(chunk);
    await w.close();
    await c.closed;
    const s = c.stats();
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({
      retransmitted: s.bytesRetransmitted,
      rto: s.retransmitTimeouts,
      fr: s.fastRecoveries,
      cpu: (cpu.user + cpu.system) / 1e6,
      seconds: (performance.now() - t0) / 1000,
    }));
  }
  api.close();
  await node.close();
  process.exit(0);
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.log("[bench] skipped goodput.bench.ts: needs root (network namespaces)");
    return;
  }
  const rows: BenchRow[] = [];
  const t = pair();
  try {
    const { a, b } = t.hosts;
    for (const kind of ["packet", "packet-v3", "udp", "udp-bun"] as const) {
      if (!KINDS.includes(kind)) continue;
      const common = ["--datapath", kind, "--seconds", String(SECONDS)];
      const sink = runInNetns(b.ns.name, import.meta.path, ["--role", "sink", "--netns", b.ns.name, "--peer", a.address, ...common], (SECONDS + 30) * 1000, CHILD_FLAGS);
      await within(sink.ready, 10_000, `${kind} sink`);
      const source = runInNetns(a.ns.name, import.meta.path, ["--role", "source", "--netns", a.ns.name, "--peer", b.address, ...common], (SECONDS + 30) * 1000, CHILD_FLAGS);
      const [s, r] = await Promise.all([sink.result, source.result]);
      const bps = (s.bytes! * 8) / s.seconds!;
      rows.push({
        name: `Serval TCP over the ${NAMES[kind]}`,
        nsPerOp: 1e9 / (bps / 8 / 1448),
        opsPerSec: bps / 8 / 1448,
        extra: {
          "Gbit/s": (bps / 1e9).toFixed(2),
          // CPU of each process (all its threads) per 1448 B: what a packet costs, whatever else runs.
          "source CPU ns/op": ((r.cpu! * 1e9) / (s.bytes! / 1448)).toFixed(0),
          "sink CPU ns/op": ((s.cpu! * 1e9) / (s.bytes! / 1448)).toFixed(0),
          "retransmitted MB": ((r.retransmitted ?? 0) / 1e6).toFixed(1),
          rto: String(r.rto ?? 0),
          fr: String(r.fr ?? 0),
        },
      });
    }
    if (KINDS.includes("iperf3")) {
      const k = await iperf3(a, b, { seconds: SECONDS });
      rows.push({
        name: "kernel reference: iperf3 TCP",
        nsPerOp: 1e9 / (k.receivedBps / 8 / 1448),
        opsPerSec: k.receivedBps / 8 / 1448,
        extra: { "Gbit/s": (k.receivedBps / 1e9).toFixed(2) },
      });
    }
  } finally {
    t.close();
  }
  report(`Stream goodput between two namespaces, one flow, ${SECONDS} s (op = 1448 B)`, rows);
}

if (arg("--role")) await child(arg("--role")!, arg("--datapath") as Kind, arg("--netns")!, arg("--peer")!, Number(arg("--seconds") ?? SECONDS));
else await main();

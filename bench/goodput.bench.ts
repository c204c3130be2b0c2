/**
 * Serval TCP goodput between two network namespaces (root only), one flow,
 * MTU 1500, sender and receiver in their own processes, against iperf3 TCP
 * on the same veth pair in the same run. The stack runs whole: ServalNode
 * (datapath + SAL + transport) with the application API's WHATWG streams at
 * both ends.
 *
 * Rows: the packet datapath (AF_PACKET, TPACKET_V3), the UDP datapath over
 * `node:dgram` (its default) and over `Bun.udpSocket`, and iperf3 TCP.
 * Targets (issue 6): ≥ 3 Gbit/s on the packet datapath, ≥ 1.5 Gbit/s on the
 * UDP datapath.
 *
 * Run: `sudo npx bun bench/goodput.bench.ts` (or `npm run bench -- goodput`).
 * Child roles: `--role sink|source --datapath packet|udp|udp-bun --netns NS --peer IP --seconds S`.
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
const SERVICE = "sink.example";

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

type Kind = "packet" | "udp" | "udp-bun";

async function openDatapath(kind: Kind, netns: string): Promise<Datapath> {
  if (kind === "packet") {
    const { openPacketDatapath } = await import("@serval/datapath-ffi");
    return openPacketDatapath({ netns });
  }
  // The process already runs inside the namespace (ip netns exec).
  return openUdpDatapath({ backend: kind === "udp-bun" ? "bun" : "dgram" });
}

/** Child: a sink that counts, or a source that writes as fast as the flow takes, for `seconds`. */
async function child(role: string, kind: Kind, netns: string, peer: string, seconds: number): Promise<void> {
  const dp = await openDatapath(kind, netns);
  const node = await ServalNode.start({ role: "host", datapath: dp, mtu: kind === "packet" ? 1480 : 1472, control: { discover: false } });
  const api = new ServalApi(node);
  if (role === "sink") {
    const l = api.listen(SERVICE);
    console.log("ready");
    const c = await l.accept();
    let bytes = 0, first = 0, last = 0;
    for await (const chunk of c.readable) {
      const now = performance.now();
      if (first === 0) first = now;
      last = now;
      bytes += chunk.length;
    }
    console.log(JSON.stringify({ bytes, seconds: (last - first) / 1000 }));
  } else {
    node.host.serviceTable.addTarget(ServicePrefix.parse(SERVICE), {
      type: "forward",
      locator: { address: parseIpv4(peer), port: kind === "packet" ? 0 : 54325 },
    });
    const c = await api.connect(SERVICE);
    const w = c.writable.getWriter();
    const chunk = new Uint8Array(256 << 10);
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) await w.write(chunk);
    await w.close();
    await c.closed;
    const s = c.stats();
    console.log(JSON.stringify({ retransmitted: s.bytesRetransmitted, rto: s.retransmitTimeouts, fr: s.fastRecoveries }));
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
    for (const kind of ["packet", "udp", "udp-bun"] as const) {
      const common = ["--datapath", kind, "--seconds", String(SECONDS)];
      const sink = runInNetns(b.ns.name, import.meta.path, ["--role", "sink", "--netns", b.ns.name, "--peer", a.address, ...common], (SECONDS + 30) * 1000);
      await within(sink.ready, 10_000, `${kind} sink`);
      const source = runInNetns(a.ns.name, import.meta.path, ["--role", "source", "--netns", a.ns.name, "--peer", b.address, ...common], (SECONDS + 30) * 1000);
      const [s, r] = await Promise.all([sink.result, source.result]);
      const bps = (s.bytes! * 8) / s.seconds!;
      rows.push({
        name: `Serval TCP over the ${kind === "packet" ? "packet datapath" : kind === "udp" ? "UDP datapath (node:dgram)" : "UDP datapath (Bun.udpSocket)"}`,
        nsPerOp: 1e9 / (bps / 8 / 1448),
        opsPerSec: bps / 8 / 1448,
        extra: { "Gbit/s": (bps / 1e9).toFixed(2), "retransmitted MB": ((r.retransmitted ?? 0) / 1e6).toFixed(1), rto: String(r.rto ?? 0), fr: String(r.fr ?? 0) },
      });
    }
    const k = await iperf3(a, b, { seconds: SECONDS });
    rows.push({
      name: "kernel reference: iperf3 TCP",
      nsPerOp: 1e9 / (k.receivedBps / 8 / 1448),
      opsPerSec: k.receivedBps / 8 / 1448,
      extra: { "Gbit/s": (k.receivedBps / 1e9).toFixed(2) },
    });
  } finally {
    t.close();
  }
  report(`Stream goodput between two namespaces, one flow, ${SECONDS} s (op = 1448 B)`, rows);
}

if (arg("--role")) await child(arg("--role")!, arg("--datapath") as Kind, arg("--netns")!, arg("--peer")!, Number(arg("--seconds") ?? SECONDS));
else await main();

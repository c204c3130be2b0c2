/**
 * Kernel reference numbers that the datapath benchmarks compare against,
 * measured in the same run on the same kind of topology (network namespaces
 * from test/e2e/netns.ts, veth pairs, MTU 1500, IPv6 off):
 *
 * 1. veth, iperf3 UDP, 18-byte payloads = **64-byte Ethernet frames**
 *    (14 + 20 + 8 + 18 + 4 FCS), `-b 0`: datagrams delivered per second.
 * 2. veth, iperf3 UDP, 1400-byte payloads, `-b 0`: delivered Gbit/s.
 * 3. veth, iperf3 TCP, one stream: Gbit/s (TSO/GSO: the kernel moves 64 KB
 *    segments, which a per-packet datapath cannot).
 * 4. Kernel IP forwarding `a — r — b`, iperf3 UDP 64-byte frames from a:
 *    datagrams delivered per second at b.
 *
 * UDP rows run `KREF_SENDERS` iperf3 clients at once (default: cores − 1,
 * at least 1). iperf3 3.12 runs one thread per process, so parallel senders
 * need separate processes (ports 5201…); one `-b 0` sender fills a core, and
 * the receiver needs the others: on this 2-core VM two senders delivered
 * *less* (0.35 vs 0.64 Mpps at 64 B, 2026-11-26) because they starve the
 * receiver.
 *
 * One op is one delivered datagram (UDP rows) or one 1448-byte MSS of
 * payload (TCP row), so `ns/op` and `ops/s` compare with per-packet
 * datapath rows. Gbit/s counts UDP/TCP payload bits (iperf3's figure).
 * `sent Mpps` is what the senders offered, `loss %` what did not arrive
 * (receive-buffer overflow at the receiver). `load` is the 1-minute load
 * average before the run: other work on the machine lowers every figure.
 *
 * Needs root; prints a notice and exits 0 otherwise. Each measurement runs
 * `KREF_SECONDS` seconds (default 4); the whole file takes about 17 s.
 *
 * Run: `npx bun bench/kernel_ref.bench.ts` (or `npm run bench -- kernel_ref`).
 *
 * @module
 */

import { availableParallelism, loadavg } from "node:os";
import { spawnSync } from "node:child_process";
import { type BenchRow, report } from "./harness.ts";
import { type Host, iperf3, type Iperf3Result, isRoot, pair, routed, withTopology } from "../test/e2e/netns.ts";

const SECONDS = Number(process.env.KREF_SECONDS ?? 4);
const SENDERS = Number(process.env.KREF_SENDERS ?? Math.max(1, availableParallelism() - 1));
const MSS = 1448;

if (!isRoot()) {
  console.log("[bench] skipped kernel_ref: needs root (network namespaces)");
  process.exit(0);
}
if (spawnSync("iperf3", ["--version"]).status !== 0) {
  console.log("[bench] skipped kernel_ref: iperf3 is not installed");
  process.exit(0);
}

const T0 = performance.now();
const progress = (what: string) => console.error(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}`);
const load = loadavg()[0]!;
const rows: BenchRow[] = [];

/** Runs `senders` iperf3 clients at once from `from` to `to` (ports 5201…) and sums them. */
async function udp(from: Host, to: Host, length: number, senders: number): Promise<{ pps: number; sentPps: number; bps: number; loss: number }> {
  const rs: Iperf3Result[] = await Promise.all(
    Array.from({ length: senders }, (_, i) => iperf3(from, to, { udp: true, length, bitrate: "0", seconds: SECONDS, port: 5201 + i })),
  );
  const pps = rs.reduce((s, r) => s + r.deliveredPps!, 0);
  const sentPps = rs.reduce((s, r) => s + r.packets! / r.seconds, 0);
  const bps = rs.reduce((s, r) => s + r.receivedBps, 0);
  return { pps, sentPps, bps, loss: sentPps > 0 ? 100 * (1 - pps / sentPps) : 0 };
}

function udpRow(name: string, r: { pps: number; sentPps: number; bps: number; loss: number }): BenchRow {
  return {
    name,
    nsPerOp: 1e9 / r.pps,
    opsPerSec: r.pps,
    extra: {
      Mpps: (r.pps / 1e6).toFixed(3),
      "Gbit/s": (r.bps / 1e9).toFixed(2),
      "sent Mpps": (r.sentPps / 1e6).toFixed(3),
      "loss %": r.loss.toFixed(1),
      senders: String(SENDERS),
      load: load.toFixed(2),
    },
  };
}

await withTopology(pair, async (t) => {
  const { a, b } = t.hosts;
  progress("veth udp 64 B");
  rows.push(udpRow("veth udp 64 B frames", await udp(a, b, 18, SENDERS)));
  progress("veth udp 1400 B");
  rows.push(udpRow("veth udp 1400 B payload", await udp(a, b, 1400, SENDERS)));
  progress("veth tcp 1 stream");
  const tcp = await iperf3(a, b, { seconds: SECONDS });
  const segs = tcp.receivedBps / 8 / MSS;
  rows.push({
    name: "veth tcp 1 stream (op = 1448 B)",
    nsPerOp: 1e9 / segs,
    opsPerSec: segs,
    extra: { "Gbit/s": (tcp.receivedBps / 1e9).toFixed(2), load: load.toFixed(2) },
  });
});

await withTopology(routed, async (t) => {
  const { a, b } = t.hosts;
  progress("forward udp 64 B");
  rows.push(udpRow("ip forward udp 64 B frames", await udp(a, b, 18, SENDERS)));
});

progress("done");
report(`kernel references (iperf3, ${SECONDS} s per row, namespaces + veth)`, rows);

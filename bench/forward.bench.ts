/**
 * Packet datapath throughput between network namespaces (root only):
 *
 * - TX only: one datapath blasts SAL packets with `sendmmsg` (64 per call) to
 *   a datapath in another namespace, which counts them with its RX ring.
 * - Forwarding through a middle namespace, side by side:
 *   (a) the kernel's IP forwarding (ip_forward=1 in the middle);
 *   (b) a Bun process in the middle running the datapath's forwarding loop
 *       (RX ring → next hop from the kernel tables, TTL − 1, checksum →
 *       `sendmmsg` straight from the ring) with kernel forwarding off.
 *   The sender is the packet datapath in both; arrivals are counted by the
 *   destination interface's own counter (no process competes for the CPUs).
 *
 * Frames: 64 bytes (14 Ethernet + 20 IPv4 + 30 SAL bytes) and 1514 bytes (IP
 * packet of 1500). Each measurement lasts ~2 s. Targets (issue 5): TX ≥ 0.6
 * Mpps at 64 B; forwarding loop ≥ 400 kpps at 64 B.
 *
 * Run: `sudo npx bun bench/forward.bench.ts` (or `npm run bench -- forward`).
 * Child roles (`--role counter|forwarder|echo`) run `bench/_packet_peers.ts`.
 *
 * @module
 */

import { PacketBatch } from "@serval/datapath";
import { classifyFrame, LocalAddressTable, openPacketDatapath, RxFrame, RxRing, writeIpv4Frame, writeSyntheticBlock } from "@serval/datapath-ffi";
import { blast, FRAME_OVERHEAD, spawnRole } from "./_packet_peers.ts";
import { parseIpv4 } from "@serval/wire";
import { pair, routed } from "../test/e2e/netns.ts";
import type { Netns } from "../test/e2e/netns.ts";
import { measure, report } from "./harness.ts";
import type { BenchRow } from "./harness.ts";

const MEASURE_MS = 2000;
const SIZES = [64, 1514] as const;

await main();

function rxCounter(ns: Netns, ifname: string): number {
  return Number(ns.exec(["cat", `/sys/class/net/${ifname}/statistics/rx_packets`]).stdout.trim());
}

function row(name: string, frame: number, sentPkts: number, gotPkts: number, seconds: number, extra: Record<string, string> = {}): BenchRow {
  const pps = gotPkts / seconds;
  return {
    name,
    nsPerOp: 1e9 / pps,
    opsPerSec: pps,
    extra: {
      frame: `${frame} B`,
      "offered pps": sentPkts / seconds,
      "delivered pps": pps,
      "Gbit/s": (pps * frame * 8) / 1e9,
      loss: sentPkts === 0 ? "-" : `${Math.max(0, 100 * (1 - gotPkts / sentPkts)).toFixed(1)} %`,
      ...extra,
    },
  };
}

function dropText(d: Record<string, number>): string {
  const e = Object.entries(d);
  return e.length === 0 ? "-" : e.map(([k, v]) => `${k}=${v}`).join(" ");
}

/**
 * Round trips of one 64-byte frame from this process (namespace `na`) to an
 * echo process in `nb` and back; both sides wait through their poll Worker.
 */
async function pingPong(na: Netns, nb: Netns, dstB: string, rounds: number, ringVersion: 2 | 3): Promise<number[]> {
  const echo = await spawnRole("echo", nb, 4000, ringVersion);
  const a = await openPacketDatapath({ netns: na.name, ringVersion });
  const rtts: number[] = [];
  try {
    const payload = new Uint8Array(64 - FRAME_OVERHEAD);
    const toB = new PacketBatch(1, 64);
    toB.push(payload, 0, payload.length, undefined, { address: parseIpv4(dstB), port: 0 });
    const rx = new PacketBatch(16);
    const end = performance.now() + 3000;
    for (let i = 0; i < rounds + 10 && performance.now() < end; i++) {
      const t0 = performance.now();
      a.send(toB);
      rx.clear();
      const limit = performance.now() + 200;
      while (a.receive(rx) === 0 && performance.now() < limit) {
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([a.wait(), new Promise<void>((r) => (t = setTimeout(r, 50)))]);
        clearTimeout(t);
      }
      // The first rounds resolve neighbours on both sides.
      if (rx.count > 0 && i >= 10) rtts.push((performance.now() - t0) * 1000);
    }
  } finally {
    await a.close();
    await echo.result();
  }
  return rtts.sort((x, y) => x - y);
}

/**
 * CPU cost per received packet of the JS side alone, over a synthetic ring
 * (no kernel): walk the TPACKET_V3 ring, validate the IPv4 header, match the
 * destination, copy the SAL bytes into a PacketBatch-sized buffer.
 */
function ringWalk(): BenchRow {
  const blockSize = 1 << 18;
  const blocks = 4;
  const mem = new Uint8Array(blockSize * blocks);
  const addrs = new Uint8Array([198, 18, 0, 1, 198, 18, 0, 2]);
  const frame = new Uint8Array(64);
  writeIpv4Frame(frame, 0, new Uint8Array(6), new Uint8Array(6), addrs, 0, addrs, 4, 30, 1, 64);
  const perBlock = Math.floor((blockSize - 48) / 144);
  const frames = Array.from({ length: perBlock }, () => frame);
  const table = new LocalAddressTable();
  table.add({ ifindex: 2, ifname: "x", address: addrs.slice(4), prefixLen: 24, port: 0 });
  // Blocks are written once; each round hands one back to "user space" again (status word only).
  for (let i = 0; i < blocks; i++) writeSyntheticBlock(mem, i * blockSize, frames, 2);
  const status = new Uint32Array(mem.buffer);
  const ring = new RxRing(mem, blockSize, blocks);
  const rx = new RxFrame();
  const out = new Uint8Array(64 * 2048);
  let b = 0;
  return measure("rx ring walk + validate + copy (JS only)", () => {
    status[(b * blockSize + 8) >>> 2] = 1;
    b = (b + 1) % blocks;
    let at = 0;
    for (let h = ring.next(); h >= 0; h = ring.next()) {
      if (classifyFrame(mem, ring.mac(h), ring.snaplen(h), rx) !== "serval") continue;
      if (table.match(mem, rx.dstOff, 4) === 0) continue;
      out.set(mem.subarray(rx.salOff, rx.salOff + rx.salLen), at);
      at = (at + 64) & 0xffff;
    }
  }, { opsPerCall: perBlock, extra: { frame: "64 B" } });
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [ringWalk()];
  if (process.getuid?.() !== 0) {
    report("Packet datapath: JS receive path over a synthetic ring", rows);
    console.log("[bench] skipped the namespace measurements of forward.bench.ts: needs root (network namespaces, AF_PACKET)");
    return;
  }
  const latency: string[] = [];

  // TX only: a → b on one veth pair, counted by b's RX ring.
  {
    const t = pair();
    try {
      const { a, b } = t.hosts;
      for (const frame of SIZES) {
        const counter = await spawnRole("counter", b.ns, MEASURE_MS + 1500);
        const s = await blast(a.ns, b.address, frame, MEASURE_MS);
        const r = await counter.result();
        rows.push(row("tx only (sendmmsg → RX ring)", frame, s.sent, r.packets, s.seconds, { drops: dropText({ ...s.drops, ...r.drops }) }));
      }
      for (const v of [3, 2] as const) {
        const rtt = await pingPong(a.ns, b.ns, b.address, 200, v);
        const q = (f: number) => rtt[Math.min(rtt.length - 1, Math.floor(f * rtt.length))]!;
        latency.push(`64 B round trip a→b→a, TPACKET_V${v}, echo process in b (wait → receive → send back), ${rtt.length} rounds: ` +
          `p50 ${q(0.5).toFixed(0)} µs, p90 ${q(0.9).toFixed(0)} µs, p99 ${q(0.99).toFixed(0)} µs`);
      }
    } finally {
      t.close();
    }
  }

  // Forwarding a → r → b: kernel, then the datapath's loop in r.
  {
    const t = routed();
    try {
      const { a, b } = t.hosts;
      const r = t.routers.r;
      for (const frame of SIZES) {
        r.ns.setForwarding(true);
        let rx0 = rxCounter(b.ns, b.ifname);
        let s = await blast(a.ns, b.address, frame, MEASURE_MS);
        await new Promise((res) => setTimeout(res, 100));
        rows.push(row("forward: kernel ip_forward", frame, s.sent, rxCounter(b.ns, b.ifname) - rx0, s.seconds, { drops: dropText(s.drops) }));

        r.ns.setForwarding(false);
        const fwd = await spawnRole("forwarder", r.ns, MEASURE_MS + 2500);
        rx0 = rxCounter(b.ns, b.ifname);
        s = await blast(a.ns, b.address, frame, MEASURE_MS);
        await new Promise((res) => setTimeout(res, 100));
        const got = rxCounter(b.ns, b.ifname) - rx0;
        const fr = await fwd.result();
        rows.push(row("forward: datapath loop (Bun)", frame, s.sent, got, s.seconds, { drops: dropText({ ...s.drops, ...fr.drops }) }));
      }
    } finally {
      t.close();
    }
  }
  report("Packet datapath: TX and forwarding between namespaces", rows);
  console.log(latency.join("\n"));
}

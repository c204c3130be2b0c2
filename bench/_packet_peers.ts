/**
 * Packet datapath peers for the namespace benchmarks: a child process that
 * counts, forwards or echoes packets in a namespace (`--role`), and a
 * blaster that sends SAL packets with `sendmmsg` from a namespace.
 *
 * ```text
 * bun bench/_packet_peers.ts --role counter|forwarder|echo --netns NAME --ms M [--ring 2|3]
 * ```
 *
 * @module
 */

import { PacketBatch } from "@serval/datapath";
import { openPacketDatapath } from "@serval/datapath-ffi";
import { parseIpv4 } from "@serval/wire";
import type { Netns } from "../test/e2e/netns.ts";

/** Ethernet + IPv4 header bytes in front of a SAL packet. */
export const FRAME_OVERHEAD = 14 + 20;

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

if (import.meta.main && arg("--role") !== undefined) await child(arg("--role")!, arg("--netns")!, Number(arg("--ms")));

/** Child process: counts received packets, or forwards, for `ms` after printing "ready". */
async function child(role: string, netns: string, ms: number): Promise<void> {
  const ringVersion = arg("--ring") === "2" ? 2 : 3;
  const dp = await openPacketDatapath({ netns, ringVersion });
  const tx = new PacketBatch(256, 256 * 1536);
  const rx = new PacketBatch(256, 256 * 1536);
  let packets = 0;
  let bytes = 0;
  console.log("ready");
  const end = performance.now() + ms;
  while (performance.now() < end) {
    let n: number;
    if (role === "forwarder") n = dp.forward(256);
    else if (role === "echo") {
      // Sends every packet back where it came from.
      rx.clear();
      n = dp.receive(rx);
      tx.clear();
      for (let i = 0; i < n; i++) tx.push(rx.packet(i), 0, rx.length[i]!, undefined, rx.src(i));
      if (n > 0) dp.send(tx);
    } else {
      rx.clear();
      n = dp.receive(rx);
      bytes += rx.used;
    }
    packets += n;
    if (n === 0) {
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([dp.wait(), new Promise<void>((r) => (t = setTimeout(r, Math.max(1, end - performance.now()))))]);
      clearTimeout(t);
    }
  }
  const s = dp.stats();
  console.log(JSON.stringify({ packets, bytes, drops: Object.fromEntries(s.drops) }));
  await dp.close();
}

/** Starts a child role in `ns` and resolves once it is ready. */
export async function spawnRole(role: string, ns: Netns, ms: number, ring: 2 | 3 = 3) {
  const p = Bun.spawn([process.execPath, import.meta.path, "--role", role, "--netns", ns.name, "--ms", String(ms), "--ring", String(ring)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = p.stdout.getReader();
  let out = "";
  const dec = new TextDecoder();
  const deadline = performance.now() + 10_000;
  while (!out.includes("ready\n")) {
    if (performance.now() > deadline) throw new Error(`${role} did not start`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${role} exited before it was ready`);
    out += dec.decode(value);
  }
  return {
    result: async (): Promise<{ packets: number; bytes: number; drops: Record<string, number> }> => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += dec.decode(value);
      }
      await p.exited;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line === undefined) throw new Error(`${role} printed no result`);
      return JSON.parse(line);
    },
  };
}

/** Blasts `frame`-byte frames to `dst` for `ms` from datapath `dp`; returns packets the kernel took. */
export async function blast(ns: Netns, dst: string, frame: number, ms: number): Promise<{ sent: number; seconds: number; drops: Record<string, number> }> {
  const dp = await openPacketDatapath({ netns: ns.name });
  try {
    const payload = new Uint8Array(frame - FRAME_OVERHEAD).fill(0xab);
    const b = new PacketBatch(64, 64 * payload.length);
    for (let i = 0; i < 64; i++) b.push(payload, 0, payload.length, undefined, { address: parseIpv4(dst), port: 0 });
    // Resolve the next hop first (its neighbour queue must not count as sent).
    const one = new PacketBatch(1, payload.length);
    one.push(payload, 0, payload.length, undefined, { address: parseIpv4(dst), port: 0 });
    dp.send(one);
    const warm = performance.now() + 1000;
    while (dp.stats().txPackets === 0 && performance.now() < warm) await new Promise((r) => setTimeout(r, 2));
    const tx0 = dp.stats().txPackets;
    const t0 = performance.now();
    const end = t0 + ms;
    let t = t0;
    while (t < end) {
      for (let k = 0; k < 16; k++) dp.send(b);
      t = performance.now();
    }
    const s = dp.stats();
    return { sent: s.txPackets - tx0, seconds: (t - t0) / 1000, drops: Object.fromEntries(s.drops) };
  } finally {
    await dp.close();
  }
}


/**
 * UDP datapath throughput on loopback, beside a naive `node:dgram` baseline
 * in the same run: 64 B and 1400 B payloads, batches of 64, sender and
 * receiver in two processes (bench/udp_peer.ts) so each has a core.
 *
 * `bun bench/udp.bench.ts [seconds-per-run]` (default 2.5 s; four runs,
 * under 20 s in all). Rows: receiver packets/s (what arrived), with the
 * sender's rate, the loss (the sender outruns the receiver; the kernel drops
 * the excess at the receiving socket) and each process's CPU time per packet,
 * which is steadier than the rates when other work shares the machine. Network-namespace runs start the
 * same udp_peer.ts processes with `ip netns exec`.
 *
 * @module
 */

import { join } from "node:path";
import { type BenchRow, report } from "./harness.ts";
import type { PeerResult } from "./udp_peer.ts";

const PEER = join(import.meta.dir, "udp_peer.ts");
/** The datapath rows measure Bun.udpSocket + sendMany (the datapath's default is node:dgram since; see BENCHMARKS.md). */
const BACKEND = ["--backend", "bun"];
const seconds = Number(process.argv[2] ?? 2.5);

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}

/** Runs one receiver + sender pair and returns both results. */
export async function runPair(mode: "datapath" | "naive", size: number, secs: number): Promise<{ send: PeerResult; recv: PeerResult }> {
  const recv = Bun.spawn([process.execPath, PEER, "--recv", "--bind", "127.0.0.1:0", "--mode", mode, "--seconds", String(secs), ...BACKEND], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = lines(recv.stdout);
  const ready = JSON.parse((await out.next()).value ?? "{}") as { type?: string; port?: number };
  if (ready.type !== "ready") throw new Error(`udp_peer receiver did not start (exit ${await recv.exited})`);
  const send = Bun.spawn(
    [process.execPath, PEER, "--send", "--to", `127.0.0.1:${ready.port}`, "--mode", mode, "--size", String(size), "--seconds", String(secs), ...BACKEND],
    { stdout: "pipe", stderr: "inherit" },
  );
  const sendOut = await new Response(send.stdout).text();
  const recvLine = (await out.next()).value;
  await Promise.all([send.exited, recv.exited]);
  return { send: JSON.parse(sendOut.trim().split("\n").pop()!) as PeerResult, recv: JSON.parse(recvLine ?? "{}") as PeerResult };
}

const rows: BenchRow[] = [];
for (const size of [64, 1400]) {
  for (const mode of ["datapath", "naive"] as const) {
    const { send, recv } = await runPair(mode, size, seconds);
    const drops = Object.entries({ ...send.drops, ...recv.drops }).map(([k, v]) => `${k}=${v}`).join(" ");
    rows.push({
      name: `${mode === "datapath" ? "UDP datapath (sendMany x64)" : "naive node:dgram"} ${size} B`,
      nsPerOp: 1e9 / recv.pps,
      opsPerSec: recv.pps,
      extra: {
        "rx Gbit/s": recv.gbps.toFixed(2),
        "tx pps": send.pps,
        "tx Gbit/s": send.gbps.toFixed(2),
        "loss %": (100 * (1 - recv.packets / Math.max(1, send.packets))).toFixed(1),
        "rx CPU µs/pkt": recv.cpuUsPerPacket.toFixed(2),
        "tx CPU µs/pkt": send.cpuUsPerPacket.toFixed(2),
        drops: drops || "-",
      },
    });
  }
}
report("UDP datapath on loopback (receiver rate; sender and receiver in separate processes)", rows);

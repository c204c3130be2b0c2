/**
 * The datapaths side by side between two network namespaces on one veth
 * pair (root only), in one run, for 64-byte and 1514-byte frames:
 *
 * - packet datapath: `sendmmsg` × 64 from namespace a, counted by a
 *   datapath's RX ring in b;
 * - UDP datapath: SAL in UDP from a (`Bun.udpSocket` + `sendMany`, and
 *   `node:dgram`), received by a UDP datapath in b (`bench/udp_peer.ts`);
 * - naive baseline: one `node:dgram` send and one `message` event per packet;
 * - kernel reference: iperf3 UDP with the same frame size.
 *
 * Frame sizes count Ethernet + IP (+ UDP) + payload, without the FCS: the
 * packet datapath carries frame − 34 SAL bytes, the UDP ones frame − 42.
 * Delivered packets per second at the receiver are the figure of merit.
 *
 * Run: `sudo npx bun bench/datapath.bench.ts` (or `npm run bench -- datapath`).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { isRoot, iperf3, pair } from "../test/e2e/netns.ts";
import type { Host } from "../test/e2e/netns.ts";
import { blast, FRAME_OVERHEAD, spawnRole } from "./_packet_peers.ts";
import { report } from "./harness.ts";
import type { BenchRow } from "./harness.ts";

const SECONDS = Number(process.env.DATAPATH_SECONDS ?? 2);
const SIZES = [64, 1514] as const;
const UDP_OVERHEAD = FRAME_OVERHEAD + 8;

function row(name: string, frame: number, offered: number, delivered: number, extra: Record<string, string> = {}): BenchRow {
  return {
    name,
    nsPerOp: 1e9 / delivered,
    opsPerSec: delivered,
    extra: {
      frame: `${frame} B`,
      "offered pps": offered,
      "delivered pps": delivered,
      "Gbit/s": (delivered * frame * 8) / 1e9,
      loss: offered > 0 ? `${Math.max(0, 100 * (1 - delivered / offered)).toFixed(1)} %` : "-",
      ...extra,
    },
  };
}

/** Runs `bench/udp_peer.ts` with `args` inside namespace `ns`; resolves with its JSON lines. */
function peer(ns: string, args: string[], onReady?: (port: number) => void): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const p = spawn("ip", ["netns", "exec", ns, process.execPath, new URL("./udp_peer.ts", import.meta.url).pathname, ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const lines: Record<string, unknown>[] = [];
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (s: string) => {
      out += s;
      for (let i = out.indexOf("\n"); i >= 0; i = out.indexOf("\n")) {
        const l = out.slice(0, i);
        out = out.slice(i + 1);
        if (!l.startsWith("{")) continue;
        const j = JSON.parse(l) as Record<string, unknown>;
        lines.push(j);
        if (j.type === "ready") onReady?.(j.port as number);
      }
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), (SECONDS + 20) * 1000);
    p.on("error", reject);
    p.on("close", () => {
      clearTimeout(timer);
      resolve(lines);
    });
  });
}

/** One UDP datapath (or naive) run a → b; returns offered and delivered pps. */
async function udpRun(a: Host, b: Host, frame: number, mode: "datapath" | "naive", backend?: "bun" | "dgram"): Promise<{ offered: number; delivered: number }> {
  const size = frame - UDP_OVERHEAD;
  const be = backend ? ["--backend", backend] : [];
  let ready!: (port: number) => void;
  const port = new Promise<number>((r) => (ready = r));
  const recv = peer(b.ns.name, ["--recv", "--bind", `${b.address}:0`, "--mode", mode, "--seconds", String(SECONDS), ...be], ready);
  const p = await Promise.race([port, new Promise<number>((_, rej) => setTimeout(() => rej(new Error("udp receiver did not start")), 10_000))]);
  const sent = await peer(a.ns.name, ["--send", "--to", `${b.address}:${p}`, "--size", String(size), "--seconds", String(SECONDS), "--mode", mode, ...be]);
  const got = await recv;
  const s = sent.find((l) => l.type === "result")!, r = got.find((l) => l.type === "result")!;
  return { offered: (s.packets as number) / (s.seconds as number), delivered: (r.packets as number) / (s.seconds as number) };
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.log("[bench] skipped datapath.bench.ts: needs root (network namespaces, AF_PACKET)");
    return;
  }
  const rows: BenchRow[] = [];
  const t = pair();
  try {
    const { a, b } = t.hosts;
    for (const frame of SIZES) {
      const counter = await spawnRole("counter", b.ns, SECONDS * 1000 + 1500);
      const s = await blast(a.ns, b.address, frame, SECONDS * 1000);
      const r = await counter.result();
      rows.push(row("packet datapath (sendmmsg → RX ring)", frame, s.sent / s.seconds, r.packets / s.seconds));
      for (const backend of ["bun", "dgram"] as const) {
        const u = await udpRun(a, b, frame, "datapath", backend);
        rows.push(row(`udp datapath (${backend === "bun" ? "Bun.udpSocket sendMany" : "node:dgram"})`, frame, u.offered, u.delivered));
      }
      const n = await udpRun(a, b, frame, "naive");
      rows.push(row("naive node:dgram, one send per packet", frame, n.offered, n.delivered));
      const k = await iperf3(a, b, { udp: true, length: frame - UDP_OVERHEAD, bitrate: "0", seconds: SECONDS });
      rows.push(row("kernel reference: iperf3 udp", frame, k.packets! / k.seconds, k.deliveredPps!));
    }
  } finally {
    t.close();
  }
  report(`Datapaths between two namespaces (veth), ${SECONDS} s per row`, rows);
}

await main();

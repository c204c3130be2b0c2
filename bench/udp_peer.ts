/**
 * One end of a UDP throughput run, as a process of its own so that sender
 * and receiver get a core each and can run in different network namespaces:
 *
 * ```text
 * bun bench/udp_peer.ts --recv --bind 198.18.0.2:54325 [--mode datapath|naive] [--seconds S]
 * bun bench/udp_peer.ts --send --to 198.18.0.2:54325 --size 64 --seconds 3 [--mode datapath|naive] [--batch 64]
 *   (either end: [--backend bun|dgram], default the datapath's: dgram)
 * ```
 *
 * Every output line is JSON. The receiver first prints
 * `{"type":"ready","port":N}` once bound (so `--bind ip:0` works), then one
 * `{"type":"result",...}` line after traffic stopped for `--idle-ms` (default
 * 500) or `--seconds` + 10 s passed. The sender prints one result line.
 *
 * Modes: `datapath` uses the UDP datapath (`Bun.udpSocket`, `sendMany` in
 * batches of `--batch`); `naive` uses plain `node:dgram`, one `send` per
 * packet and a `message` event per packet. `UDP_PEER_DEBUG=1` makes the
 * datapath receiver print its wake-ups per packet on stderr (Bun 1.4.5
 * wakes it once per datagram).
 *
 * @module
 */

import { PacketBatch } from "@serval/datapath";
import { openUdpDatapath } from "@serval/runtime";
import type { UdpBackend } from "@serval/runtime";

/** What one end measured. */
export interface PeerResult {
  readonly type: "result";
  readonly role: "send" | "recv";
  readonly mode: "datapath" | "naive";
  readonly size: number;
  /** Packets sent (handed to the kernel) or received. */
  readonly packets: number;
  /** Payload bytes. */
  readonly bytes: number;
  /** Seconds from the first to the last packet (receiver) or of the send loop (sender). */
  readonly seconds: number;
  readonly pps: number;
  /** Payload Gbit/s. */
  readonly gbps: number;
  /** CPU time of this process (user + system) per packet, in µs. */
  readonly cpuUsPerPacket: number;
  /** Datapath drop counters (send-busy, queue-full, …). */
  readonly drops: Record<string, number>;
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  if (i < 0) throw new Error(`Cannot parse "${s}": expected ip:port`);
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

const cpu0 = process.cpuUsage();

function result(role: "send" | "recv", mode: "datapath" | "naive", size: number, packets: number, bytes: number, seconds: number, drops: ReadonlyMap<string, number> = new Map()): PeerResult {
  const s = Math.max(seconds, 1e-9);
  const c = process.cpuUsage(cpu0);
  return {
    type: "result",
    role,
    mode,
    size,
    packets,
    bytes,
    seconds,
    pps: packets / s,
    gbps: (bytes * 8) / s / 1e9,
    cpuUsPerPacket: (c.user + c.system) / Math.max(1, packets),
    drops: Object.fromEntries(drops),
  };
}

/** Sends `size`-byte packets to `to` for `seconds`. */
export async function runUdpSender(opts: { to: string; size: number; seconds: number; mode: "datapath" | "naive"; batch?: number; backend?: UdpBackend }): Promise<PeerResult> {
  const { host, port } = hostPort(opts.to);
  const n = opts.batch ?? 64;
  const payload = new Uint8Array(opts.size);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 255;
  if (opts.mode === "naive") {
    const dgram = await import("node:dgram");
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "0.0.0.0", r));
    const buf = Buffer.from(payload);
    let sent = 0;
    let errors = 0;
    const t0 = performance.now();
    const end = t0 + opts.seconds * 1000;
    while (performance.now() < end) {
      for (let i = 0; i < n; i++) {
        sock.send(buf, port, host, (e) => {
          if (e) errors++;
        });
      }
      sent += n;
      await tick(); // let dgram's deferred sends and callbacks run
    }
    const dt = (performance.now() - t0) / 1000;
    await new Promise<void>((r) => sock.close(() => r()));
    return result("send", "naive", opts.size, sent - errors, (sent - errors) * opts.size, dt, new Map(errors ? [["send-error", errors]] : []));
  }
  const dp = await openUdpDatapath({ address: "0.0.0.0", port: 0, broadcast: false, ...(opts.backend ? { backend: opts.backend } : {}) });
  const tx = new PacketBatch(n, n * opts.size + 1);
  const dst = { address: new Uint8Array(host.split(".").map(Number)), port };
  for (let i = 0; i < n; i++) tx.push(payload, 0, payload.length, undefined, dst);
  let sent = 0;
  let round = 0;
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  while (performance.now() < end) {
    sent += dp.send(tx);
    if ((++round & 15) === 0) await tick();
  }
  const dt = (performance.now() - t0) / 1000;
  const st = dp.stats();
  await dp.close();
  return result("send", "datapath", opts.size, sent, st.txBytes, dt, st.drops);
}

/**
 * Receives on `bind` until traffic stops; `onReady` gets the bound port.
 */
export async function runUdpReceiver(opts: { bind: string; mode: "datapath" | "naive"; seconds: number; idleMs?: number; onReady?: (port: number) => void; backend?: UdpBackend }): Promise<PeerResult> {
  const { host, port } = hostPort(opts.bind);
  const idleMs = opts.idleMs ?? 500;
  const hardEnd = performance.now() + (opts.seconds + 10) * 1000;
  let packets = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  let size = 0;
  const done = () => {
    const now = performance.now();
    return now > hardEnd || (packets > 0 && now - last > idleMs);
  };
  if (opts.mode === "naive") {
    const dgram = await import("node:dgram");
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((r) => sock.bind(port, host, r));
    sock.on("message", (msg) => {
      const now = performance.now();
      if (packets === 0) first = now;
      last = now;
      packets++;
      bytes += msg.length;
      size = msg.length;
    });
    opts.onReady?.(sock.address().port);
    while (!done()) await new Promise((r) => setTimeout(r, 50));
    await new Promise<void>((r) => sock.close(() => r()));
    return result("recv", "naive", size, packets, bytes, (last - first) / 1000);
  }
  const dp = await openUdpDatapath({ address: host, port, broadcast: false, queue: 8192, ...(opts.backend ? { backend: opts.backend } : {}) });
  opts.onReady?.(dp.port);
  const rx = new PacketBatch(64, 64 * 2048);
  let stop = false;
  // One coarse timer ends the run; the loop itself only awaits the datapath.
  const check = setInterval(() => {
    if (done()) {
      stop = true;
      clearInterval(check);
      void dp.close(); // wakes the pending wait()
    }
  }, 50);
  let wakeups = 0;
  while (!stop) {
    await dp.wait();
    wakeups++;
    for (;;) {
      const got = dp.receive(rx);
      if (got === 0) break;
      const now = performance.now();
      if (packets === 0) first = now;
      last = now;
      packets += got;
      for (let i = 0; i < rx.count; i++) bytes += rx.length[i]!;
      size = rx.length[0]!;
      rx.clear();
    }
  }
  const st = dp.stats();
  await dp.close();
  if (process.env.UDP_PEER_DEBUG) console.error(`receiver: ${wakeups} wake-ups for ${packets} packets`);
  return result("recv", "datapath", size, packets, bytes, (last - first) / 1000, st.drops);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

if (import.meta.main) {
  const mode = (arg("mode") ?? "datapath") as "datapath" | "naive";
  const seconds = Number(arg("seconds") ?? 3);
  const backend = arg("backend") ? { backend: arg("backend") as UdpBackend } : {};
  if (process.argv.includes("--send")) {
    const to = arg("to");
    if (!to) throw new Error("udp_peer --send needs --to ip:port");
    console.log(JSON.stringify(await runUdpSender({ to, size: Number(arg("size") ?? 64), seconds, mode, batch: Number(arg("batch") ?? 64), ...backend })));
  } else if (process.argv.includes("--recv")) {
    const r = await runUdpReceiver({
      bind: arg("bind") ?? "0.0.0.0:54325",
      mode,
      seconds,
      idleMs: Number(arg("idle-ms") ?? 500),
      ...backend,
      onReady: (port) => console.log(JSON.stringify({ type: "ready", port })),
    });
    console.log(JSON.stringify(r));
  } else {
    console.error("usage: bun bench/udp_peer.ts --send --to ip:port --size N --seconds S | --recv --bind ip:port [--mode datapath|naive]");
    process.exit(2);
  }
}

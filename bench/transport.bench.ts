/**
 * Serval TCP benchmark, pure CPU, fixed seeds: two {@linkcode StreamTransport}
 * ends back to back in-process (no SalHost, no datapath), MSS 1448, sender
 * `a` → receiver `b`, timestamps and SACK negotiated, virtual clock advancing
 * 1 µs per data segment. Work goes in batches of {@linkcode BATCH} segments;
 * only one side's calls are timed (`performance.now()` around that side's
 * calls, once per batch), the other side runs untimed in between:
 *
 * 1. Sender: `a.handleSegment` of the ACKs `b` produced for the previous
 *    batch (ACK processing: scoreboard, RTT, CUBIC, window), then per segment
 *    `a.write(1448 B)` + `a.pollSegment` producing one full segment.
 * 2. Receiver, in order: per segment `b.handleSegment` + `b.read` (drain) +
 *    `b.pollSegment` until empty (an ACK every 2nd segment, delayed-ACK rule).
 * 3. Receiver as in 2 with 1 % of segments reordered (seeded: a chosen
 *    segment swaps places with the next one), so `b` takes the out-of-order
 *    path and sends immediate ACKs with SACK blocks; the sender sees a
 *    single duplicate ACK per swap (no recovery, no retransmission).
 *
 * Plus one row timed by `measure()` around both sides (sanity: ≈ 1 + 2).
 * One op = one 1448-byte data segment; MB/s = payload bytes (1448) per second.
 * Target (issue): ≤ 1 µs per segment per side.
 *
 * Run: `npx bun bench/transport.bench.ts` (about 15 s). Progress goes to stderr.
 *
 * @module
 */

import { type BenchRow, measure, mulberry32, report } from "./harness.ts";
import { StreamTransport } from "../packages/transport/mod.ts";

const MSS = 1448;
const BATCH = 64;
const BUF = 1600; // room for 1448 B + a 20 B header + 40 B of options
const TARGET_NS = 1000;
const ROUNDS = 7;
const ROUND_MS = 250;

let sink = 0;
const rows: BenchRow[] = [];
const T0 = performance.now();
const progress = (what: string) => console.error(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}`);

const payload = new Uint8Array(MSS);
{
  const rnd = mulberry32(0x7c9);
  for (let i = 0; i < MSS; i++) payload[i] = rnd();
}

/** One sender → receiver flow, stepped a batch at a time. */
class Flow {
  readonly a = new StreamTransport({ iss: 0xfffff000, mss: MSS });
  readonly b = new StreamTransport({ iss: 77, mss: MSS });
  now = 1;
  readonly segs: Uint8Array[] = Array.from({ length: BATCH }, () => new Uint8Array(BUF));
  readonly segLen = new Int32Array(BATCH);
  readonly order = new Int32Array(BATCH);
  readonly acks: Uint8Array[] = Array.from({ length: 2 * BATCH }, () => new Uint8Array(BUF));
  readonly ackLen = new Int32Array(2 * BATCH);
  nAcks = 0;
  readonly out = new Uint8Array(1 << 16);
  readonly rnd: () => number;
  reordered = 0;
  segments = 0;
  acksSent = 0;

  constructor(readonly reorderPct: number, seed: number) {
    this.rnd = mulberry32(seed);
    const buf = new Uint8Array(BUF);
    const { a, b } = this;
    b.handleHandshake(0, "syn", buf, 0, a.writeHandshake(0, "syn", buf, 0, BUF));
    a.handleHandshake(0, "syn-ack", buf, 0, b.writeHandshake(0, "syn-ack", buf, 0, BUF));
    b.handleHandshake(0, "ack", buf, 0, a.writeHandshake(0, "ack", buf, 0, BUF));
    a.connected(0);
    b.connected(0);
    // Slow start: grow cwnd past a batch before any timing (the sender never writes ahead).
    for (let r = 0; r < 40; r++) {
      let i = 0;
      for (; i < BATCH; i++) {
        if (a.unacknowledged === a.inflight) a.write(payload, 0, MSS);
        this.now++;
        const n = a.pollSegment(this.now, this.segs[i]!, 0, BUF);
        if (n === 0) break;
        this.segLen[i] = n;
      }
      this.count = i;
      this.segments += i;
      this.shuffle();
      this.receive();
      for (let k = 0; k < this.nAcks; k++) a.handleSegment(this.now, this.acks[k]!, 0, this.ackLen[k]!);
      this.nAcks = 0;
    }
    if (a.unacknowledged !== a.inflight) throw new Error("warm-up: data left unsent");
    this.count = BATCH;
    this.reordered = 0;
  }
  count = BATCH;

  /** Sender: takes the ACKs of the previous batch, then writes and sends BATCH full segments. */
  send(): void {
    const a = this.a;
    for (let i = 0; i < this.nAcks; i++) a.handleSegment(this.now, this.acks[i]!, 0, this.ackLen[i]!);
    this.nAcks = 0;
    for (let i = 0; i < BATCH; i++) {
      this.now++;
      a.write(payload, 0, MSS);
      const n = a.pollSegment(this.now, this.segs[i]!, 0, BUF);
      if (n <= MSS) throw new Error(`sender: segment ${i} of ${n} B (cwnd/window closed?) ${JSON.stringify(a.refreshStats())} inflight ${a.inflight}`);
      this.segLen[i] = n;
    }
    this.segments += BATCH;
  }

  /** The order the receiver sees this batch in (untimed; reorders 1 % by swapping with the next). */
  shuffle(): void {
    const o = this.order;
    const c = this.count;
    for (let i = 0; i < c; i++) o[i] = i;
    if (this.reorderPct === 0) return;
    for (let i = 0; i < c - 1; i++) {
      if (this.rnd() % 100 < this.reorderPct) {
        o[i] = i + 1;
        o[i + 1] = i;
        this.reordered++;
        i++;
      }
    }
  }

  /** Receiver: per segment handleSegment + read (drain) + pollSegment (ACKs) until quiet. */
  receive(): void {
    const b = this.b, out = this.out, o = this.order;
    let k = this.nAcks;
    const now = this.now;
    const c = this.count;
    for (let i = 0; i < c; i++) {
      const j = o[i]!;
      b.handleSegment(now, this.segs[j]!, 0, this.segLen[j]!);
      while (b.read(out, 0, out.length) > 0) sink++;
      for (;;) {
        const n = b.pollSegment(now, this.acks[k]!, 0, BUF);
        if (n === 0) break;
        this.ackLen[k++] = n;
      }
    }
    this.acksSent += k - this.nAcks;
    this.nAcks = k;
  }
}

/**
 * Runs `step` (which returns the ns it timed for BATCH segments) for ROUNDS
 * rounds of about ROUND_MS wall time each; the row is the median round.
 */
function splitRow(name: string, f: Flow, step: () => number, extra: Record<string, number | string> = {}): BenchRow {
  const end = performance.now() + 300;
  while (performance.now() < end) step(); // warm-up (JIT, slow start)
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const stop = performance.now() + ROUND_MS;
    let ns = 0, segs = 0;
    while (performance.now() < stop) {
      ns += step();
      segs += BATCH;
    }
    samples.push(ns / segs);
  }
  samples.sort((x, y) => x - y);
  const ns = samples[samples.length >> 1]!;
  f.a.refreshStats();
  const s = f.a.stats;
  if (s.bytesRetransmitted !== 0 || s.fastRecoveries !== 0 || s.retransmitTimeouts !== 0) {
    throw new Error(`${name}: retransmissions ${s.bytesRetransmitted} B, ${s.fastRecoveries} recoveries, ${s.retransmitTimeouts} RTOs`);
  }
  if (f.b.stats.bytesReceived !== f.segments * MSS) throw new Error(`${name}: received ${f.b.stats.bytesReceived} of ${f.segments * MSS} B`);
  return {
    name,
    nsPerOp: ns,
    opsPerSec: 1e9 / ns,
    extra: {
      "MB/s": (MSS * 1e9) / ns / 1e6,
      "min ns": samples[0]!,
      "max ns": samples[samples.length - 1]!,
      "acks/seg": f.acksSent / f.segments,
      "≤1µs": ns <= TARGET_NS ? "yes" : "NO",
      ...extra,
    },
  };
}

// 1. Sender side.
{
  const f = new Flow(0, 1);
  rows.push(splitRow("tx: ACK processing + write + pollSegment (full 1448 B segs)", f, () => {
    const t0 = performance.now();
    f.send();
    const t1 = performance.now();
    f.shuffle();
    f.receive();
    return (t1 - t0) * 1e6;
  }, { "reordered %": 0 }));
  progress("sender done");
}

// 2 and 3. Receiver side, in order and with 1 % reordered.
for (const pct of [0, 1]) {
  const f = new Flow(pct, 0x5eed + pct);
  const row = splitRow(`rx: handleSegment + read + ACK pollSegment, ${pct === 0 ? "in order" : "1 % reordered (OOO + SACK)"}`, f, () => {
    f.send();
    f.shuffle();
    const t0 = performance.now();
    f.receive();
    return (performance.now() - t0) * 1e6;
  });
  // Swaps per segment sent (each swap puts one segment ahead of its predecessor).
  rows.push({ ...row, extra: { ...row.extra, "reordered %": (100 * f.reordered) / f.segments } });
  progress(`receiver ${pct} % done`);
}

// Sanity: both sides under one measure() (expect ≈ tx + rx in order).
{
  const f = new Flow(0, 2);
  for (let i = 0; i < 200; i++) {
    f.send();
    f.shuffle();
    f.receive();
  }
  const r = measure("tx + rx in order, both sides (measure())", () => {
    f.send();
    f.shuffle();
    f.receive();
  }, { opsPerCall: BATCH, rounds: ROUNDS, roundMs: ROUND_MS });
  rows.push({ ...r, extra: { "MB/s": (MSS * r.opsPerSec) / 1e6, "acks/seg": f.acksSent / f.segments, "reordered %": 0 } });
  progress("both sides done");
}

report("Serval TCP (StreamTransport): CPU per 1448 B segment, per side (pure CPU)", rows);
if (sink === 0.5) console.log(sink);

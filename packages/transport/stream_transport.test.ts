import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { SeededRandom } from "@serval/sal";
import { NewReno } from "./new_reno.ts";
import { StreamTransport } from "./stream_transport.ts";
import type { StreamOptions } from "./stream_transport.ts";

interface Link {
  latencyUs: number;
  loss?: number;
  dup?: number;
  reorder?: number;
  /** Bytes per second; 0: unlimited. */
  rate?: number;
  /** Drop everything (a blackhole) while true. */
  down?: boolean;
}

/**
 * Two stream ends joined directly (no SAL: the host's job is tested
 * elsewhere) by a link with delay, loss, duplication and reordering, in
 * virtual time.
 */
class Pipe {
  now = 0;
  readonly a: StreamTransport;
  readonly b: StreamTransport;
  readonly rnd: SeededRandom;
  #wire: { at: number; to: "a" | "b"; bytes: Uint8Array; seq: number }[] = [];
  #seq = 0;
  #busyUntil = { a: 0, b: 0 };
  sent = 0;

  constructor(readonly link: Link, seed: number, opts: Partial<StreamOptions> = {}) {
    this.rnd = new SeededRandom(seed);
    this.a = new StreamTransport({ iss: 0xfffff000, ...opts });
    this.b = new StreamTransport({ iss: 77, ...opts });
    const buf = new Uint8Array(1500);
    this.b.handleHandshake(0, "syn", buf, 0, this.a.writeHandshake(0, "syn", buf, 0, 1500));
    this.a.handleHandshake(0, "syn-ack", buf, 0, this.b.writeHandshake(0, "syn-ack", buf, 0, 1500));
    this.b.handleHandshake(0, "ack", buf, 0, this.a.writeHandshake(0, "ack", buf, 0, 1500));
    this.a.connected(0);
    this.b.connected(0);
  }

  #r(): number {
    return this.rnd.nextU32() / 2 ** 32;
  }

  #collect(): void {
    for (const [from, t] of [["a", this.a], ["b", this.b]] as const) {
      for (;;) {
        const buf = new Uint8Array(1500);
        const n = t.pollSegment(this.now, buf, 0, 1468);
        if (n === 0) break;
        this.sent++;
        const l = this.link;
        if (l.down || this.#r() < (l.loss ?? 0)) continue;
        let at = this.now + l.latencyUs;
        if (l.rate) {
          const start = Math.max(this.now, this.#busyUntil[from]);
          this.#busyUntil[from] = start + Math.ceil((n * 1e6) / l.rate);
          at = this.#busyUntil[from] + l.latencyUs;
        }
        if (this.#r() < (l.reorder ?? 0)) at += Math.floor(this.#r() * 2 * l.latencyUs);
        const copies = this.#r() < (l.dup ?? 0) ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          this.#wire.push({ at, to: from === "a" ? "b" : "a", bytes: buf.subarray(0, n), seq: this.#seq++ });
        }
      }
    }
  }

  /** One event: deliver due segments or fire timers. Returns false when idle. */
  step(until = Infinity): boolean {
    this.#collect();
    let next = Infinity;
    for (const w of this.#wire) if (w.at < next) next = w.at;
    next = Math.min(next, this.a.pollTimeout() ?? Infinity, this.b.pollTimeout() ?? Infinity);
    if (next === Infinity || next > until) return false;
    this.now = Math.max(this.now, next);
    const due = this.#wire.filter((w) => w.at <= this.now).sort((x, y) => x.at - y.at || x.seq - y.seq);
    this.#wire = this.#wire.filter((w) => w.at > this.now);
    for (const w of due) (w.to === "a" ? this.a : this.b).handleSegment(this.now, w.bytes, 0, w.bytes.length);
    for (const t of [this.a, this.b]) if ((t.pollTimeout() ?? Infinity) <= this.now) t.handleTimeout(this.now);
    return true;
  }

  get inFlight(): number {
    return this.#wire.length;
  }
}

/** Streams `total` deterministic bytes a → b; b reads as it goes; returns both hashes. */
function transfer(p: Pipe, total: number, maxSteps = 5_000_000, readChunk = 1 << 16): { sent: string; got: string; bytes: number } {
  const src = new SeededRandom(1234);
  const block = new Uint8Array(1 << 16);
  const hs = createHash("sha256");
  const hr = createHash("sha256");
  let written = 0;
  let pending = new Uint8Array(0);
  let got = 0;
  const out = new Uint8Array(readChunk);
  for (let i = 0; i < maxSteps; i++) {
    while (written < total) {
      if (pending.length === 0) {
        const n = Math.min(block.length, total - written);
        for (let j = 0; j < n; j += 4) {
          const x = src.nextU32();
          block[j] = x;
          block[j + 1] = x >>> 8;
          block[j + 2] = x >>> 16;
          block[j + 3] = x >>> 24;
        }
        pending = block.subarray(0, n);
        hs.update(pending);
      }
      const k = p.a.write(pending);
      pending = pending.subarray(k);
      written += k;
      if (k === 0 || pending.length > 0) break;
    }
    if (written >= total && pending.length === 0) p.a.shutdown(p.now);
    for (let n = p.b.read(out, 0, out.length); n > 0; n = p.b.read(out, 0, out.length)) {
      hr.update(out.subarray(0, n));
      got += n;
    }
    if (!p.step()) break;
  }
  return { sent: hs.digest("hex"), got: hr.digest("hex"), bytes: got };
}

describe("StreamTransport", () => {
  test("transfers 4 MB byte-exact over a clean 1 ms link, FIN acknowledged, nothing outstanding", () => {
    const p = new Pipe({ latencyUs: 1000 }, 1);
    const r = transfer(p, 4 << 20);
    expect(r.bytes).toBe(4 << 20);
    expect(r.got).toBe(r.sent);
    expect(p.a.finished).toBe(true);
    expect(p.b.eof).toBe(true);
    expect(p.a.stats.bytesRetransmitted).toBe(0);
    expect(p.inFlight).toBe(0);
  });

  test("64 MB byte-exact under 5 % loss, 1 % duplication and 10 % reordering", () => {
    const p = new Pipe({ latencyUs: 2000, loss: 0.05, dup: 0.01, reorder: 0.1 }, 2);
    const r = transfer(p, 64 << 20);
    expect(r.bytes).toBe(64 << 20);
    expect(r.got).toBe(r.sent);
    expect(p.a.finished).toBe(true);
    expect(p.a.stats.fastRecoveries).toBeGreaterThan(0);
    // Lost retransmissions are found by time, not left to the RTO (28 RTOs
    // before that; 3 now: the slow-start overshoot and two tails).
    expect(p.a.stats.lostRetransmissions).toBeGreaterThan(0);
    expect(p.a.stats.retransmitTimeouts).toBeLessThanOrEqual(5);
  }, 120_000);

  test("NewReno works as the congestion controller too", () => {
    const p = new Pipe({ latencyUs: 1000, loss: 0.02 }, 3, { congestion: (mss) => new NewReno(mss) });
    const r = transfer(p, 2 << 20);
    expect(r.got).toBe(r.sent);
  });

  test("a blackhole backs the RTO off, and the transfer resumes when it heals", () => {
    const p = new Pipe({ latencyUs: 1000 }, 4);
    const total = 1_000_000;
    expect(p.a.write(new Uint8Array(total))).toBe(total);
    for (let i = 0; i < 20; i++) p.step();
    p.link.down = true;
    const start = p.a.stats.retransmitTimeouts;
    const times: number[] = [];
    for (let i = 0; i < 10_000 && p.a.stats.retransmitTimeouts < start + 6; i++) {
      const before = p.a.stats.retransmitTimeouts;
      p.step();
      if (p.a.stats.retransmitTimeouts > before) times.push(p.now);
    }
    // Each timeout waits twice as long as the one before (RFC 6298 §5.5).
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.length).toBe(5);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]! / gaps[i - 1]!).toBeCloseTo(2, 1);
    p.link.down = false;
    const out = new Uint8Array(1 << 20);
    let got = 0;
    for (let i = 0; i < 1_000_000 && got < total; i++) {
      got += p.b.read(out, 0, out.length);
      if (!p.step()) break;
    }
    expect(got).toBe(total);
    expect(p.a.failed).toBe(false);
  });

  test("a slow reader is never overrun: the window closes, probes keep it alive, and it reopens", () => {
    const cap = 64 << 10;
    const p = new Pipe({ latencyUs: 1000 }, 5, { receiveBuffer: cap });
    const data = new Uint8Array(1 << 20).map((_, i) => i * 7);
    let written = 0;
    let got = 0;
    const out = new Uint8Array(data.length);
    // The reader wakes every 100 ms and takes 16 KB.
    let nextRead = 100_000;
    let full = 0;
    for (let i = 0; i < 2_000_000 && got < data.length; i++) {
      if (written < data.length) written += p.a.write(data, written);
      expect(p.b.readable).toBeLessThanOrEqual(cap);
      if (p.b.readable === cap) full++;
      if (p.now >= nextRead) {
        got += p.b.read(out, got, 16 << 10);
        nextRead += 100_000;
      }
      if (!p.step(nextRead)) p.now = nextRead;
    }
    expect(got).toBe(data.length);
    expect(out).toEqual(data);
    // The window really closed (the buffer was full), and reopened every time.
    expect(full).toBeGreaterThan(0);
  });

  test("a lost window update is recovered by zero-window probes", () => {
    const cap = 16 << 10;
    const p = new Pipe({ latencyUs: 1000 }, 9, { receiveBuffer: cap });
    p.a.write(new Uint8Array(200_000));
    for (let i = 0; i < 200 && p.step(); i++);
    expect(p.b.readable).toBe(cap);
    // Drain the reader while the link is down: the window update is lost.
    p.link.down = true;
    const out = new Uint8Array(cap);
    p.b.read(out, 0, cap);
    for (let i = 0; i < 3; i++) p.step();
    p.link.down = false;
    let got = cap;
    for (let i = 0; i < 100_000 && got < 200_000; i++) {
      got += p.b.read(out, 0, cap);
      if (!p.step()) break;
    }
    expect(got).toBe(200_000);
    expect(p.a.stats.zeroWindowProbes).toBeGreaterThan(0);
  });

  test("migration: frozen while moving, losses below the mark are not congestion", () => {
    const p = new Pipe({ latencyUs: 1000 }, 6);
    p.a.write(new Uint8Array(400_000));
    for (let i = 0; i < 200; i++) p.step();
    p.a.freeze(p.now);
    p.b.freeze(p.now);
    p.link.down = true;
    for (let i = 0; i < 20; i++) p.step(p.now + 10_000);
    expect(p.a.pollTimeout()).toBeUndefined(); // no retransmission timer while frozen
    p.link.down = false;
    p.now += 50_000;
    const cwnd = p.a.refreshStats().cwnd;
    p.a.resume(p.now);
    p.b.resume(p.now);
    const out = new Uint8Array(1 << 19);
    let got = 0;
    for (let i = 0; i < 100_000; i++) {
      got += p.b.read(out, 0, out.length);
      if (!p.step()) break;
    }
    got += p.b.read(out, 0, out.length);
    expect(got + 0).toBeGreaterThan(0);
    expect(p.a.unacknowledged).toBe(0);
    expect(p.a.stats.fastRecoveries).toBe(0);
    expect(p.a.refreshStats().cwnd).toBeGreaterThanOrEqual(cwnd);
  });

  test("half-close: each side's FIN, data still flows the other way", () => {
    const p = new Pipe({ latencyUs: 500 }, 7);
    p.a.write(new Uint8Array([1, 2, 3]));
    p.a.shutdown(p.now);
    for (let i = 0; i < 100 && p.step(); i++);
    const out = new Uint8Array(16);
    expect(p.b.read(out, 0, 16)).toBe(3);
    expect(p.b.eof).toBe(true);
    expect(p.a.finished).toBe(true);
    expect(p.b.write(new Uint8Array([9, 9]))).toBe(2);
    for (let i = 0; i < 100 && p.step(); i++);
    expect(p.a.read(out, 0, 16)).toBe(2);
    expect(p.a.write(new Uint8Array(1))).toBe(0); // shut down: nothing more to send
  });

  test("keepalive probes an idle peer and gives up when it is gone", () => {
    const ka = { idleUs: 1_000_000, intervalUs: 100_000, probes: 3 };
    const p = new Pipe({ latencyUs: 500 }, 8, { keepalive: ka });
    for (let i = 0; i < 10 && p.step(p.now + 3_000_000); i++);
    expect(p.a.stats.keepaliveProbes).toBeGreaterThan(0);
    expect(p.a.failed).toBe(false);
    p.link.down = true;
    for (let i = 0; i < 100 && p.step(); i++) if (p.a.failed) break;
    expect(p.a.failed).toBe(true);
  });
});

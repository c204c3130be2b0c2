import { describe, expect, test } from "bun:test";
import { type CongestionControl, checkMss, initialWindow, isCwndLimited } from "./congestion_control.ts";
import { Cubic } from "./cubic.ts";
import { NewReno } from "./new_reno.ts";

describe("initialWindow()", () => {
  test("min(10 MSS, max(2 MSS, 14600)) (RFC 6928)", () => {
    expect([536, 1000, 1460, 1500, 4000, 9000].map(initialWindow)).toEqual([
      5360, 10_000, 14_600, 14_600, 14_600, 18_000,
    ]);
  });
});

describe("isCwndLimited()", () => {
  test("slow start: half the window in flight; avoidance: within 3 MSS of full; -1 = unknown", () => {
    expect(isCwndLimited(10_000, 5000, 1000, true)).toBe(true);
    expect(isCwndLimited(10_000, 4999, 1000, true)).toBe(false);
    expect(isCwndLimited(10_000, 7000, 1000, false)).toBe(true);
    expect(isCwndLimited(10_000, 6999, 1000, false)).toBe(false);
    expect(isCwndLimited(10_000, -1, 1000, false)).toBe(true);
  });
});

describe("checkMss()", () => {
  test("accepts positive integers, refuses the rest", () => {
    expect(checkMss("X", 1)).toBe(1);
    for (const bad of [0, -1, 1.5, NaN, Infinity]) expect(() => checkMss("X", bad)).toThrow(RangeError);
    expect(() => checkMss("CUBIC", NaN)).toThrow("Cannot create CUBIC: mss is NaN, must be a positive integer");
  });
});

// ---------------------------------------------------------------------------
// A deterministic fluid model: one drop-tail bottleneck, per-RTT rounds.
//
// Each round every active flow sends floor(cwnd / MSS) packets. With W packets
// in flight in total, the bottleneck (BDP packets per base RTT, buffer B)
// holds the round trip at base·max(1, min(W, BDP + B)/BDP); the W − (BDP + B)
// packets that do not fit are dropped, spread over the flows in proportion to
// their windows (drop-tail losses are synchronised: every flow with a drop
// sees a congestion event). Delivered packets are ACKed one by one, spread
// over the round; a flow that lost signals one congestion event at the end of
// the round and stays in recovery for the next round.

interface SimFlow {
  readonly cc: CongestionControl;
  readonly startUs: number;
  /** Packets delivered after the warm-up. */
  delivered: number;
  recoveringUntil: number;
}

interface SimResult {
  /** Delivered packets / link capacity, after the warm-up. */
  readonly utilisation: number;
  /** Per-flow delivered packets after the warm-up. */
  readonly delivered: readonly number[];
}

function simulate(
  ccs: readonly CongestionControl[],
  opts: {
    mbps: number;
    baseRttUs: number;
    bufferBdp: number;
    durationUs: number;
    warmupUs: number;
    startsUs?: readonly number[];
  },
): SimResult {
  const mss = ccs[0]!.mss;
  const pps = (opts.mbps * 1e6) / 8 / mss;
  const bdp = (pps * opts.baseRttUs) / 1e6;
  const limit = bdp + Math.floor(bdp * opts.bufferBdp);
  const flows: SimFlow[] = ccs.map((cc, i) => ({ cc, startUs: opts.startsUs?.[i] ?? 0, delivered: 0, recoveringUntil: -1 }));
  let now = 0;
  let capacity = 0;
  let total = 0;
  while (now < opts.durationUs) {
    const active = flows.filter((f) => f.startUs <= now);
    const w = active.map((f) => Math.max(1, Math.floor(f.cc.cwnd / mss)));
    const sum = w.reduce((a, b) => a + b, 0);
    const rtt = opts.baseRttUs * Math.max(1, Math.min(sum, limit) / bdp);
    const overflow = Math.max(0, sum - limit);
    const end = now + rtt;
    let got = 0;
    active.forEach((f, i) => {
      const wi = w[i]!;
      const drops = overflow > 0 ? Math.min(wi, Math.ceil((overflow * wi) / sum)) : 0;
      const acked = wi - drops;
      got += acked;
      for (let k = 0; k < acked; k++) f.cc.onAck(now + (rtt * (k + 1)) / wi, mss, rtt, wi * mss);
      if (now >= opts.warmupUs) f.delivered += acked;
      if (f.recoveringUntil >= 0 && f.recoveringUntil <= end) {
        f.cc.onRecoveryExit(end);
        f.recoveringUntil = -1;
      }
      if (drops > 0 && f.recoveringUntil < 0) {
        f.cc.onCongestionEvent(end, wi * mss);
        f.recoveringUntil = end + rtt;
      }
    });
    if (now >= opts.warmupUs) {
      capacity += (pps * rtt) / 1e6;
      total += got;
    }
    now = end;
  }
  return { utilisation: Math.min(total, capacity) / capacity, delivered: flows.map((f) => f.delivered) };
}

function jain(xs: readonly number[]): number {
  const s = xs.reduce((a, b) => a + b, 0);
  return (s * s) / (xs.length * xs.reduce((a, b) => a + b * b, 0));
}

const LINK = { mbps: 100, baseRttUs: 20_000, bufferBdp: 1 };

describe("fluid model: 100 Mbit/s, 20 ms, 1 BDP drop-tail buffer", () => {
  test("one CUBIC flow reaches >= 90 % utilisation after warm-up", () => {
    const r = simulate([new Cubic(1500)], { ...LINK, durationUs: 30e6, warmupUs: 5e6 });
    expect(r.utilisation).toBeGreaterThanOrEqual(0.9);
  });

  test("one CUBIC flow with a 0.2 BDP buffer still reaches >= 90 %", () => {
    const r = simulate([new Cubic(1500)], { ...LINK, bufferBdp: 0.2, durationUs: 30e6, warmupUs: 5e6 });
    expect(r.utilisation).toBeGreaterThanOrEqual(0.9);
  });

  test("two CUBIC flows (second starts 5 s later) converge to within 20 % of fair", () => {
    const r = simulate([new Cubic(1500), new Cubic(1500)], {
      ...LINK,
      durationUs: 60e6,
      warmupUs: 30e6,
      startsUs: [0, 5e6],
    });
    const fair = (r.delivered[0]! + r.delivered[1]!) / 2;
    for (const d of r.delivered) expect(Math.abs(d - fair) / fair).toBeLessThanOrEqual(0.2);
    expect(jain(r.delivered)).toBeGreaterThan(0.99);
    expect(r.utilisation).toBeGreaterThanOrEqual(0.9);
  });

  test("two NewReno flows (second starts 5 s later) converge to within 20 % of fair", () => {
    const r = simulate([new NewReno(1500), new NewReno(1500)], {
      ...LINK,
      durationUs: 60e6,
      warmupUs: 30e6,
      startsUs: [0, 5e6],
    });
    const fair = (r.delivered[0]! + r.delivered[1]!) / 2;
    for (const d of r.delivered) expect(Math.abs(d - fair) / fair).toBeLessThanOrEqual(0.2);
    expect(r.utilisation).toBeGreaterThanOrEqual(0.9);
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Cubic, cubicK, cubicWindow } from "./cubic.ts";

const MSS = 1000;
const ALPHA = (3 * 0.3) / 1.7; // alpha_cubic for beta = 0.7

/** A CUBIC flow that lost at `wMaxSeg` MSS and left recovery at time 0. */
function afterLoss(wMaxSeg: number, opts = {}): Cubic {
  const cc = new Cubic(MSS, { initialWindow: wMaxSeg * MSS, ...opts });
  cc.onCongestionEvent(0, wMaxSeg * MSS);
  cc.onRecoveryExit(0);
  return cc;
}

/** Feeds one RTT worth of per-MSS ACKs starting at `now`; returns the end time. */
function oneRtt(cc: Cubic, now: number, rttUs: number): number {
  const n = Math.max(1, Math.floor(cc.cwnd / MSS));
  for (let i = 0; i < n; i++) cc.onAck(now + (rttUs * i) / n, MSS, rttUs, cc.cwnd);
  return now + rttUs;
}

describe("cubicK() and cubicWindow()", () => {
  test("K = cbrt(W_max (1 - beta) / C) after a loss", () => {
    // W_max = 100: K = cbrt(100 * 0.3 / 0.4) = cbrt(75) = 4.217163...
    expect(cubicK(100, 70)).toBeCloseTo(4.217163, 6);
    // W_max = 1000: K = cbrt(750) = 9.085603...
    expect(cubicK(1000, 700)).toBeCloseTo(9.085603, 6);
    expect(cubicK(50, 60)).toBe(0);
  });

  test("W_cubic(K) = W_max, W_cubic(0) = cwnd_epoch, symmetric around K", () => {
    const k = cubicK(100, 70);
    expect(cubicWindow(k, k, 100)).toBeCloseTo(100, 9);
    expect(cubicWindow(0, k, 100)).toBeCloseTo(70, 9);
    expect(cubicWindow(k + 1, k, 100) - 100).toBeCloseTo(100 - cubicWindow(k - 1, k, 100), 9);
    expect(cubicWindow(k + 2, k, 100)).toBeCloseTo(103.2, 9); // 0.4 * 2^3 = 3.2
  });
});

describe("Cubic", () => {
  test("bad config is refused with Deno-style RangeErrors", () => {
    expect(() => new Cubic(MSS, { beta: 1.5 })).toThrow("Cannot create CUBIC: beta is 1.5, must be in (0, 1)");
    expect(() => new Cubic(MSS, { beta: 0 })).toThrow(RangeError);
    expect(() => new Cubic(MSS, { c: -1 })).toThrow("Cannot create CUBIC: c is -1, must be positive");
    expect(() => new Cubic(-5)).toThrow("Cannot create CUBIC: mss is -5, must be a positive integer");
    expect(() => new Cubic(MSS, { initialWindow: 0 })).toThrow(RangeError);
  });

  test("initial state: RFC 6928 window, slow start adds min(acked, 2 MSS)", () => {
    const cc = new Cubic(1460);
    expect([cc.cwnd, cc.ssthresh, cc.inSlowStart, cc.name]).toEqual([14_600, Infinity, true, "cubic"]);
    cc.onAck(0, 5000, 20_000, -1);
    expect(cc.cwnd).toBe(14_600 + 2920);
    expect(cc.minRttUs).toBe(20_000);
  });

  test("multiplicative decrease by beta = 0.7 with a floor of 2 MSS; W_max = cwnd", () => {
    const cc = new Cubic(MSS, { initialWindow: 100_000 });
    cc.onCongestionEvent(0, 100_000);
    expect([cc.cwnd, cc.ssthresh, cc.wMax, cc.inRecovery]).toEqual([70_000, 70_000, 100_000, true]);
    const small = new Cubic(MSS, { initialWindow: 2000 });
    small.onCongestionEvent(0, 2000);
    expect([small.cwnd, small.ssthresh]).toEqual([2000, 2000]);
  });

  test("ssthresh follows FlightSize, W_max follows cwnd", () => {
    const cc = new Cubic(MSS, { initialWindow: 100_000 });
    cc.onCongestionEvent(0, 50_000); // application-limited flight
    expect([cc.ssthresh, cc.cwnd, cc.wMax]).toEqual([35_000, 35_000, 100_000]);
  });

  test("fast convergence lowers W_max to cwnd (1 + beta) / 2; without it W_max = cwnd", () => {
    const on = afterLoss(100);
    on.onCongestionEvent(1, 70_000);
    expect(on.wMax).toBeCloseTo(59_500, 6);
    const off = afterLoss(100, { fastConvergence: false });
    off.onCongestionEvent(1, 70_000);
    expect(off.wMax).toBe(70_000);
    // the first loss (W_max unknown) is not fast convergence
    const first = new Cubic(MSS, { initialWindow: 60_000 });
    first.onCongestionEvent(0, 60_000);
    expect(first.wMax).toBe(60_000);
  });

  test("the epoch starts with K = cbrt((W_max - cwnd) / C) and W_est = cwnd", () => {
    const cc = afterLoss(100);
    cc.onAck(0, MSS, 10_000, -1);
    expect(cc.k).toBeCloseTo(Math.cbrt(75), 9);
    // W_est = 70 + alpha * 1 / 70 MSS
    expect(cc.wEst).toBeCloseTo(70_000 + (ALPHA * MSS * MSS) / 70_000, 6);
  });

  test("concave region: growth slows near W_max and W(t) reaches W_max at t ~ K", () => {
    const rtt = 100_000; // 100 ms: large enough that the cubic region wins
    const cc = afterLoss(100);
    let now = 0;
    const w: number[] = [cc.cwnd];
    while (now < 4_200_000) {
      now = oneRtt(cc, now, rtt);
      w.push(cc.cwnd);
    }
    const first = w[5]! - w[0]!;
    const last = w[w.length - 1]! - w[w.length - 6]!;
    expect(first).toBeGreaterThan(4 * last); // fast far from W_max, slow near it
    for (const x of w) expect(x).toBeLessThanOrEqual(100_000 + 2 * MSS);
    expect(cc.cwnd).toBeGreaterThan(99_000); // at t + RTT ~ K the window is ~W_max
    expect(cc.cwnd).toBeLessThanOrEqual(100_500);
  });

  test("convex region: growth accelerates beyond W_max", () => {
    const cc = afterLoss(100);
    let now = 0;
    while (now < 4_300_000) now = oneRtt(cc, now, 100_000);
    const a = cc.cwnd;
    for (let i = 0; i < 10; i++) now = oneRtt(cc, now, 100_000);
    const b = cc.cwnd;
    for (let i = 0; i < 10; i++) now = oneRtt(cc, now, 100_000);
    const c = cc.cwnd;
    expect(b).toBeGreaterThan(a);
    expect(c - b).toBeGreaterThan(2 * (b - a));
  });

  test("target is clamped to 1.5 cwnd: at most +0.5 MSS per MSS acked", () => {
    const cc = new Cubic(MSS);
    cc.onRetransmitTimeout(0, 20_000); // ssthresh 14 000, cwnd 1 MSS
    for (let i = 0; i < 13; i++) cc.onAck(1, MSS, 10_000, -1);
    expect([cc.cwnd, cc.inSlowStart]).toEqual([14_000, false]);
    cc.onAck(2, MSS, 10_000, -1); // epoch start: K = 0, W_max = 14 MSS
    expect([cc.k, cc.wMax]).toEqual([0, 14_000]);
    const before = cc.cwnd;
    cc.onAck(10_000_002, MSS, 10_000, -1); // t = 10 s: W_cubic = 414 MSS >> 1.5 cwnd
    expect(cc.cwnd - before).toBeGreaterThanOrEqual(499);
    expect(cc.cwnd - before).toBeLessThanOrEqual(501);
  });

  test("Reno-friendly region wins at a small RTT: cwnd = W_est (hand-computed)", () => {
    const cc = afterLoss(20);
    cc.onAck(0, MSS, 1000, -1); // t = 0: W_cubic(0) = 14 MSS < W_est
    const west = 14_000 + (ALPHA * MSS * MSS) / 14_000; // 14 037.8...
    expect(cc.wEst).toBeCloseTo(west, 6);
    expect(cc.cwnd).toBe(14_037);
    // 200 round trips of 1 ms: W_est grows ~alpha MSS per RTT, the cubic only to
    // W_cubic(0.2 s) = 0.4 (0.2 - K)^3 + 20 with K = cbrt(15) ~ 2.466 s: ~ 15.3 MSS
    let now = 0;
    for (let i = 0; i < 200; i++) now = oneRtt(cc, now, 1000);
    const k = cubicK(20, 14);
    expect(cc.cwnd / MSS).toBeGreaterThan(cubicWindow(0.2, k, 20) + 50);
    expect(cc.cwnd).toBe(Math.floor(cc.wEst));
  });

  test("alpha_cubic becomes 1 once W_est reaches cwnd_prior", () => {
    const cc = afterLoss(20);
    let now = 0;
    for (let i = 0; i < 20; i++) now = oneRtt(cc, now, 1000); // W_est passes 20 MSS
    expect(cc.wEst).toBeGreaterThan(20_000);
    const w0 = cc.wEst;
    const n = Math.floor(cc.cwnd / MSS);
    const cw = cc.cwnd;
    cc.onAck(now, MSS, 1000, -1);
    expect(cc.wEst - w0).toBeCloseTo((MSS * MSS) / Math.max(cw, n * MSS), 0);
  });

  test("no growth during recovery", () => {
    const cc = new Cubic(MSS, { initialWindow: 50_000 });
    cc.onCongestionEvent(0, 50_000);
    for (let i = 0; i < 100; i++) cc.onAck(i * 1000, MSS, 1000, -1);
    expect(cc.cwnd).toBe(35_000);
  });

  test("RTO collapses to 1 MSS; the next epoch has K = 0 and W_max = cwnd at its start", () => {
    const cc = afterLoss(100);
    cc.onRetransmitTimeout(5, 70_000);
    expect([cc.cwnd, cc.ssthresh, cc.inSlowStart, cc.inRecovery]).toEqual([1000, 49_000, true, false]);
    cc.onRetransmitTimeout(6, 1000); // repeated: ssthresh held
    expect(cc.ssthresh).toBe(49_000);
    let now = 10;
    while (cc.inSlowStart) cc.onAck(now++, MSS, 10_000, -1);
    const atCa = cc.cwnd;
    cc.onAck(now, MSS, 10_000, -1);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(atCa);
  });

  test("application-limited time is cut out of t", () => {
    const a = afterLoss(100);
    const b = afterLoss(100);
    a.onAck(0, MSS, 10_000, -1);
    b.onAck(0, MSS, 10_000, -1);
    // b is application-limited from t = 1 µs to t = 3 s + 1 µs
    b.onAck(1, MSS, 10_000, 1000);
    b.onAck(3_000_000, MSS, 10_000, 1000);
    a.onAck(1, MSS, 10_000, -1);
    b.onAck(3_000_001, MSS, 10_000, -1);
    expect(b.cwnd).toBe(a.cwnd);
    a.onAck(500_000, MSS, 10_000, -1);
    b.onAck(3_500_000, MSS, 10_000, -1);
    expect(Math.abs(b.cwnd - a.cwnd)).toBeLessThanOrEqual(1);
  });

  test("path change keeps cwnd and ssthresh, forgets W_max and min RTT (migration loss is not congestion)", () => {
    const cc = afterLoss(100);
    let now = 0;
    for (let i = 0; i < 10; i++) now = oneRtt(cc, now, 50_000);
    const [w, s] = [cc.cwnd, cc.ssthresh];
    cc.onPathChange(now);
    expect([cc.cwnd, cc.ssthresh, cc.wMax, cc.minRttUs, cc.k]).toEqual([w, s, 0, -1, 0]);
    cc.onAck(now + 1, MSS, 80_000, -1);
    expect([cc.k, Math.floor(cc.wMax), cc.minRttUs]).toEqual([0, w, 80_000]);
    expect(cc.cwnd).toBeGreaterThanOrEqual(w);
  });

  test("reset returns to the initial state", () => {
    const cc = afterLoss(100);
    cc.reset(1);
    expect([cc.cwnd, cc.ssthresh, cc.wMax, cc.minRttUs, cc.inRecovery]).toEqual([100_000, Infinity, 0, -1, false]);
  });

  test("cwnd >= 1 MSS, finite, ssthresh >= 2 MSS under any event sequence (property)", () => {
    const ev = fc.oneof(
      fc.record({ k: fc.constant("ack" as const), n: fc.integer({ min: 0, max: 20_000 }) }),
      fc.record({ k: fc.constant("loss" as const), n: fc.integer({ min: 0, max: 200_000 }) }),
      fc.record({ k: fc.constant("rto" as const), n: fc.integer({ min: 0, max: 200_000 }) }),
      fc.record({ k: fc.constant("exit" as const), n: fc.constant(0) }),
      fc.record({ k: fc.constant("path" as const), n: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(ev, { maxLength: 200 }), fc.integer({ min: 1, max: 2_000_000 }), (evs, dt) => {
        const cc = new Cubic(MSS);
        let now = 0;
        for (const e of evs) {
          now += dt;
          if (e.k === "ack") cc.onAck(now, e.n, 10_000, cc.cwnd);
          else if (e.k === "loss") cc.onCongestionEvent(now, e.n);
          else if (e.k === "rto") cc.onRetransmitTimeout(now, e.n);
          else if (e.k === "exit") cc.onRecoveryExit(now);
          else cc.onPathChange(now);
          if (!(Number.isFinite(cc.cwnd) && cc.cwnd >= MSS && cc.ssthresh >= 2 * MSS)) return false;
        }
        return true;
      }),
      { seed: 9438, numRuns: 200 },
    );
  });
});

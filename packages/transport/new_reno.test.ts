import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { NewReno } from "./new_reno.ts";

const MSS = 1000;

/** A NewReno in congestion avoidance with cwnd = ssthresh = `w` bytes. */
function inAvoidance(w: number): NewReno {
  const cc = new NewReno(MSS);
  cc.onCongestionEvent(0, 2 * w);
  cc.onRecoveryExit(0);
  return cc;
}

describe("NewReno", () => {
  test("initial window per RFC 6928, ssthresh infinite", () => {
    expect(new NewReno(1460).cwnd).toBe(14_600);
    expect(new NewReno(536).cwnd).toBe(5360);
    expect(new NewReno(9000).cwnd).toBe(18_000);
    const cc = new NewReno(MSS);
    expect([cc.ssthresh, cc.inSlowStart, cc.inRecovery, cc.name]).toEqual([Infinity, true, false, "newreno"]);
    expect(new NewReno(MSS, { initialWindow: 4000 }).cwnd).toBe(4000);
  });

  test("bad config is refused with a RangeError", () => {
    expect(() => new NewReno(0)).toThrow("Cannot create NewReno: mss is 0, must be a positive integer");
    expect(() => new NewReno(1.5)).toThrow(RangeError);
    expect(() => new NewReno(MSS, { initialWindow: 10 })).toThrow(
      "Cannot create NewReno: initialWindow is 10, must be at least mss (1000)",
    );
  });

  test("slow start adds min(acked, 2 MSS) per ACK (RFC 3465, L = 2 MSS)", () => {
    const cc = new NewReno(MSS);
    cc.onAck(0, 1000, -1, 10_000);
    expect(cc.cwnd).toBe(11_000);
    cc.onAck(0, 5000, -1, 11_000);
    expect(cc.cwnd).toBe(13_000);
  });

  test("slow start doubles the window per round trip", () => {
    const cc = new NewReno(MSS);
    for (let i = 0; i < 10; i++) cc.onAck(0, MSS, -1, 10_000);
    expect(cc.cwnd).toBe(20_000);
  });

  test("congestion avoidance adds 1 MSS per cwnd of acknowledged bytes", () => {
    const cc = inAvoidance(10_000);
    expect(cc.inSlowStart).toBe(false);
    for (let i = 0; i < 9; i++) cc.onAck(0, MSS, -1, 10_000);
    expect(cc.cwnd).toBe(10_000);
    cc.onAck(0, MSS, -1, 10_000);
    expect(cc.cwnd).toBe(11_000);
    // Stretch ACKs count bytes, not ACKs: 11 000 bytes in two ACKs give +1 MSS.
    cc.onAck(0, 6000, -1, 11_000);
    cc.onAck(0, 5000, -1, 11_000);
    expect(cc.cwnd).toBe(12_000);
  });

  test("congestion event: ssthresh = cwnd = max(FlightSize/2, 2 MSS)", () => {
    const cc = new NewReno(MSS);
    cc.onCongestionEvent(0, 25_000);
    expect([cc.ssthresh, cc.cwnd, cc.inRecovery]).toEqual([12_500, 12_500, true]);
    cc.onCongestionEvent(0, 3000);
    expect([cc.ssthresh, cc.cwnd]).toEqual([2000, 2000]);
  });

  test("no growth during recovery; growth resumes after onRecoveryExit", () => {
    const cc = new NewReno(MSS);
    cc.onCongestionEvent(0, 8000);
    for (let i = 0; i < 20; i++) cc.onAck(0, MSS, -1, 4000);
    expect(cc.cwnd).toBe(4000);
    cc.onRecoveryExit(1);
    for (let i = 0; i < 4; i++) cc.onAck(2, MSS, -1, 4000);
    expect(cc.cwnd).toBe(5000);
  });

  test("RTO collapses to 1 MSS; repeated RTO holds ssthresh; slow start follows", () => {
    const cc = new NewReno(MSS);
    cc.onRetransmitTimeout(0, 30_000);
    expect([cc.cwnd, cc.ssthresh, cc.inSlowStart]).toEqual([1000, 15_000, true]);
    cc.onRetransmitTimeout(1, 1000);
    expect([cc.cwnd, cc.ssthresh]).toEqual([1000, 15_000]);
    cc.onAck(2, MSS, -1, 1000);
    expect(cc.cwnd).toBe(2000);
    cc.onRetransmitTimeout(3, 2000); // after an ACK, a new timeout sets ssthresh again
    expect(cc.ssthresh).toBe(2000);
  });

  test("the window does not grow when the application limits the flow", () => {
    const cc = inAvoidance(20_000);
    for (let i = 0; i < 100; i++) cc.onAck(0, MSS, -1, 5000);
    expect(cc.cwnd).toBe(20_000);
    const ss = new NewReno(MSS);
    ss.onAck(0, MSS, -1, 2000);
    expect(ss.cwnd).toBe(10_000);
  });

  test("a path change keeps cwnd and ssthresh (migration loss is not congestion)", () => {
    const cc = inAvoidance(10_000);
    for (let i = 0; i < 5; i++) cc.onAck(0, MSS, -1, 10_000);
    cc.onPathChange(1);
    expect([cc.cwnd, cc.ssthresh, cc.inRecovery]).toEqual([10_000, 10_000, false]);
    // the byte counter restarted: 5 more ACKs are not enough for +1 MSS
    for (let i = 0; i < 5; i++) cc.onAck(2, MSS, -1, 10_000);
    expect(cc.cwnd).toBe(10_000);
  });

  test("reset returns to the initial state", () => {
    const cc = new NewReno(MSS);
    cc.onCongestionEvent(0, 40_000);
    cc.reset(1);
    expect([cc.cwnd, cc.ssthresh, cc.inRecovery]).toEqual([10_000, Infinity, false]);
  });

  test("cwnd stays within [1 MSS, ...) and ssthresh >= 2 MSS under any event sequence (property)", () => {
    const ev = fc.oneof(
      fc.record({ k: fc.constant("ack" as const), n: fc.integer({ min: 0, max: 20_000 }) }),
      fc.record({ k: fc.constant("loss" as const), n: fc.integer({ min: 0, max: 200_000 }) }),
      fc.record({ k: fc.constant("rto" as const), n: fc.integer({ min: 0, max: 200_000 }) }),
      fc.record({ k: fc.constant("exit" as const), n: fc.constant(0) }),
      fc.record({ k: fc.constant("path" as const), n: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(ev, { maxLength: 200 }), (evs) => {
        const cc = new NewReno(MSS);
        let now = 0;
        for (const e of evs) {
          now += 1000;
          if (e.k === "ack") cc.onAck(now, e.n, 10_000, cc.cwnd);
          else if (e.k === "loss") cc.onCongestionEvent(now, e.n);
          else if (e.k === "rto") cc.onRetransmitTimeout(now, e.n);
          else if (e.k === "exit") cc.onRecoveryExit(now);
          else cc.onPathChange(now);
          if (!(Number.isInteger(cc.cwnd) && cc.cwnd >= MSS && cc.ssthresh >= 2 * MSS)) return false;
        }
        return true;
      }),
      { seed: 5681, numRuns: 200 },
    );
  });
});

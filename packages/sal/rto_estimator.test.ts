import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { RtoEstimator } from "./rto_estimator.ts";

describe("RtoEstimator", () => {
  test("initial RTO is 1 s, bounds 200 ms .. 120 s", () => {
    const e = new RtoEstimator();
    expect(e.rtoUs).toBe(1_000_000);
    e.sample(1_000); // 1 ms RTT: 1 + max(1, 2) = 3 ms, clamped up to 200 ms
    expect(e.rtoUs).toBe(200_000);
    const slow = new RtoEstimator();
    slow.sample(100_000_000);
    expect(slow.rtoUs).toBe(120_000_000);
  });

  test("RFC 6298 arithmetic on a sequence of samples", () => {
    const e = new RtoEstimator({ minUs: 1, initialUs: 1, maxUs: 1e12, granularityUs: 1 });
    e.sample(100);
    expect([e.srttUs, e.rttvarUs, e.rtoUs]).toEqual([100, 50, 300]);
    e.sample(200);
    // RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5; RTO = 112.5 + 250
    expect(e.rttvarUs).toBe(62.5);
    expect(e.srttUs).toBe(112.5);
    expect(e.rtoUs).toBe(363);
  });

  test("back-off doubles up to the maximum", () => {
    const e = new RtoEstimator();
    expect([0, 1, 2, 3].map((n) => e.backedOffUs(n))).toEqual([1e6, 2e6, 4e6, 8e6]);
    expect(e.backedOffUs(100)).toBe(120_000_000);
  });

  test("bad bounds are refused", () => {
    expect(() => new RtoEstimator({ minUs: 10, initialUs: 5 })).toThrow(RangeError);
  });

  test("RTO always stays within bounds (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300_000_000 }), { maxLength: 50 }), (xs) => {
        const e = new RtoEstimator();
        for (const x of xs) e.sample(x);
        expect(e.rtoUs >= 200_000 && e.rtoUs <= 120_000_000).toBe(true);
      }),
      { seed: 41, numRuns: 300 },
    );
  });
});

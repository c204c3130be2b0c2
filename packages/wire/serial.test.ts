import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { seqAdd, seqBetween, seqDiff, seqGe, seqGt, seqLe, seqLt } from "./serial.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe("serial arithmetic", () => {
  test("wraps around 2^32", () => {
    expect(seqLt(0xffffffff, 0)).toBe(true);
    expect(seqGt(0, 0xffffffff)).toBe(true);
    expect(seqDiff(0, 0xffffffff)).toBe(1);
    expect(seqAdd(0xffffffff, 2)).toBe(1);
    expect(seqBetween(0xfffffff0, 3, 10)).toBe(true);
    expect(seqBetween(5, 4, 10)).toBe(false);
  });

  test("a + d compares with a as the sign of d, for |d| < 2^31 (property)", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 }), (a, d) => {
        const b = seqAdd(a, d);
        expect(seqDiff(b, a)).toBe(d);
        expect(seqLt(a, b)).toBe(d > 0);
        expect(seqGt(a, b)).toBe(d < 0);
        expect(seqLe(a, b)).toBe(d >= 0);
        expect(seqGe(a, b)).toBe(d <= 0);
      }),
      { seed: 23, numRuns: 2000 },
    );
  });

  test("seqBetween is membership in the window [lo, hi] (property)", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2000 }), (lo, w, x) => {
        expect(seqBetween(lo, seqAdd(lo, x), seqAdd(lo, w))).toBe(x <= w);
      }),
      { seed: 29, numRuns: 2000 },
    );
  });
});

import { describe, expect, test } from "bun:test";
import { randomBelow, randomBytes, randomFraction, SeededRandom } from "./random_source.ts";

describe("SeededRandom", () => {
  test("is deterministic per seed and differs across seeds", () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xs);
    for (const x of xs) expect(Number.isInteger(x) && x >= 0 && x <= 0xffffffff).toBe(true);
  });

  test("randomBelow is uniform (chi-square over 10 buckets)", () => {
    const r = new SeededRandom(9);
    const n = 100_000;
    const counts = new Array(10).fill(0);
    for (let i = 0; i < n; i++) counts[randomBelow(r, 10)]++;
    const chi = counts.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
    expect(chi).toBeLessThan(27.9); // p = 0.001 for 9 degrees of freedom
  });

  test("randomBelow handles 1 and 2^32", () => {
    const r = new SeededRandom(1);
    expect(randomBelow(r, 1)).toBe(0);
    const x = randomBelow(r, 2 ** 32);
    expect(x >= 0 && x < 2 ** 32).toBe(true);
  });

  test("fractions and bytes", () => {
    const r = new SeededRandom(5);
    const f = randomFraction(r);
    expect(f >= 0 && f < 1).toBe(true);
    expect(randomBytes(r, new Uint8Array(7)).some((b) => b !== 0)).toBe(true);
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { TimerHeap } from "./_timer_heap.ts";

describe("TimerHeap", () => {
  test("pops in deadline order (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1e9 }), fc.nat()), { maxLength: 200 }), (pairs) => {
        const h = new TimerHeap();
        for (const [at, k] of pairs) h.push(at, k);
        const out: number[] = [];
        while (h.size > 0) {
          out.push(h.peekAt());
          h.pop();
        }
        expect(out).toEqual(pairs.map(([at]) => at).sort((a, b) => a - b));
        expect(h.peekAt()).toBe(Infinity);
      }),
      { seed: 8, numRuns: 200 },
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from "@serval/wire";
import { ReceiveBuffer, type ReceiveResult } from "./receive_buffer.ts";

function bytes(n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) & 0xff;
  return b;
}

function readAll(rb: ReceiveBuffer): number[] {
  const out = new Uint8Array(rb.readable);
  rb.read(out, 0, out.length);
  return [...out];
}

describe("ReceiveBuffer", () => {
  test("in-order delivery", () => {
    const rb = new ReceiveBuffer(10, 500);
    expect(rb.insert(500, bytes(4), 0, 4)).toBe("new");
    expect([rb.rcvNxt, rb.readable, rb.window, rb.rangeCount]).toEqual([504, 4, 6, 0]);
    expect(rb.sackBlocks()).toEqual([]);
    expect(readAll(rb)).toEqual([0, 1, 2, 3]);
    expect(rb.window).toBe(10);
  });

  test("out of order, gap fill, overlap: first copy wins", () => {
    const rb = new ReceiveBuffer(20, 0);
    expect(rb.insert(5, Uint8Array.of(1, 1, 1), 0, 3)).toBe("new"); // [5, 8)
    expect(rb.insert(6, Uint8Array.of(9, 9, 9, 9), 0, 4)).toBe("new"); // [6, 10): only 8, 9 new
    expect(rb.insert(5, Uint8Array.of(7, 7), 0, 2)).toBe("duplicate");
    expect([rb.rcvNxt, rb.readable, rb.rangeCount]).toEqual([0, 0, 1]);
    expect(rb.sackBlocks()).toEqual([[5, 10]]);
    expect(rb.window).toBe(20);
    expect(rb.insert(0, Uint8Array.of(2, 2, 2, 2, 2, 2, 2), 0, 7)).toBe("new"); // [0, 7) fills [0, 5)
    expect([rb.rcvNxt, rb.rangeCount]).toEqual([10, 0]);
    expect(readAll(rb)).toEqual([2, 2, 2, 2, 2, 1, 1, 1, 9, 9]);
  });

  test("old, beyond-window, trimmed and empty segments", () => {
    const rb = new ReceiveBuffer(8, 100);
    const d = bytes(20, 100);
    expect(rb.insert(100, d, 0, 4)).toBe("new");
    expect(rb.insert(96, d, 0, 4)).toBe("duplicate"); // entirely before rcvNxt
    expect(rb.insert(98, d, 0, 6)).toBe("duplicate"); // [98, 104) all held
    expect(rb.insert(108, d, 8, 2)).toBe("out-of-window"); // at the right edge
    expect(rb.insert(104, d, 4, 0)).toBe("empty");
    expect(rb.insert(102, d, 2, 12)).toBe("new"); // trimmed to [104, 108)
    expect([rb.rcvNxt, rb.readable, rb.window]).toEqual([108, 8, 0]);
    expect(rb.insert(108, d, 8, 1)).toBe("out-of-window"); // window closed
    const out = new Uint8Array(3);
    expect(rb.read(out, 0, 3)).toBe(3);
    expect(rb.window).toBe(3);
    expect(rb.insert(108, d, 8, 5)).toBe("new"); // trimmed to [108, 111)
    expect(readAll(rb)).toEqual([103, 104, 105, 106, 107, 108, 109, 110]);
  });

  test("SACK blocks: first = most recent segment's block, then most recent first (RFC 2018)", () => {
    const rb = new ReceiveBuffer(1000, 0);
    const d = new Uint8Array(10);
    rb.insert(100, d, 0, 10); // A [100, 110)
    rb.insert(300, d, 0, 10); // B [300, 310)
    rb.insert(500, d, 0, 10); // C [500, 510)
    expect(rb.sackBlocks()).toEqual([[500, 510], [300, 310], [100, 110]]);
    rb.insert(700, d, 0, 10); // D
    rb.insert(900, d, 0, 10); // E
    expect(rb.sackBlocks()).toEqual([[900, 910], [700, 710], [500, 510], [300, 310]]);
    rb.insert(110, d, 0, 10); // extends A
    expect(rb.sackBlocks(3)).toEqual([[100, 120], [900, 910], [700, 710]]);
    rb.insert(305, d, 0, 3); // duplicate inside B still reports B first
    expect(rb.sackBlocks(2)).toEqual([[300, 310], [100, 120]]);
    rb.insert(0, new Uint8Array(100), 0, 100); // fills the hole before A
    expect(rb.rcvNxt).toBe(120);
    expect(rb.sackBlocks()).toEqual([[300, 310], [900, 910], [700, 710], [500, 510]]);
    expect(rb.sackBlocks(0)).toEqual([]);
  });

  test("too many out-of-order ranges: dropped, but in-order data always fits", () => {
    const rb = new ReceiveBuffer(100, 0, 2);
    const d = new Uint8Array(4);
    expect(rb.insert(10, d, 0, 2)).toBe("new");
    expect(rb.insert(20, d, 0, 2)).toBe("new");
    expect(rb.insert(30, d, 0, 2)).toBe("too-fragmented");
    expect(rb.insert(12, d, 0, 2)).toBe("new"); // touches [10, 12)
    expect(rb.insert(0, d, 0, 2)).toBe("new"); // at rcvNxt
    expect([rb.rcvNxt, rb.rangeCount]).toEqual([2, 2]);
    expect(rb.sackBlocks()).toEqual([[10, 14], [20, 22]]);
  });

  test("works across the 2^32 wrap", () => {
    const rb = new ReceiveBuffer(16, 0xfffffffa);
    const d = bytes(12);
    expect(rb.insert(0xfffffffe, d, 4, 6)).toBe("new"); // [2^32-2, 4)
    expect(rb.sackBlocks()).toEqual([[0xfffffffe, 4]]);
    expect(rb.insert(0xfffffffa, d, 0, 4)).toBe("new");
    expect([rb.rcvNxt, rb.readable]).toEqual([4, 10]);
    expect(rb.insert(4, d, 10, 2)).toBe("new");
    expect(readAll(rb)).toEqual([...d]);
    expect(rb.insert(0xfffffff0, d, 0, 4)).toBe("duplicate");
    expect(rb.insert(22, d, 0, 4)).toBe("out-of-window"); // edge = 6 + 16
  });

  test("throws RangeError on programmer errors", () => {
    expect(() => new ReceiveBuffer(0, 0)).toThrow(RangeError);
    expect(() => new ReceiveBuffer(8, 2 ** 32)).toThrow(RangeError);
    expect(() => new ReceiveBuffer(8, 0, 0)).toThrow(RangeError);
    const rb = new ReceiveBuffer(8, 0);
    expect(() => rb.insert(0, new Uint8Array(4), 2, 3)).toThrow(/Cannot insert into ReceiveBuffer/);
    expect(() => rb.insert(0, new Uint8Array(4), -1, 1)).toThrow(RangeError);
    rb.insert(0, new Uint8Array(4), 0, 4);
    expect(() => rb.read(new Uint8Array(2), 0, 4)).toThrow(RangeError);
    expect(() => rb.read(new Uint8Array(8), -1, 4)).toThrow(RangeError);
  });

  const stats = { maxRanges: 0, multi: 0 };
  test("the ring grows while wrapped, with out-of-order data held, and keeps every byte in order", () => {
    const rb = new ReceiveBuffer(32, 0, 8, 4);
    rb.insert(0, new Uint8Array([1, 2, 3]), 0, 3);
    const out = new Uint8Array(16);
    expect(rb.read(out, 0, 2)).toBe(2); // head moves to 2
    rb.insert(5, new Uint8Array([6]), 0, 1); // out of order, wraps in the 4-byte ring
    rb.insert(6, new Uint8Array([7, 8, 9, 10]), 0, 4); // needs more room: grows while wrapped
    rb.insert(3, new Uint8Array([4, 5]), 0, 2); // fills the gap
    expect(rb.read(out, 0, 16)).toBe(8);
    expect([...out.subarray(0, 8)]).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test("a shuffled stream with duplicates and overlaps reassembles exactly (property)", () => {
    const scenario = fc
      .record({
        len: fc.integer({ min: 1, max: 400 }),
        cap: fc.integer({ min: 1, max: 160 }),
        maxRanges: fc.integer({ min: 1, max: 8 }),
        initialSize: fc.integer({ min: 1, max: 200 }),
        iss: fc.oneof(fc.constant(0xffffff00), fc.constant(0xffffffff), fc.nat(0xffffffff)),
        cuts: fc.array(fc.integer({ min: 0, max: 999 }), { maxLength: 40 }),
        extra: fc.array(fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 60 })), {
          maxLength: 20,
        }),
        keys: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 80, maxLength: 80 }),
        reads: fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 10 }),
      });
    fc.assert(
      fc.property(scenario, (sc) => {
        const stream = new Uint8Array(sc.len);
        for (let i = 0; i < sc.len; i++) stream[i] = (i * 7 + (i >> 8)) & 0xff;
        const points = [...new Set([0, sc.len, ...sc.cuts.map((c) => Math.floor((c * sc.len) / 1000))])].sort((a, b) =>
          a - b
        );
        const segs: [number, number][] = [];
        for (let i = 0; i + 1 < points.length; i++) segs.push([points[i]!, points[i + 1]!]);
        for (const [f, l] of sc.extra) {
          const a = Math.floor((f * sc.len) / 1000);
          segs.push([a, Math.min(sc.len, a + l)]);
        }
        for (let i = 0; i < segs.length; i += 3) segs.push(segs[i]!); // duplicates
        const order = segs.map((s, i) => ({ s, k: sc.keys[i % sc.keys.length]! * 1000 + i }));
        order.sort((x, y) => x.k - y.k);

        // Small initial sizes make the ring grow (and re-lay out) while ranges are held.
        const rb = new ReceiveBuffer(sc.cap, sc.iss, sc.maxRanges, sc.initialSize);
        const got: number[] = [];
        const out = new Uint8Array(64);
        let r = 0;
        for (let round = 0; got.length < sc.len; round++) {
          expect(round).toBeLessThan(10_000);
          for (const { s: [a, b] } of order) {
            const seq = seqAdd(sc.iss, a);
            const res: ReceiveResult = rb.insert(seq, stream, a, b - a);
            expect(res === "empty").toBe(a === b);
            // invariants
            expect(rb.readable).toBeGreaterThanOrEqual(0);
            expect(rb.window).toBeGreaterThanOrEqual(0);
            expect(rb.window + rb.readable).toBe(sc.cap);
            expect(seqDiff(rb.rcvNxt, sc.iss)).toBe(got.length + rb.readable);
            const blocks = rb.sackBlocks();
            stats.maxRanges = Math.max(stats.maxRanges, rb.rangeCount);
            if (blocks.length >= 2) stats.multi++;
            expect(blocks.length).toBeLessThanOrEqual(4);
            expect(blocks.length).toBe(Math.min(4, rb.rangeCount));
            for (const [l, rr] of blocks) {
              expect(seqGt(l, rb.rcvNxt)).toBe(true);
              expect(seqLt(l, rr)).toBe(true);
              expect(seqDiff(rr, rb.rcvNxt)).toBeLessThanOrEqual(sc.cap);
            }
            for (let i = 0; i < blocks.length; i++) {
              for (let j = i + 1; j < blocks.length; j++) {
                const [l1, r1] = blocks[i]!, [l2, r2] = blocks[j]!;
                expect(seqLt(r1, l2) || seqLt(r2, l1)).toBe(true); // disjoint, not even adjacent
              }
            }
            if ((res === "new" || res === "duplicate") && seqGt(seq, rb.rcvNxt)) {
              const [l, rr] = blocks[0]!;
              expect(seqLe(l, seq) && seqLt(seq, rr)).toBe(true);
            }
            const n = rb.read(out, 0, sc.reads[r++ % sc.reads.length]!);
            got.push(...out.subarray(0, n));
          }
          const n = rb.readable;
          const rest = new Uint8Array(n);
          rb.read(rest, 0, n);
          got.push(...rest);
        }
        expect(got.length).toBe(sc.len);
        expect(new Uint8Array(got)).toEqual(stream);
        expect(rb.rangeCount).toBe(0);
      }),
      { seed: 1, numRuns: 300 },
    );
    // Coverage guard: the runs did exercise several out-of-order ranges.
    expect(stats.maxRanges).toBeGreaterThanOrEqual(3);
    expect(stats.multi).toBeGreaterThan(100);
  });
});

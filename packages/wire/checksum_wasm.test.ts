import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { checksumAdd, checksumBuffer, checksumFinish, internetChecksum } from "@serval/wire";

describe("checksumBuffer + checksumAdd (WebAssembly SIMD path)", () => {
  const heap = checksumBuffer(1 << 16);

  test("sums like the JavaScript path for any offset, length and running sum", () => {
    // Under Bun the buffer lives in the module's 64 MiB memory (else this test compares the JS path with itself).
    if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") expect(heap.buffer.byteLength).toBe(1024 * 65536);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 4000 }),
        fc.nat(63),
        fc.nat(0xffffff),
        (data, shift, sum) => {
          heap.set(data, shift);
          const plain = new Uint8Array(data);
          const view = heap.subarray(shift, shift + data.length);
          const a = checksumFinish(checksumAdd(view, 0, data.length, sum));
          const b = checksumFinish(checksumAdd(plain, 0, data.length, sum));
          expect(a).toBe(b);
          // Pieces, as callers sum pseudo-header, header and payload.
          const cut = data.length & ~1 & 0xffe;
          const c = checksumFinish(checksumAdd(view, cut, data.length - cut, checksumAdd(view, 0, cut, sum)));
          expect(c).toBe(b);
        },
      ),
      { numRuns: 500, seed: 6 },
    );
  });

  test("a segment with its checksum filled in verifies to 0 in both memories", () => {
    const seg = heap.subarray(1001, 1001 + 1468);
    for (let i = 0; i < seg.length; i++) seg[i] = (i * 37 + 11) & 255;
    seg[16] = 0;
    seg[17] = 0;
    const c = internetChecksum(seg, 0, seg.length);
    seg[16] = c >> 8;
    seg[17] = c & 0xff;
    expect(internetChecksum(seg, 0, seg.length)).toBe(0);
    expect(internetChecksum(seg.slice(), 0, seg.length)).toBe(0);
  });

  test("hands out zeroed, distinct buffers; size 0 and huge requests get ordinary arrays", () => {
    const a = checksumBuffer(100);
    const b = checksumBuffer(100);
    expect(a.every((x) => x === 0)).toBe(true);
    a.fill(7);
    expect(b.every((x) => x === 0)).toBe(true);
    expect(checksumBuffer(0).length).toBe(0);
    const big = checksumBuffer((64 << 20) + 1);
    expect(big.length).toBe((64 << 20) + 1);
    expect(big.buffer).not.toBe(a.buffer);
  });
});

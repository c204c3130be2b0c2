import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fromHex } from "./bytes.ts";
import { checksumAdd, checksumFinish, internetChecksum, pseudoHeaderSum } from "./checksum.ts";

/** The textbook definition, one word at a time, folded every step: the oracle. */
function oracle(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) {
    s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

describe("internetChecksum()", () => {
  test("RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2", () => {
    expect(internetChecksum(fromHex("0001f203f4f5f6f7"), 0, 8)).toBe(~0xddf2 & 0xffff);
  });

  test("a real IPv4 header verifies to 0", () => {
    // 45 00 0073 0000 4000 40 11 b861 c0a8 0001 c0a8 00c7: the well-known example header.
    expect(internetChecksum(fromHex("450000730000400040 11b861c0a80001c0a800c7"), 0, 20)).toBe(0);
  });

  test("odd length pads with a zero byte", () => {
    expect(internetChecksum(fromHex("0102 03"), 0, 3)).toBe(~(0x0102 + 0x0300) & 0xffff);
  });

  test("agrees with the oracle and is split-invariant at even cuts (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), (b, cut) => {
        expect(internetChecksum(b, 0, b.length)).toBe(oracle(b));
        const c = Math.min(b.length, cut % (b.length + 1)) & ~1;
        expect(checksumFinish(checksumAdd(b, c, b.length - c, checksumAdd(b, 0, c, 0)))).toBe(oracle(b));
      }),
      { seed: 17, numRuns: 500 },
    );
  });

  test("large inputs do not overflow the running sum", () => {
    const b = new Uint8Array(1 << 20).fill(0xff);
    expect(internetChecksum(b, 0, b.length)).toBe(oracle(b));
  });
});

describe("pseudoHeaderSum()", () => {
  test("IPv4: addresses, zero, protocol, length", () => {
    const src = fromHex("c6120001");
    const dst = fromHex("c6120102");
    const byHand = fromHex("c6120001 c6120102 00 11 0008");
    expect(checksumFinish(pseudoHeaderSum(src, dst, 17, 8, 0))).toBe(oracle(byHand));
  });

  test("IPv6: 32-bit length and next header", () => {
    const src = fromHex("20010db8000000000000000000000001");
    const dst = fromHex("20010db8000000000000000000000002");
    const byHand = fromHex(
      "20010db8000000000000000000000001 20010db8000000000000000000000002 00010004 000000 06",
    );
    expect(checksumFinish(pseudoHeaderSum(src, dst, 6, 0x10004, 0))).toBe(oracle(byHand));
  });

  test("any offset, length, alignment and running sum agrees with a byte-by-byte reference (property)", () => {
    const naive = (b: Uint8Array, off: number, len: number, sum: number) => {
      let x = sum;
      for (let i = 0; i < len; i += 2) x += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
      return x;
    };
    fc.assert(
      fc.property(
        // fast-check keeps arrays small by default: force long ones, where the word path runs.
        fc.uint8Array({ minLength: 1, maxLength: 3000, size: "max" }),
        fc.nat(7),
        fc.nat(),
        fc.nat(),
        fc.nat(0xfffff),
        (raw, shift, o, l, sum) => {
          // `shift` moves the data within its ArrayBuffer: every alignment is tried.
          const backing = new Uint8Array(raw.length + 8);
          backing.set(raw, shift);
          const b = backing.subarray(shift, shift + raw.length);
          const off = o % b.length;
          const len = l % (b.length - off + 1);
          expect(checksumFinish(checksumAdd(b, off, len, sum))).toBe(checksumFinish(naive(b, off, len, sum)));
        },
      ),
      { seed: 7, numRuns: 2000 },
    );
  });
});

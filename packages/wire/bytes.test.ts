import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { bytesEqual, fromHex, readU16, readU32, toHex, writeU16, writeU32 } from "./bytes.ts";

describe("big-endian fields", () => {
  test("golden", () => {
    const b = fromHex("12345678 9a");
    expect(readU16(b, 0)).toBe(0x1234);
    expect(readU32(b, 1)).toBe(0x3456789a);
    const w = new Uint8Array(6);
    writeU16(w, 0, 0xabcd);
    writeU32(w, 2, 0xfedcba98);
    expect(toHex(w)).toBe("abcdfedcba98");
  });

  test("write then read is the identity (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
        const w = new Uint8Array(6);
        writeU32(w, 0, a);
        writeU16(w, 4, b);
        expect(readU32(w, 0)).toBe(a);
        expect(readU16(w, 4)).toBe(b);
      }),
      { seed: 31, numRuns: 500 },
    );
  });
});

describe("hex and equality", () => {
  test("fromHex ignores spaces, refuses odd or non-hex input", () => {
    expect(toHex(fromHex("0a ff"))).toBe("0aff");
    expect(() => fromHex("abc")).toThrow(RangeError);
    expect(() => fromHex("zz")).toThrow(RangeError);
  });

  test("bytesEqual compares ranges", () => {
    const a = fromHex("01020304");
    expect(bytesEqual(a, 1, fromHex("0203"), 0, 2)).toBe(true);
    expect(bytesEqual(a, 0, fromHex("0203"), 0, 2)).toBe(false);
  });
});

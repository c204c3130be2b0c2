/**
 * Plain typed-array helpers for big-endian fields (network byte order).
 * They replace `@std/bytes`, which is published only on JSR.
 *
 * All helpers read or write in place over `(buf, off)`; none allocates,
 * except the hex helpers, which are for text, not for the packet path.
 *
 * @module
 */

/**
 * Reads a big-endian unsigned 16-bit integer.
 *
 * @param buf The bytes.
 * @param off Offset of the first byte.
 * @returns The value, 0..65535.
 *
 * @example Read a port
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readU16(new Uint8Array([0xd4, 0x35]), 0), 54325);
 * ```
 */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

/**
 * Reads a big-endian unsigned 32-bit integer.
 *
 * @param buf The bytes.
 * @param off Offset of the first byte.
 * @returns The value, 0..2^32-1.
 *
 * @example Read a flowID
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readU32(new Uint8Array([0xff, 0, 0, 1]), 0), 0xff000001);
 * ```
 */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * Writes a big-endian unsigned 16-bit integer (the value is taken modulo 2^16).
 *
 * @param buf The bytes.
 * @param off Offset of the first byte.
 * @param v The value.
 *
 * @example Write a length
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(2);
 * writeU16(b, 0, 0x1234);
 * assertEquals([...b], [0x12, 0x34]);
 * ```
 */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/**
 * Writes a big-endian unsigned 32-bit integer (the value is taken modulo 2^32).
 *
 * @param buf The bytes.
 * @param off Offset of the first byte.
 * @param v The value.
 *
 * @example Write a verno
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(4);
 * writeU32(b, 0, 0xdeadbeef);
 * assertEquals([...b], [0xde, 0xad, 0xbe, 0xef]);
 * ```
 */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

/**
 * Compares two byte ranges for equality.
 *
 * @param a First buffer.
 * @param aOff Offset in `a`.
 * @param b Second buffer.
 * @param bOff Offset in `b`.
 * @param len Number of bytes to compare.
 * @returns `true` when the ranges hold the same bytes.
 *
 * @example Compare two addresses
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(bytesEqual(new Uint8Array([1, 2, 3]), 1, new Uint8Array([2, 3]), 0, 2), true);
 * ```
 */
export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

const HEX = "0123456789abcdef";

/**
 * Formats bytes as lowercase hex, two digits a byte.
 *
 * @param buf The bytes.
 * @param off First byte (default 0).
 * @param len Number of bytes (default: to the end).
 * @returns The hex text.
 *
 * @example Format a nonce
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(toHex(new Uint8Array([0x0a, 0xff])), "0aff");
 * ```
 */
export function toHex(buf: Uint8Array, off = 0, len = buf.length - off): string {
  let s = "";
  for (let i = off; i < off + len; i++) s += HEX[buf[i]! >> 4]! + HEX[buf[i]! & 15]!;
  return s;
}

/**
 * Parses hex text (even length, either case, no prefix) into bytes.
 *
 * @param text The hex text.
 * @returns The bytes.
 * @throws {RangeError} When the text is not an even number of hex digits.
 *
 * @example Parse golden bytes
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([...fromHex("0aFF")], [10, 255]);
 * ```
 */
export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new RangeError(`Cannot parse hex "${text}": expected an even number of hex digits`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

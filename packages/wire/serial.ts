/**
 * Serial-number arithmetic on 32-bit sequence numbers (RFC 1982): SAL verno
 * and ackno (facts §2.6) and TCP sequence numbers compare wrap-safe, by the
 * sign of the 32-bit difference.
 *
 * @module
 */

/**
 * `a - b` as a signed 32-bit number: negative when `a` is before `b`.
 *
 * @param a A sequence number (u32).
 * @param b A sequence number (u32).
 * @returns The signed distance from `b` to `a`.
 *
 * @example Across the wrap
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqDiff(1, 0xffffffff), 2);
 * ```
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * `a` is strictly before `b`.
 *
 * @example Across the wrap
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqLt(0xfffffff0, 5), true);
 * ```
 */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/**
 * `a` is before `b` or equal to it.
 *
 * @example Equal numbers
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqLe(7, 7), true);
 * ```
 */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/**
 * `a` is strictly after `b`.
 *
 * @example Across the wrap
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqGt(3, 0xffffffff), true);
 * ```
 */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/**
 * `a` is after `b` or equal to it.
 *
 * @example Across the wrap
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqGe(0, 0xffffffff), true);
 * ```
 */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/**
 * `a + n` modulo 2^32.
 *
 * @example Wraps to zero
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqAdd(0xffffffff, 1), 0);
 * ```
 */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * `lo <= x <= hi` in serial arithmetic (the window from `lo` to `hi`).
 *
 * @example An ackno inside [snd_una, snd_nxt]
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(seqBetween(0xfffffffe, 0, 2), true);
 * ```
 */
export function seqBetween(lo: number, x: number, hi: number): boolean {
  return ((x - lo) >>> 0) <= ((hi - lo) >>> 0);
}

/**
 * FlowIDs (facts §1.4): 32-bit, locally significant names of one end of a
 * flow. Each endpoint picks its own; the peer echoes it as `dst_flowid`.
 * 0 means "none" (the SYN's destination, unconnected datagrams).
 *
 * @module
 */

/** A flowID: an unsigned 32-bit integer. */
export type FlowId = number;

/** The reserved flowID meaning "none". */
export const FLOW_ID_NONE: FlowId = 0;

/**
 * Whether `n` is a flowID that can name a flow (a u32 other than 0).
 *
 * @param n The number to check.
 * @returns `true` for 1..2^32-1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(isFlowId(0), false);
 * assertEquals(isFlowId(0xffffffff), true);
 * ```
 */
export function isFlowId(n: number): n is FlowId {
  return Number.isInteger(n) && n > 0 && n <= 0xffffffff;
}

/**
 * Parses a flowID written as unsigned decimal (how the 2012 tools print it)
 * or `0x` hex.
 *
 * @param text The text.
 * @returns The flowID.
 * @throws {RangeError} When the text is not a valid non-zero flowID.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseFlowId("0x10"), 16);
 * ```
 */
export function parseFlowId(text: string): FlowId {
  const n = /^[0-9]{1,10}$/.test(text) ? Number(text) : /^0[xX][0-9a-fA-F]{1,8}$/.test(text) ? parseInt(text, 16) : NaN;
  if (!isFlowId(n)) {
    throw new RangeError(`Cannot parse flowID "${text}": expected a decimal or 0x number in 1..4294967295`);
  }
  return n;
}

/**
 * Formats a flowID as unsigned decimal.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(formatFlowId(0xffffffff), "4294967295");
 * ```
 */
export function formatFlowId(id: FlowId): string {
  return String(id >>> 0);
}

/**
 * Why a packet was dropped. Parsers of untrusted bytes return one of these
 * string literals instead of throwing; the driver counts drops by reason.
 * Returning a string allocates nothing.
 *
 * @module
 */

/**
 * Every reason a wire parser can give for refusing bytes.
 *
 * - `truncated`: the buffer ends before the structure does.
 * - `bad-length`: a length field is impossible (too small for the type,
 *   not a multiple of the unit, or disagrees with another length).
 * - `header-overrun`: a header length points beyond the packet.
 * - `bad-checksum`: the Internet checksum does not verify.
 * - `bad-version`: an IP version nibble is not the expected one.
 * - `bad-protocol`: the SAL `protocol` field names no transport we carry.
 * - `unknown-extension`: a SAL extension type this version does not know.
 * - `second-control`: a second CONTROL extension (facts §2.3).
 * - `too-many-services`: a third SERVICE extension (facts §2.3).
 * - `second-source`: a second SOURCE, LOCATOR or ADDRESS extension.
 * - `too-many-extensions`: more than {@linkcode SAL_MAX_EXTENSIONS} extensions.
 * - `bad-source`: a SOURCE or LOCATOR extension with too few entries or a bad entry.
 * - `bad-option`: a malformed TCP option.
 * - `fragment`: an IP fragment (Serval packets are never fragmented).
 * - `not-serval`: a frame or packet that does not carry SAL.
 * - `bad-address`: an address field that cannot be a unicast source.
 * - `bad-ethertype`: an Ethernet type field below 0x0600 (an IEEE 802.3
 *   length, not an EtherType).
 * - `unknown-message`: a control message type this version does not know.
 *
 * @example Drops are values, not exceptions
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const reason: DropReason = "truncated";
 * assertEquals(DROP_REASONS.includes(reason), true);
 * ```
 */
export type DropReason =
  | "truncated"
  | "bad-length"
  | "header-overrun"
  | "bad-checksum"
  | "bad-version"
  | "bad-protocol"
  | "unknown-extension"
  | "second-control"
  | "too-many-services"
  | "second-source"
  | "too-many-extensions"
  | "bad-source"
  | "bad-option"
  | "fragment"
  | "not-serval"
  | "bad-address"
  | "bad-ethertype"
  | "unknown-message";

/**
 * All drop reasons, in a stable order, for counters and reports.
 *
 * @example Build a counter per reason
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const counts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0]));
 * assertEquals(counts["bad-checksum"], 0);
 * ```
 */
export const DROP_REASONS: readonly DropReason[] = [
  "truncated",
  "bad-length",
  "header-overrun",
  "bad-checksum",
  "bad-version",
  "bad-protocol",
  "unknown-extension",
  "second-control",
  "too-many-services",
  "second-source",
  "too-many-extensions",
  "bad-source",
  "bad-option",
  "fragment",
  "not-serval",
  "bad-address",
  "bad-ethertype",
  "unknown-message",
];

/**
 * Tells a parse result from a drop reason.
 *
 * @param r The result of a `parse*` function.
 * @returns `true` when `r` is a {@linkcode DropReason}.
 *
 * @example Narrow a parse result
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: number | DropReason = "truncated";
 * assertEquals(isDrop(r), true);
 * ```
 */
export function isDrop<T>(r: T | DropReason): r is DropReason {
  return typeof r === "string";
}

/**
 * The Ethernet II header (IEEE 802.3 §3.1.1 with an EtherType, RFC 894):
 * destination MAC, source MAC, EtherType. 14 bytes; the FCS is the NIC's.
 *
 * Serval frames carry IPv4 (EtherType 0x0800) or IPv6 (0x86dd); the original
 * stack defined `ETH_P_SERVAL` = 0x0809 but never used it (facts §1.1), so
 * SAL always rides inside IP.
 *
 * Views (`readEthernet*`/`writeEthernet*`) read and write fields in place over
 * `(buf, off)` without checks; check the length first (or use
 * {@linkcode parseEthernet}) on bytes from the network.
 *
 * @module
 */

import type { DropReason } from "./drop_reason.ts";
import { readU16, writeU16 } from "./bytes.ts";

/**
 * Length of a MAC address in bytes.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(MAC_LEN, 6);
 * ```
 */
export const MAC_LEN = 6;

/**
 * Offset of the destination MAC address.
 *
 * @example Byte 0 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERNET_DST_OFFSET, 0);
 * ```
 */
export const ETHERNET_DST_OFFSET = 0;

/**
 * Offset of the source MAC address.
 *
 * @example Byte 6 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERNET_SRC_OFFSET, 6);
 * ```
 */
export const ETHERNET_SRC_OFFSET: number = ETHERNET_DST_OFFSET + MAC_LEN;

/**
 * Offset of the 16-bit EtherType.
 *
 * @example Byte 12 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERNET_ETHERTYPE_OFFSET, 12);
 * ```
 */
export const ETHERNET_ETHERTYPE_OFFSET: number = ETHERNET_SRC_OFFSET + MAC_LEN;

/**
 * Length of the Ethernet II header: 14 bytes.
 *
 * @example The header is 14 bytes
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERNET_HEADER_LEN, 14);
 * ```
 */
export const ETHERNET_HEADER_LEN: number = ETHERNET_ETHERTYPE_OFFSET + 2;

/**
 * EtherType of IPv4 (RFC 894).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERTYPE_IPV4, 0x0800);
 * ```
 */
export const ETHERTYPE_IPV4 = 0x0800;

/**
 * EtherType of ARP (RFC 826).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERTYPE_ARP, 0x0806);
 * ```
 */
export const ETHERTYPE_ARP = 0x0806;

/**
 * EtherType of IPv6 (RFC 2464).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ETHERTYPE_IPV6, 0x86dd);
 * ```
 */
export const ETHERTYPE_IPV6 = 0x86dd;

/**
 * Smallest EtherType. Values up to 1500 (0x05dc) are IEEE 802.3 length
 * fields, not types, and 0x05dd..0x05ff are undefined (IEEE 802.3 §3.2.6).
 *
 * @example An 802.3 length is not an EtherType
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(1500 < ETHERTYPE_MIN, true);
 * ```
 */
export const ETHERTYPE_MIN = 0x0600;

/**
 * The broadcast MAC address ff:ff:ff:ff:ff:ff (Serval discovery announces to it).
 *
 * **Gotchas**: a shared array; never write into it. Copy it with `.slice()`
 * to get one you may change.
 *
 * @example Address a broadcast frame
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(formatMac(BROADCAST_MAC), "ff:ff:ff:ff:ff:ff");
 * ```
 */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * An Ethernet II header, already validated.
 *
 * `dst` and `src` are 6-byte arrays that never alias a packet buffer.
 *
 * @example A broadcast IPv6 frame header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: EthernetRepr = { dst: BROADCAST_MAC, src: parseMac("02:00:00:00:00:01"), ethertype: ETHERTYPE_IPV6 };
 * assertEquals(ethernetHeaderLen(r), 14);
 * ```
 */
export interface EthernetRepr {
  /** Destination MAC address (6 bytes). */
  readonly dst: Uint8Array;
  /** Source MAC address (6 bytes). */
  readonly src: Uint8Array;
  /** EtherType, {@linkcode ETHERTYPE_MIN}..0xffff. */
  readonly ethertype: number;
}

/**
 * Reads the destination MAC as a view into `buf` (no copy).
 *
 * **Performance**: allocates one `subarray` view object, no bytes.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @returns A 6-byte view that aliases `buf`.
 *
 * @example Read the destination
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array(14).fill(0xff);
 * assertEquals(formatMac(readEthernetDst(f, 0)), "ff:ff:ff:ff:ff:ff");
 * ```
 */
export function readEthernetDst(buf: Uint8Array, off: number): Uint8Array {
  return buf.subarray(off + ETHERNET_DST_OFFSET, off + ETHERNET_DST_OFFSET + MAC_LEN);
}

/**
 * Writes the destination MAC.
 *
 * Allocation: none.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @param mac A 6-byte MAC address (bytes beyond 6 are ignored).
 *
 * @example Address a broadcast
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array(14);
 * writeEthernetDst(f, 0, BROADCAST_MAC);
 * assertEquals(f[5], 0xff);
 * ```
 */
export function writeEthernetDst(buf: Uint8Array, off: number, mac: Uint8Array): void {
  for (let i = 0; i < MAC_LEN; i++) buf[off + ETHERNET_DST_OFFSET + i] = mac[i]!;
}

/**
 * Reads the source MAC as a view into `buf` (no copy).
 *
 * **Performance**: allocates one `subarray` view object, no bytes.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @returns A 6-byte view that aliases `buf`.
 *
 * @example Read the source
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array(14);
 * f[11] = 1;
 * assertEquals(formatMac(readEthernetSrc(f, 0)), "00:00:00:00:00:01");
 * ```
 */
export function readEthernetSrc(buf: Uint8Array, off: number): Uint8Array {
  return buf.subarray(off + ETHERNET_SRC_OFFSET, off + ETHERNET_SRC_OFFSET + MAC_LEN);
}

/**
 * Writes the source MAC.
 *
 * Allocation: none.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @param mac A 6-byte MAC address (bytes beyond 6 are ignored).
 *
 * @example Set the source
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array(14);
 * writeEthernetSrc(f, 0, parseMac("02:00:00:00:00:01"));
 * assertEquals([...f.subarray(6, 12)], [2, 0, 0, 0, 0, 1]);
 * ```
 */
export function writeEthernetSrc(buf: Uint8Array, off: number, mac: Uint8Array): void {
  for (let i = 0; i < MAC_LEN; i++) buf[off + ETHERNET_SRC_OFFSET + i] = mac[i]!;
}

/**
 * Reads the EtherType.
 *
 * Allocation: none.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @returns The EtherType (or an 802.3 length, when below {@linkcode ETHERTYPE_MIN}).
 *
 * @example Dispatch on the EtherType
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array(14);
 * f[12] = 0x86; f[13] = 0xdd;
 * assertEquals(readEthernetEthertype(f, 0), ETHERTYPE_IPV6);
 * ```
 */
export function readEthernetEthertype(buf: Uint8Array, off: number): number {
  return readU16(buf, off + ETHERNET_ETHERTYPE_OFFSET);
}

/**
 * Writes the EtherType.
 *
 * Allocation: none.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @param v The EtherType (taken modulo 2^16).
 *
 * @example Mark a frame as IPv4
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array(14);
 * writeEthernetEthertype(f, 0, ETHERTYPE_IPV4);
 * assertEquals([f[12], f[13]], [0x08, 0x00]);
 * ```
 */
export function writeEthernetEthertype(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + ETHERNET_ETHERTYPE_OFFSET, v);
}

/**
 * Parses an Ethernet II header from untrusted bytes. Never throws.
 *
 * **Details**: drops `"truncated"` when fewer than 14 bytes are available and
 * `"bad-ethertype"` when the type field is below {@linkcode ETHERTYPE_MIN}
 * (an IEEE 802.3 length field: an LLC frame, not Ethernet II). The payload
 * starts at `off + ETHERNET_HEADER_LEN`; the FCS is not expected in `buf`.
 *
 * **Performance**: allocates the repr and copies of the two MACs, so the repr
 * outlives a reused receive buffer.
 *
 * @param buf The frame.
 * @param off Offset of the Ethernet header.
 * @param len Bytes available from `off` (default: to the end of `buf`).
 * @returns The header, or why it was dropped.
 *
 * @example Parse a broadcast IPv4 frame
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = new Uint8Array([255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
 * const r = parseEthernet(f, 0);
 * assertEquals(typeof r === "string" ? r : r.ethertype, ETHERTYPE_IPV4);
 * assertEquals(parseEthernet(f, 0, 13), "truncated");
 * ```
 */
export function parseEthernet(buf: Uint8Array, off: number, len: number = buf.length - off): EthernetRepr | DropReason {
  if (len < ETHERNET_HEADER_LEN || off < 0 || off + ETHERNET_HEADER_LEN > buf.length) return "truncated";
  const ethertype = readEthernetEthertype(buf, off);
  if (ethertype < ETHERTYPE_MIN) return "bad-ethertype";
  return {
    dst: buf.slice(off + ETHERNET_DST_OFFSET, off + ETHERNET_DST_OFFSET + MAC_LEN),
    src: buf.slice(off + ETHERNET_SRC_OFFSET, off + ETHERNET_SRC_OFFSET + MAC_LEN),
    ethertype,
  };
}

/**
 * The number of bytes {@linkcode emitEthernet} writes: always 14.
 *
 * @param _repr The header (Ethernet II has no variable part).
 * @returns {@linkcode ETHERNET_HEADER_LEN}.
 *
 * @example Room for a frame
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r = { dst: BROADCAST_MAC, src: new Uint8Array(6), ethertype: ETHERTYPE_IPV4 };
 * assertEquals(ethernetHeaderLen(r) + 20, 34);
 * ```
 */
export function ethernetHeaderLen(_repr: EthernetRepr): number {
  return ETHERNET_HEADER_LEN;
}

/**
 * Writes an Ethernet II header into a caller-lent buffer.
 *
 * Allocation: none. Borrows `buf` until return.
 *
 * @param repr The header.
 * @param buf The frame buffer.
 * @param off Where the header starts.
 * @returns Bytes written (14).
 * @throws {RangeError} When `buf` lacks 14 bytes at `off`, a MAC is not 6
 *   bytes, or the EtherType is outside {@linkcode ETHERTYPE_MIN}..0xffff.
 *
 * @example Emit, then parse back
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const repr = { dst: BROADCAST_MAC, src: parseMac("02:00:00:00:00:01"), ethertype: ETHERTYPE_IPV6 };
 * const f = new Uint8Array(14);
 * assertEquals(emitEthernet(repr, f, 0), 14);
 * assertEquals(parseEthernet(f, 0), repr);
 * ```
 */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off: number): number {
  if (!Number.isInteger(off) || off < 0 || off + ETHERNET_HEADER_LEN > buf.length) {
    throw new RangeError(
      `Cannot emit Ethernet header: needs ${ETHERNET_HEADER_LEN} bytes at offset ${off}, buffer has ${buf.length}`,
    );
  }
  if (repr.dst.length !== MAC_LEN) {
    throw new RangeError(`Cannot emit Ethernet header: destination MAC is ${repr.dst.length} bytes, must be 6`);
  }
  if (repr.src.length !== MAC_LEN) {
    throw new RangeError(`Cannot emit Ethernet header: source MAC is ${repr.src.length} bytes, must be 6`);
  }
  const t = repr.ethertype;
  if (!Number.isInteger(t) || t < ETHERTYPE_MIN || t > 0xffff) {
    throw new RangeError(`Cannot emit Ethernet header: EtherType is ${t}, must be 0x0600..0xffff`);
  }
  writeEthernetDst(buf, off, repr.dst);
  writeEthernetSrc(buf, off, repr.src);
  writeEthernetEthertype(buf, off, t);
  return ETHERNET_HEADER_LEN;
}

const HEX = "0123456789abcdef";

/**
 * Formats 6 bytes as a MAC address: lowercase hex pairs joined by `:`.
 *
 * @param buf The bytes.
 * @param off Offset of the first byte (default 0).
 * @returns The text, for example `"02:00:00:00:00:01"`.
 * @throws {RangeError} When `buf` has fewer than 6 bytes at `off`.
 *
 * @example Format a source address
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(formatMac(new Uint8Array([2, 0, 0, 0, 0xab, 1])), "02:00:00:00:ab:01");
 * ```
 */
export function formatMac(buf: Uint8Array, off = 0): string {
  if (!Number.isInteger(off) || off < 0 || off + MAC_LEN > buf.length) {
    throw new RangeError(`Cannot format MAC address: needs 6 bytes at offset ${off}, buffer has ${buf.length}`);
  }
  let s = "";
  for (let i = 0; i < MAC_LEN; i++) {
    const b = buf[off + i]!;
    if (i > 0) s += ":";
    s += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

const MAC_TEXT = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/**
 * Parses a MAC address: six pairs of hex digits (either case) separated by
 * `:` or, consistently, by `-` (the IEEE 802 canonical form).
 *
 * @param text The address text.
 * @returns A new 6-byte array.
 * @throws {RangeError} When `text` is not a MAC address.
 *
 * @example Both separators
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseMac("02-00-00-00-AB-01"), parseMac("02:00:00:00:ab:01"));
 * ```
 */
export function parseMac(text: string): Uint8Array {
  if (!MAC_TEXT.test(text)) {
    throw new RangeError(`Cannot parse MAC address "${text}": expected 6 hex octets separated by ":" or "-"`);
  }
  const out = new Uint8Array(MAC_LEN);
  for (let i = 0; i < MAC_LEN; i++) out[i] = parseInt(text.slice(3 * i, 3 * i + 2), 16);
  return out;
}

/**
 * The IPv4 header (RFC 791 §3.1). Serval carries the SAL header directly over
 * IPv4 with protocol {@linkcode IPPROTO_SERVAL} (facts §1.1, §2.1), or inside
 * UDP when encapsulated.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * |         Identification        |Flags|     Fragment Offset     |
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * |                       Source Address                          |
 * |                    Destination Address                        |
 * |                    Options (IHL > 5)                          |
 * ```
 *
 * Views (`readIpv4*`/`writeIpv4*`) read and write fields in place without
 * checks; a forwarder uses them (and {@linkcode decrementIpv4Ttl}) instead of
 * building a repr. {@linkcode parseIpv4Header} validates untrusted bytes.
 *
 * The repr is named `Ipv4Repr`, but the functions are `parseIpv4Header` and
 * `emitIpv4Header` because `parseIpv4` parses address text (ip_address.ts).
 *
 * @module
 */

import type { DropReason } from "./drop_reason.ts";
import { readU16, writeU16 } from "./bytes.ts";
import { checksumAdd, checksumFinish } from "./checksum.ts";

/**
 * IP protocol number of SAL directly over IP (facts §1.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPPROTO_SERVAL, 144);
 * ```
 */
export const IPPROTO_SERVAL = 144;

/**
 * Length of an IPv4 address in bytes.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_ADDR_LEN, 4);
 * ```
 */
export const IPV4_ADDR_LEN = 4;

/**
 * Offset of the byte holding version (high nibble) and IHL (low nibble).
 *
 * @example Byte 0 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_VERSION_IHL_OFFSET, 0);
 * ```
 */
export const IPV4_VERSION_IHL_OFFSET = 0;

/**
 * Offset of the byte holding DSCP (high 6 bits) and ECN (low 2 bits), RFC 2474 / RFC 3168.
 *
 * @example Byte 1 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_DSCP_ECN_OFFSET, 1);
 * ```
 */
export const IPV4_DSCP_ECN_OFFSET = 1;

/**
 * Offset of the 16-bit total length (header + payload, bytes).
 *
 * @example Byte 2 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_TOTAL_LEN_OFFSET, 2);
 * ```
 */
export const IPV4_TOTAL_LEN_OFFSET = 2;

/**
 * Offset of the 16-bit identification.
 *
 * @example Byte 4 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_IDENT_OFFSET, 4);
 * ```
 */
export const IPV4_IDENT_OFFSET = 4;

/**
 * Offset of the 16-bit word holding the flags (3 bits) and fragment offset (13 bits).
 *
 * @example Byte 6 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_FLAGS_FRAG_OFFSET, 6);
 * ```
 */
export const IPV4_FLAGS_FRAG_OFFSET = 6;

/**
 * Offset of the TTL byte.
 *
 * @example Byte 8 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_TTL_OFFSET, 8);
 * ```
 */
export const IPV4_TTL_OFFSET = 8;

/**
 * Offset of the protocol byte.
 *
 * @example Byte 9 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_PROTOCOL_OFFSET, 9);
 * ```
 */
export const IPV4_PROTOCOL_OFFSET = 9;

/**
 * Offset of the 16-bit header checksum.
 *
 * @example Byte 10 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_CHECKSUM_OFFSET, 10);
 * ```
 */
export const IPV4_CHECKSUM_OFFSET = 10;

/**
 * Offset of the source address.
 *
 * @example Byte 12 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_SRC_OFFSET, 12);
 * ```
 */
export const IPV4_SRC_OFFSET = 12;

/**
 * Offset of the destination address.
 *
 * @example Byte 16 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_DST_OFFSET, 16);
 * ```
 */
export const IPV4_DST_OFFSET: number = IPV4_SRC_OFFSET + IPV4_ADDR_LEN;

/**
 * Length of an IPv4 header without options: 20 bytes (IHL 5).
 *
 * @example The minimal header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_HEADER_LEN, 20);
 * ```
 */
export const IPV4_HEADER_LEN: number = IPV4_DST_OFFSET + IPV4_ADDR_LEN;

/**
 * "Don't Fragment" bit of the flags/fragment word (RFC 791 §3.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_FLAG_DF, 0x4000);
 * ```
 */
export const IPV4_FLAG_DF = 0x4000;

/**
 * "More Fragments" bit of the flags/fragment word.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_FLAG_MF, 0x2000);
 * ```
 */
export const IPV4_FLAG_MF = 0x2000;

/**
 * Mask of the 13-bit fragment offset (in 8-byte units) in the flags/fragment word.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV4_FRAG_OFFSET_MASK, 0x1fff);
 * ```
 */
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

/**
 * An IPv4 header, already validated: a whole, unfragmented datagram.
 *
 * **Canonical form** (so `parseIpv4Header(emitIpv4Header(r))` deep-equals
 * `r`): `dscp`, `ecn` and `ident` are present only when non-zero. Version,
 * IHL, total length, flags and checksum are derived and not stored; options
 * are skipped on parse and never emitted; DF is always set on emit and
 * ignored on parse.
 *
 * `src` and `dst` are 4-byte arrays that never alias a packet buffer.
 *
 * @example A SAL packet header; dscp, ecn and ident default to 0
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: Ipv4Repr = { src: new Uint8Array([198, 18, 0, 1]), dst: new Uint8Array([198, 18, 0, 2]),
 *   protocol: IPPROTO_SERVAL, ttl: 64, payloadLen: 12 };
 * const b = new Uint8Array(32);
 * emitIpv4Header(r, b, 0);
 * assertEquals(parseIpv4Header(b, 0), r);
 * ```
 */
export interface Ipv4Repr {
  /** Source address (4 bytes). */
  readonly src: Uint8Array;
  /** Destination address (4 bytes). */
  readonly dst: Uint8Array;
  /** Upper-layer protocol: {@linkcode IPPROTO_SERVAL}, 6 (TCP), 17 (UDP), ... */
  readonly protocol: number;
  /** Time to live, 0..255 on parse (RFC 1122 §3.2.1.7: a host accepts TTL 0), 1..255 on emit. */
  readonly ttl: number;
  /** Payload bytes after the header (total length minus header length). */
  readonly payloadLen: number;
  /** Differentiated Services codepoint, 1..63 (RFC 2474); absent means 0. */
  readonly dscp?: number;
  /** ECN codepoint, 1..3 (RFC 3168); absent means 0 (Not-ECT). */
  readonly ecn?: number;
  /** Identification, 1..65535 (RFC 6864: only meaningful for fragments); absent means 0. */
  readonly ident?: number;
}

/**
 * Reads the version nibble (4 for IPv4).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The version, 0..15.
 *
 * @example An IPv4 header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv4Version(new Uint8Array([0x45]), 0), 4);
 * ```
 */
export function readIpv4Version(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_VERSION_IHL_OFFSET]! >> 4;
}

/**
 * Writes the version nibble, keeping the IHL.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The version, 0..15.
 *
 * @example Set version 4
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0x05]);
 * writeIpv4Version(b, 0, 4);
 * assertEquals(b[0], 0x45);
 * ```
 */
export function writeIpv4Version(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV4_VERSION_IHL_OFFSET;
  buf[i] = ((v & 0xf) << 4) | (buf[i]! & 0x0f);
}

/**
 * Reads the IHL: the header length in 32-bit words (5..15 when valid).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The IHL, 0..15.
 *
 * @example A header with one option word
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv4Ihl(new Uint8Array([0x46]), 0), 6);
 * ```
 */
export function readIpv4Ihl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_VERSION_IHL_OFFSET]! & 0x0f;
}

/**
 * Writes the IHL, keeping the version.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The IHL in 32-bit words, 0..15.
 *
 * @example Set IHL 5
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0x40]);
 * writeIpv4Ihl(b, 0, 5);
 * assertEquals(b[0], 0x45);
 * ```
 */
export function writeIpv4Ihl(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV4_VERSION_IHL_OFFSET;
  buf[i] = (buf[i]! & 0xf0) | (v & 0x0f);
}

/**
 * Reads the DSCP (the high 6 bits of the former TOS byte, RFC 2474).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The DSCP, 0..63.
 *
 * @example Expedited Forwarding
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv4Dscp(new Uint8Array([0x45, 0xb8]), 0), 46);
 * ```
 */
export function readIpv4Dscp(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_DSCP_ECN_OFFSET]! >> 2;
}

/**
 * Writes the DSCP, keeping the ECN bits.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The DSCP, 0..63.
 *
 * @example Mark Expedited Forwarding
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0x45, 0x01]);
 * writeIpv4Dscp(b, 0, 46);
 * assertEquals(b[1], 0xb9);
 * ```
 */
export function writeIpv4Dscp(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV4_DSCP_ECN_OFFSET;
  buf[i] = ((v & 0x3f) << 2) | (buf[i]! & 0x03);
}

/**
 * Reads the ECN codepoint (RFC 3168 §5).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The ECN bits, 0..3.
 *
 * @example ECT(1)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv4Ecn(new Uint8Array([0x45, 0xb9]), 0), 1);
 * ```
 */
export function readIpv4Ecn(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_DSCP_ECN_OFFSET]! & 0x03;
}

/**
 * Writes the ECN codepoint, keeping the DSCP.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The ECN bits, 0..3.
 *
 * @example Mark Congestion Experienced
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0x45, 0xb8]);
 * writeIpv4Ecn(b, 0, 3);
 * assertEquals(b[1], 0xbb);
 * ```
 */
export function writeIpv4Ecn(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV4_DSCP_ECN_OFFSET;
  buf[i] = (buf[i]! & 0xfc) | (v & 0x03);
}

/**
 * Reads the total length (header + payload, bytes).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The total length, 0..65535.
 *
 * @example A 24-byte datagram
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv4TotalLen(new Uint8Array([0x45, 0, 0, 24]), 0), 24);
 * ```
 */
export function readIpv4TotalLen(buf: Uint8Array, off: number): number {
  return readU16(buf, off + IPV4_TOTAL_LEN_OFFSET);
}

/**
 * Writes the total length.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The total length, 0..65535.
 *
 * @example Set 1500
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4TotalLen(b, 0, 1500);
 * assertEquals(readIpv4TotalLen(b, 0), 1500);
 * ```
 */
export function writeIpv4TotalLen(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + IPV4_TOTAL_LEN_OFFSET, v);
}

/**
 * Reads the identification field.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The identification, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv4Ident(new Uint8Array([0x45, 0, 0, 20, 0x12, 0x34]), 0), 0x1234);
 * ```
 */
export function readIpv4Ident(buf: Uint8Array, off: number): number {
  return readU16(buf, off + IPV4_IDENT_OFFSET);
}

/**
 * Writes the identification field.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The identification, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4Ident(b, 0, 0xbeef);
 * assertEquals(readIpv4Ident(b, 0), 0xbeef);
 * ```
 */
export function writeIpv4Ident(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + IPV4_IDENT_OFFSET, v);
}

/**
 * Reads the 16-bit flags/fragment-offset word; test it with
 * {@linkcode IPV4_FLAG_DF}, {@linkcode IPV4_FLAG_MF} and
 * {@linkcode IPV4_FRAG_OFFSET_MASK}.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The raw word.
 *
 * @example Is it a fragment?
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const w = readIpv4FlagsFrag(new Uint8Array([0x45, 0, 0, 20, 0, 0, 0x40, 0x00]), 0);
 * assertEquals((w & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0, false);
 * ```
 */
export function readIpv4FlagsFrag(buf: Uint8Array, off: number): number {
  return readU16(buf, off + IPV4_FLAGS_FRAG_OFFSET);
}

/**
 * Writes the 16-bit flags/fragment-offset word.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The raw word, for example {@linkcode IPV4_FLAG_DF}.
 *
 * @example Set DF
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4FlagsFrag(b, 0, IPV4_FLAG_DF);
 * assertEquals(b[6], 0x40);
 * ```
 */
export function writeIpv4FlagsFrag(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + IPV4_FLAGS_FRAG_OFFSET, v);
}

/**
 * Reads the TTL.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The TTL, 0..255.
 *
 * @example Serval's default TTL
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[8] = 64;
 * assertEquals(readIpv4Ttl(b, 0), 64);
 * ```
 */
export function readIpv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_TTL_OFFSET]!;
}

/**
 * Writes the TTL. The checksum is not updated: call
 * {@linkcode fillIpv4Checksum} after, or use {@linkcode decrementIpv4Ttl}.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The TTL, 0..255.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4Ttl(b, 0, 64);
 * assertEquals(b[8], 64);
 * ```
 */
export function writeIpv4Ttl(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_TTL_OFFSET] = v;
}

/**
 * Reads the protocol byte.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The protocol, 0..255.
 *
 * @example A SAL packet
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[9] = 144;
 * assertEquals(readIpv4Protocol(b, 0), IPPROTO_SERVAL);
 * ```
 */
export function readIpv4Protocol(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_PROTOCOL_OFFSET]!;
}

/**
 * Writes the protocol byte.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The protocol, 0..255.
 *
 * @example Carry SAL
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4Protocol(b, 0, IPPROTO_SERVAL);
 * assertEquals(b[9], 144);
 * ```
 */
export function writeIpv4Protocol(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_PROTOCOL_OFFSET] = v;
}

/**
 * Reads the header checksum field.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The stored checksum, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[10] = 0x9b; b[11] = 0x41;
 * assertEquals(readIpv4Checksum(b, 0), 0x9b41);
 * ```
 */
export function readIpv4Checksum(buf: Uint8Array, off: number): number {
  return readU16(buf, off + IPV4_CHECKSUM_OFFSET);
}

/**
 * Writes the header checksum field as given (see {@linkcode fillIpv4Checksum}
 * to compute it).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param v The checksum, 0..65535.
 *
 * @example Clear it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20).fill(1);
 * writeIpv4Checksum(b, 0, 0);
 * assertEquals([b[10], b[11]], [0, 0]);
 * ```
 */
export function writeIpv4Checksum(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + IPV4_CHECKSUM_OFFSET, v);
}

/**
 * Reads the source address as a view into `buf` (no copy).
 *
 * **Performance**: allocates one `subarray` view object, no bytes.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns A 4-byte view that aliases `buf`.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b.set([198, 18, 0, 1], 12);
 * assertEquals([...readIpv4Src(b, 0)], [198, 18, 0, 1]);
 * ```
 */
export function readIpv4Src(buf: Uint8Array, off: number): Uint8Array {
  return buf.subarray(off + IPV4_SRC_OFFSET, off + IPV4_SRC_OFFSET + IPV4_ADDR_LEN);
}

/**
 * Writes the source address.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param addr A 4-byte address.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4Src(b, 0, new Uint8Array([10, 0, 0, 1]));
 * assertEquals(b[15], 1);
 * ```
 */
export function writeIpv4Src(buf: Uint8Array, off: number, addr: Uint8Array): void {
  for (let i = 0; i < IPV4_ADDR_LEN; i++) buf[off + IPV4_SRC_OFFSET + i] = addr[i]!;
}

/**
 * Reads the destination address as a view into `buf` (no copy).
 *
 * **Performance**: allocates one `subarray` view object, no bytes.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns A 4-byte view that aliases `buf`.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b.set([198, 18, 0, 2], 16);
 * assertEquals([...readIpv4Dst(b, 0)], [198, 18, 0, 2]);
 * ```
 */
export function readIpv4Dst(buf: Uint8Array, off: number): Uint8Array {
  return buf.subarray(off + IPV4_DST_OFFSET, off + IPV4_DST_OFFSET + IPV4_ADDR_LEN);
}

/**
 * Writes the destination address (a service router rewrites it, facts §2.5,
 * and must then refill this checksum and the transport's).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param addr A 4-byte address.
 *
 * @example Rewrite it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeIpv4Dst(b, 0, new Uint8Array([10, 0, 0, 2]));
 * assertEquals(b[19], 2);
 * ```
 */
export function writeIpv4Dst(buf: Uint8Array, off: number, addr: Uint8Array): void {
  for (let i = 0; i < IPV4_ADDR_LEN; i++) buf[off + IPV4_DST_OFFSET + i] = addr[i]!;
}

/**
 * Where the payload starts: `off` plus the header length the IHL gives
 * (options included). No check; validate with {@linkcode parseIpv4Header}.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The absolute offset of the first payload byte in `buf`.
 *
 * @example A header with 4 bytes of options
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ipv4PayloadOffset(new Uint8Array([0x46]), 0), 24);
 * ```
 */
export function ipv4PayloadOffset(buf: Uint8Array, off: number): number {
  return off + 4 * readIpv4Ihl(buf, off);
}

/**
 * Computes the header checksum over the IHL*4 header bytes (RFC 791 §3.1)
 * and stores it.
 *
 * Allocation: none.
 *
 * @param buf The packet; the IHL must already be set.
 * @param off Offset of the IPv4 header.
 * @returns The checksum written.
 *
 * @example The stored checksum verifies
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[0] = 0x45; b[3] = 20; b[8] = 64;
 * fillIpv4Checksum(b, 0);
 * assertEquals(typeof parseIpv4Header(b, 0), "object");
 * ```
 */
export function fillIpv4Checksum(buf: Uint8Array, off: number): number {
  writeIpv4Checksum(buf, off, 0);
  const c = checksumFinish(checksumAdd(buf, off, 4 * readIpv4Ihl(buf, off), 0));
  writeIpv4Checksum(buf, off, c);
  return c;
}

/**
 * Decrements the TTL of a forwarded packet and patches the header checksum
 * incrementally (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, with `m` the
 * 16-bit word holding TTL and protocol), so a router never re-sums the header.
 *
 * **Details**: returns the new TTL. RFC 1812 §5.3.1: a router must not
 * forward a packet whose TTL became 0; the caller drops it (and may send an
 * ICMP Time Exceeded). A TTL already 0 is left as is and 0 is returned.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @returns The TTL after the decrement.
 *
 * @example Forward one hop
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[0] = 0x45; b[3] = 20; b[8] = 64; b[9] = IPPROTO_SERVAL;
 * fillIpv4Checksum(b, 0);
 * assertEquals(decrementIpv4Ttl(b, 0), 63);
 * const patched = readIpv4Checksum(b, 0);
 * assertEquals(fillIpv4Checksum(b, 0), patched);
 * ```
 */
export function decrementIpv4Ttl(buf: Uint8Array, off: number): number {
  const ttl = readIpv4Ttl(buf, off);
  if (ttl === 0) return 0;
  const proto = readIpv4Protocol(buf, off);
  const m = (ttl << 8) | proto;
  const m2 = m - 0x100;
  const hc = readIpv4Checksum(buf, off);
  writeIpv4Ttl(buf, off, ttl - 1);
  writeIpv4Checksum(buf, off, checksumFinish((~hc & 0xffff) + (~m & 0xffff) + m2));
  return ttl - 1;
}

/**
 * Parses and validates an IPv4 header from untrusted bytes. Never throws.
 *
 * **Details**: drops, in this order:
 * - `"truncated"`: fewer than 20 bytes available;
 * - `"bad-version"`: the version is not 4;
 * - `"bad-length"`: IHL below 5, total length below IHL*4, or total length
 *   beyond the bytes available;
 * - `"bad-checksum"`: the header checksum does not verify;
 * - `"fragment"`: MF set or a non-zero fragment offset. Serval sends with DF
 *   and does not reassemble.
 *
 * Options are skipped (not parsed); the payload starts at
 * {@linkcode ipv4PayloadOffset} and is `payloadLen` bytes long. Bytes after
 * the total length (Ethernet padding) are ignored. See {@linkcode Ipv4Repr}
 * for the canonical form.
 *
 * **Performance**: allocates the repr and copies of the two addresses.
 *
 * @param buf The packet.
 * @param off Offset of the IPv4 header.
 * @param len Bytes available from `off` (default: to the end of `buf`).
 * @returns The header, or why it was dropped.
 *
 * @example Parse an emitted header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const repr = { src: new Uint8Array([198, 18, 0, 1]), dst: new Uint8Array([198, 18, 0, 2]),
 *   protocol: IPPROTO_SERVAL, ttl: 64, payloadLen: 0 };
 * const b = new Uint8Array(20);
 * emitIpv4Header(repr, b, 0);
 * assertEquals(parseIpv4Header(b, 0), repr);
 * b[0] = 0x65;
 * assertEquals(parseIpv4Header(b, 0), "bad-version");
 * ```
 */
export function parseIpv4Header(buf: Uint8Array, off: number, len: number = buf.length - off): Ipv4Repr | DropReason {
  const avail = Math.min(len, buf.length - off);
  if (!(avail >= IPV4_HEADER_LEN)) return "truncated";
  if (readIpv4Version(buf, off) !== 4) return "bad-version";
  const hlen = 4 * readIpv4Ihl(buf, off);
  const total = readIpv4TotalLen(buf, off);
  if (hlen < IPV4_HEADER_LEN || total < hlen || total > avail) return "bad-length";
  if (checksumFinish(checksumAdd(buf, off, hlen, 0)) !== 0) return "bad-checksum";
  if ((readIpv4FlagsFrag(buf, off) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0) return "fragment";
  const dscp = readIpv4Dscp(buf, off);
  const ecn = readIpv4Ecn(buf, off);
  const ident = readIpv4Ident(buf, off);
  const repr: {
    src: Uint8Array;
    dst: Uint8Array;
    protocol: number;
    ttl: number;
    payloadLen: number;
    dscp?: number;
    ecn?: number;
    ident?: number;
  } = {
    src: buf.slice(off + IPV4_SRC_OFFSET, off + IPV4_SRC_OFFSET + IPV4_ADDR_LEN),
    dst: buf.slice(off + IPV4_DST_OFFSET, off + IPV4_DST_OFFSET + IPV4_ADDR_LEN),
    protocol: readIpv4Protocol(buf, off),
    ttl: readIpv4Ttl(buf, off),
    payloadLen: total - hlen,
  };
  if (dscp !== 0) repr.dscp = dscp;
  if (ecn !== 0) repr.ecn = ecn;
  if (ident !== 0) repr.ident = ident;
  return repr;
}

/**
 * The number of bytes {@linkcode emitIpv4Header} writes: always 20 (no options).
 *
 * @param _repr The header.
 * @returns {@linkcode IPV4_HEADER_LEN}.
 *
 * @example Room for a SAL packet
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const repr = { src: new Uint8Array(4), dst: new Uint8Array(4), protocol: 144, ttl: 64, payloadLen: 12 };
 * assertEquals(ipv4HeaderLen(repr) + repr.payloadLen, 32);
 * ```
 */
export function ipv4HeaderLen(_repr: Ipv4Repr): number {
  return IPV4_HEADER_LEN;
}

function checkField(name: string, v: number | undefined, min: number, max: number): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Cannot emit IPv4 header: ${name} is ${v}, must be ${min}..${max}`);
  }
}

/**
 * Writes a 20-byte IPv4 header (IHL 5, DF set, no options) into a
 * caller-lent buffer and computes its checksum. The payload (`payloadLen`
 * bytes) is the caller's business; it belongs right after the header.
 *
 * Allocation: none. Borrows `buf` until return.
 *
 * @param repr The header.
 * @param buf The packet buffer.
 * @param off Where the header starts.
 * @returns Bytes written (20).
 * @throws {RangeError} When `buf` lacks 20 bytes at `off`, an address is not 4
 *   bytes, or a field is out of range (TTL 0 is refused: RFC 1122 §3.2.1.7,
 *   "A host MUST NOT send a datagram with a Time-to-Live (TTL) value of zero").
 *
 * @example The 20 bytes of a SAL-over-IPv4 header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * emitIpv4Header({ src: new Uint8Array([10, 0, 0, 1]), dst: new Uint8Array([10, 0, 0, 2]),
 *   protocol: IPPROTO_SERVAL, ttl: 64, payloadLen: 12 }, b, 0);
 * assertEquals([b[0], b[3], b[6], b[8], b[9]], [0x45, 32, 0x40, 64, 144]);
 * ```
 */
export function emitIpv4Header(repr: Ipv4Repr, buf: Uint8Array, off: number): number {
  if (!Number.isInteger(off) || off < 0 || off + IPV4_HEADER_LEN > buf.length) {
    throw new RangeError(
      `Cannot emit IPv4 header: needs ${IPV4_HEADER_LEN} bytes at offset ${off}, buffer has ${buf.length}`,
    );
  }
  if (repr.src.length !== IPV4_ADDR_LEN) {
    throw new RangeError(`Cannot emit IPv4 header: source address is ${repr.src.length} bytes, must be 4`);
  }
  if (repr.dst.length !== IPV4_ADDR_LEN) {
    throw new RangeError(`Cannot emit IPv4 header: destination address is ${repr.dst.length} bytes, must be 4`);
  }
  checkField("TTL", repr.ttl, 1, 255);
  checkField("protocol", repr.protocol, 0, 255);
  checkField("payload length", repr.payloadLen, 0, 0xffff - IPV4_HEADER_LEN);
  checkField("DSCP", repr.dscp, 0, 63);
  checkField("ECN", repr.ecn, 0, 3);
  checkField("identification", repr.ident, 0, 0xffff);
  buf[off + IPV4_VERSION_IHL_OFFSET] = (4 << 4) | (IPV4_HEADER_LEN / 4);
  buf[off + IPV4_DSCP_ECN_OFFSET] = ((repr.dscp ?? 0) << 2) | (repr.ecn ?? 0);
  writeIpv4TotalLen(buf, off, IPV4_HEADER_LEN + repr.payloadLen);
  writeIpv4Ident(buf, off, repr.ident ?? 0);
  // DF: Serval never fragments (the MSS already leaves room for IP + SAL, facts §2.5).
  writeIpv4FlagsFrag(buf, off, IPV4_FLAG_DF);
  writeIpv4Ttl(buf, off, repr.ttl);
  writeIpv4Protocol(buf, off, repr.protocol);
  writeIpv4Src(buf, off, repr.src);
  writeIpv4Dst(buf, off, repr.dst);
  fillIpv4Checksum(buf, off);
  return IPV4_HEADER_LEN;
}

/**
 * The IPv6 fixed header (RFC 8200 §3): version, traffic class, flow label,
 * payload length, next header, hop limit, source and destination. 40 bytes.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |Version| Traffic Class |           Flow Label                  |
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * |                  Source Address (16 bytes)                    |
 * |               Destination Address (16 bytes)                  |
 * ```
 *
 * The original Serval was IPv4 only (facts §2.1, §10); this stack also
 * carries SAL over IPv6 with next header {@linkcode NEXT_HEADER_SERVAL}.
 *
 * **Extension headers are not walked**: the repr's `nextHeader` is the fixed
 * header's Next Header field as is, and `payloadLen` counts any extension
 * headers. A caller that meets a value such as 0 (Hop-by-Hop), 43 (Routing)
 * or 44 (Fragment) decides what to do; Serval senders emit none. Jumbograms
 * (RFC 2675, payload length 0 plus a Hop-by-Hop option) are not supported: a
 * payload length of 0 means an empty payload.
 *
 * The functions are `parseIpv6Header`/`emitIpv6Header` because `parseIpv6`
 * parses address text (ip_address.ts).
 *
 * @module
 */

import type { DropReason } from "./drop_reason.ts";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

/**
 * IPv6 next header value of SAL directly over IPv6 (the IPv4 protocol number, facts §1.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(NEXT_HEADER_SERVAL, 144);
 * ```
 */
export const NEXT_HEADER_SERVAL = 144;

/**
 * Length of an IPv6 address in bytes.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_ADDR_LEN, 16);
 * ```
 */
export const IPV6_ADDR_LEN = 16;

/**
 * Offset of the 32-bit word holding version (4 bits), traffic class (8) and flow label (20).
 *
 * @example Byte 0 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_VERSION_TC_FLOW_OFFSET, 0);
 * ```
 */
export const IPV6_VERSION_TC_FLOW_OFFSET = 0;

/**
 * Offset of the 16-bit payload length (bytes after the fixed header).
 *
 * @example Byte 4 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_PAYLOAD_LEN_OFFSET, 4);
 * ```
 */
export const IPV6_PAYLOAD_LEN_OFFSET = 4;

/**
 * Offset of the next header byte.
 *
 * @example Byte 6 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_NEXT_HEADER_OFFSET, 6);
 * ```
 */
export const IPV6_NEXT_HEADER_OFFSET = 6;

/**
 * Offset of the hop limit byte.
 *
 * @example Byte 7 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_HOP_LIMIT_OFFSET, 7);
 * ```
 */
export const IPV6_HOP_LIMIT_OFFSET = 7;

/**
 * Offset of the source address.
 *
 * @example Byte 8 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_SRC_OFFSET, 8);
 * ```
 */
export const IPV6_SRC_OFFSET = 8;

/**
 * Offset of the destination address.
 *
 * @example Byte 24 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_DST_OFFSET, 24);
 * ```
 */
export const IPV6_DST_OFFSET: number = IPV6_SRC_OFFSET + IPV6_ADDR_LEN;

/**
 * Length of the IPv6 fixed header: 40 bytes.
 *
 * @example The fixed header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPV6_HEADER_LEN, 40);
 * ```
 */
export const IPV6_HEADER_LEN: number = IPV6_DST_OFFSET + IPV6_ADDR_LEN;

/**
 * An IPv6 fixed header, already validated.
 *
 * **Canonical form** (so `parseIpv6Header(emitIpv6Header(r))` deep-equals
 * `r`): `trafficClass` and `flowLabel` are present only when non-zero.
 *
 * `src` and `dst` are 16-byte arrays that never alias a packet buffer.
 *
 * @example A SAL packet header; trafficClass and flowLabel default to 0
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: Ipv6Repr = { src: new Uint8Array(16), dst: new Uint8Array(16), nextHeader: NEXT_HEADER_SERVAL,
 *   hopLimit: 64, payloadLen: 0 };
 * const b = new Uint8Array(40);
 * emitIpv6Header(r, b, 0);
 * assertEquals(parseIpv6Header(b, 0), r);
 * ```
 */
export interface Ipv6Repr {
  /** Source address (16 bytes). */
  readonly src: Uint8Array;
  /** Destination address (16 bytes). */
  readonly dst: Uint8Array;
  /** Next Header of the fixed header, as is (extension headers are not walked). */
  readonly nextHeader: number;
  /** Hop limit, 0..255. */
  readonly hopLimit: number;
  /** Payload length in bytes (extension headers included), 0..65535. */
  readonly payloadLen: number;
  /** Traffic class (DSCP << 2 | ECN, RFC 8200 §7), 1..255; absent means 0. */
  readonly trafficClass?: number;
  /** Flow label (RFC 6437), 1..0xfffff; absent means 0. */
  readonly flowLabel?: number;
}

/**
 * Reads the version (6 for IPv6).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns The version, 0..15.
 *
 * @example An IPv6 header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv6Version(new Uint8Array([0x60, 0, 0, 0]), 0), 6);
 * ```
 */
export function readIpv6Version(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_VERSION_TC_FLOW_OFFSET]! >> 4;
}

/**
 * Writes the version, keeping traffic class and flow label.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param v The version, 0..15.
 *
 * @example Set version 6
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * writeIpv6Version(b, 0, 6);
 * assertEquals(b[0], 0x60);
 * ```
 */
export function writeIpv6Version(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV6_VERSION_TC_FLOW_OFFSET;
  buf[i] = ((v & 0xf) << 4) | (buf[i]! & 0x0f);
}

/**
 * Reads the traffic class.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns The traffic class, 0..255.
 *
 * @example DSCP 46 (EF)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv6TrafficClass(new Uint8Array([0x6b, 0x80, 0, 0]), 0), 0xb8);
 * ```
 */
export function readIpv6TrafficClass(buf: Uint8Array, off: number): number {
  return (readU32(buf, off + IPV6_VERSION_TC_FLOW_OFFSET) >>> 20) & 0xff;
}

/**
 * Writes the traffic class, keeping version and flow label.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param v The traffic class, 0..255.
 *
 * @example Mark EF
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0x60, 0, 0, 0]);
 * writeIpv6TrafficClass(b, 0, 0xb8);
 * assertEquals([b[0], b[1]], [0x6b, 0x80]);
 * ```
 */
export function writeIpv6TrafficClass(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV6_VERSION_TC_FLOW_OFFSET;
  const w = readU32(buf, i);
  writeU32(buf, i, ((w & 0xf00fffff) | ((v & 0xff) << 20)) >>> 0);
}

/**
 * Reads the 20-bit flow label.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns The flow label, 0..0xfffff.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv6FlowLabel(new Uint8Array([0x6b, 0x81, 0x23, 0x45]), 0), 0x12345);
 * ```
 */
export function readIpv6FlowLabel(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV6_VERSION_TC_FLOW_OFFSET) & 0xfffff;
}

/**
 * Writes the flow label, keeping version and traffic class.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param v The flow label, 0..0xfffff.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0x60, 0, 0, 0]);
 * writeIpv6FlowLabel(b, 0, 0x12345);
 * assertEquals([...b], [0x60, 0x01, 0x23, 0x45]);
 * ```
 */
export function writeIpv6FlowLabel(buf: Uint8Array, off: number, v: number): void {
  const i = off + IPV6_VERSION_TC_FLOW_OFFSET;
  const w = readU32(buf, i);
  writeU32(buf, i, ((w & 0xfff00000) | (v & 0xfffff)) >>> 0);
}

/**
 * Reads the payload length (bytes after the 40-byte fixed header).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns The payload length, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readIpv6PayloadLen(new Uint8Array([0x60, 0, 0, 0, 0x01, 0x00]), 0), 256);
 * ```
 */
export function readIpv6PayloadLen(buf: Uint8Array, off: number): number {
  return readU16(buf, off + IPV6_PAYLOAD_LEN_OFFSET);
}

/**
 * Writes the payload length.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param v The payload length, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * writeIpv6PayloadLen(b, 0, 1460);
 * assertEquals(readIpv6PayloadLen(b, 0), 1460);
 * ```
 */
export function writeIpv6PayloadLen(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + IPV6_PAYLOAD_LEN_OFFSET, v);
}

/**
 * Reads the next header byte of the fixed header.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns The next header, 0..255.
 *
 * @example A SAL packet
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * b[6] = 144;
 * assertEquals(readIpv6NextHeader(b, 0), NEXT_HEADER_SERVAL);
 * ```
 */
export function readIpv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_NEXT_HEADER_OFFSET]!;
}

/**
 * Writes the next header byte.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param v The next header, 0..255.
 *
 * @example Carry SAL
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * writeIpv6NextHeader(b, 0, NEXT_HEADER_SERVAL);
 * assertEquals(b[6], 144);
 * ```
 */
export function writeIpv6NextHeader(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV6_NEXT_HEADER_OFFSET] = v;
}

/**
 * Reads the hop limit.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns The hop limit, 0..255.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * b[7] = 64;
 * assertEquals(readIpv6HopLimit(b, 0), 64);
 * ```
 */
export function readIpv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_HOP_LIMIT_OFFSET]!;
}

/**
 * Writes the hop limit (IPv6 has no header checksum to patch).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param v The hop limit, 0..255.
 *
 * @example Forward one hop
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * b[7] = 64;
 * writeIpv6HopLimit(b, 0, readIpv6HopLimit(b, 0) - 1);
 * assertEquals(b[7], 63);
 * ```
 */
export function writeIpv6HopLimit(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV6_HOP_LIMIT_OFFSET] = v;
}

/**
 * Reads the source address as a view into `buf` (no copy).
 *
 * **Performance**: allocates one `subarray` view object, no bytes.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns A 16-byte view that aliases `buf`.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * b[23] = 1;
 * assertEquals(readIpv6Src(b, 0)[15], 1);
 * ```
 */
export function readIpv6Src(buf: Uint8Array, off: number): Uint8Array {
  return buf.subarray(off + IPV6_SRC_OFFSET, off + IPV6_SRC_OFFSET + IPV6_ADDR_LEN);
}

/**
 * Writes the source address.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param addr A 16-byte address.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * const a = new Uint8Array(16);
 * a[15] = 1;
 * writeIpv6Src(b, 0, a);
 * assertEquals(b[23], 1);
 * ```
 */
export function writeIpv6Src(buf: Uint8Array, off: number, addr: Uint8Array): void {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) buf[off + IPV6_SRC_OFFSET + i] = addr[i]!;
}

/**
 * Reads the destination address as a view into `buf` (no copy).
 *
 * **Performance**: allocates one `subarray` view object, no bytes.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @returns A 16-byte view that aliases `buf`.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * b[39] = 2;
 * assertEquals(readIpv6Dst(b, 0)[15], 2);
 * ```
 */
export function readIpv6Dst(buf: Uint8Array, off: number): Uint8Array {
  return buf.subarray(off + IPV6_DST_OFFSET, off + IPV6_DST_OFFSET + IPV6_ADDR_LEN);
}

/**
 * Writes the destination address.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param addr A 16-byte address.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * const a = new Uint8Array(16);
 * a[15] = 2;
 * writeIpv6Dst(b, 0, a);
 * assertEquals(b[39], 2);
 * ```
 */
export function writeIpv6Dst(buf: Uint8Array, off: number, addr: Uint8Array): void {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) buf[off + IPV6_DST_OFFSET + i] = addr[i]!;
}

/**
 * Parses and validates an IPv6 fixed header from untrusted bytes. Never throws.
 *
 * **Details**: drops, in this order, `"truncated"` (fewer than 40 bytes),
 * `"bad-version"` (not 6), `"bad-length"` (payload length beyond the bytes
 * available). The payload starts at `off + IPV6_HEADER_LEN`; bytes after it
 * (link padding) are ignored. Extension headers are not walked (see the
 * module notes); `nextHeader` is returned as is.
 *
 * **Performance**: allocates the repr and copies of the two addresses.
 *
 * @param buf The packet.
 * @param off Offset of the IPv6 header.
 * @param len Bytes available from `off` (default: to the end of `buf`).
 * @returns The header, or why it was dropped.
 *
 * @example Parse an emitted header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const src = new Uint8Array(16); src[15] = 1;
 * const dst = new Uint8Array(16); dst[15] = 2;
 * const repr = { src, dst, nextHeader: NEXT_HEADER_SERVAL, hopLimit: 64, payloadLen: 0 };
 * const b = new Uint8Array(40);
 * emitIpv6Header(repr, b, 0);
 * assertEquals(parseIpv6Header(b, 0), repr);
 * assertEquals(parseIpv6Header(b, 0, 39), "truncated");
 * ```
 */
export function parseIpv6Header(buf: Uint8Array, off: number, len: number = buf.length - off): Ipv6Repr | DropReason {
  const avail = Math.min(len, buf.length - off);
  if (!(avail >= IPV6_HEADER_LEN)) return "truncated";
  if (readIpv6Version(buf, off) !== 6) return "bad-version";
  const payloadLen = readIpv6PayloadLen(buf, off);
  if (payloadLen > avail - IPV6_HEADER_LEN) return "bad-length";
  const trafficClass = readIpv6TrafficClass(buf, off);
  const flowLabel = readIpv6FlowLabel(buf, off);
  const repr: {
    src: Uint8Array;
    dst: Uint8Array;
    nextHeader: number;
    hopLimit: number;
    payloadLen: number;
    trafficClass?: number;
    flowLabel?: number;
  } = {
    src: buf.slice(off + IPV6_SRC_OFFSET, off + IPV6_SRC_OFFSET + IPV6_ADDR_LEN),
    dst: buf.slice(off + IPV6_DST_OFFSET, off + IPV6_DST_OFFSET + IPV6_ADDR_LEN),
    nextHeader: readIpv6NextHeader(buf, off),
    hopLimit: readIpv6HopLimit(buf, off),
    payloadLen,
  };
  if (trafficClass !== 0) repr.trafficClass = trafficClass;
  if (flowLabel !== 0) repr.flowLabel = flowLabel;
  return repr;
}

/**
 * The number of bytes {@linkcode emitIpv6Header} writes: always 40.
 *
 * @param _repr The header.
 * @returns {@linkcode IPV6_HEADER_LEN}.
 *
 * @example Room for a packet
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const repr = { src: new Uint8Array(16), dst: new Uint8Array(16), nextHeader: 144, hopLimit: 64, payloadLen: 12 };
 * assertEquals(ipv6HeaderLen(repr) + repr.payloadLen, 52);
 * ```
 */
export function ipv6HeaderLen(_repr: Ipv6Repr): number {
  return IPV6_HEADER_LEN;
}

function checkField(name: string, v: number | undefined, min: number, max: number): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Cannot emit IPv6 header: ${name} is ${v}, must be ${min}..${max}`);
  }
}

/**
 * Writes a 40-byte IPv6 fixed header into a caller-lent buffer. The payload
 * (`payloadLen` bytes) is the caller's business; it belongs right after.
 *
 * Allocation: none. Borrows `buf` until return.
 *
 * @param repr The header.
 * @param buf The packet buffer.
 * @param off Where the header starts.
 * @returns Bytes written (40).
 * @throws {RangeError} When `buf` lacks 40 bytes at `off`, an address is not
 *   16 bytes, or a field is out of range.
 *
 * @example The first 8 bytes
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(40);
 * emitIpv6Header({ src: new Uint8Array(16), dst: new Uint8Array(16), nextHeader: 144, hopLimit: 64,
 *   payloadLen: 12, trafficClass: 0xb8, flowLabel: 0x12345 }, b, 0);
 * assertEquals([...b.subarray(0, 8)], [0x6b, 0x81, 0x23, 0x45, 0, 12, 144, 64]);
 * ```
 */
export function emitIpv6Header(repr: Ipv6Repr, buf: Uint8Array, off: number): number {
  if (!Number.isInteger(off) || off < 0 || off + IPV6_HEADER_LEN > buf.length) {
    throw new RangeError(
      `Cannot emit IPv6 header: needs ${IPV6_HEADER_LEN} bytes at offset ${off}, buffer has ${buf.length}`,
    );
  }
  if (repr.src.length !== IPV6_ADDR_LEN) {
    throw new RangeError(`Cannot emit IPv6 header: source address is ${repr.src.length} bytes, must be 16`);
  }
  if (repr.dst.length !== IPV6_ADDR_LEN) {
    throw new RangeError(`Cannot emit IPv6 header: destination address is ${repr.dst.length} bytes, must be 16`);
  }
  checkField("hop limit", repr.hopLimit, 0, 255);
  checkField("next header", repr.nextHeader, 0, 255);
  checkField("payload length", repr.payloadLen, 0, 0xffff);
  checkField("traffic class", repr.trafficClass, 0, 255);
  checkField("flow label", repr.flowLabel, 0, 0xfffff);
  writeU32(
    buf,
    off + IPV6_VERSION_TC_FLOW_OFFSET,
    ((6 << 28) | ((repr.trafficClass ?? 0) << 20) | (repr.flowLabel ?? 0)) >>> 0,
  );
  writeIpv6PayloadLen(buf, off, repr.payloadLen);
  writeIpv6NextHeader(buf, off, repr.nextHeader);
  writeIpv6HopLimit(buf, off, repr.hopLimit);
  writeIpv6Src(buf, off, repr.src);
  writeIpv6Dst(buf, off, repr.dst);
  return IPV6_HEADER_LEN;
}

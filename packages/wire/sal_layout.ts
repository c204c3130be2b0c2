/**
 * Byte layout of the SAL header and its extensions (facts §2.2–2.4), as
 * named offsets and sizes, plus in-place accessors for the base header and
 * the CONTROL extension.
 *
 * ```text
 * base header (12 bytes)
 *  0               1               2               3
 *  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
 * +---------------------------------------------------------------+
 * |                        source flowID                          |
 * +---------------------------------------------------------------+
 * |                      destination flowID                       |
 * +---------------+---------------+-------------------------------+
 * | shl (words)   |   protocol    |           checksum            |
 * +---------------+---------------+-------------------------------+
 * extension prefix: type (high nibble) | reserved (low nibble), length
 * in bytes including the prefix; PAD is the single byte 0x00.
 * ```
 *
 * Offsets of extension fields are relative to the start of the extension.
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

/** Offset of the source flowID in the base header. */
export const SAL_SRC_FLOWID = 0;
/** Offset of the destination flowID. */
export const SAL_DST_FLOWID = SAL_SRC_FLOWID + 4;
/** Offset of `shl`: total SAL header length (base + extensions) in 32-bit words. */
export const SAL_SHL = SAL_DST_FLOWID + 4;
/** Offset of `protocol`: the transport that follows (6 or 17). */
export const SAL_PROTOCOL = SAL_SHL + 1;
/** Offset of the RFC 1071 checksum over the SAL header. */
export const SAL_CHECK = SAL_PROTOCOL + 1;
/** Length of the base header. */
export const SAL_HEADER_LEN = SAL_CHECK + 2;
/** Largest SAL header: `shl` is one byte of 32-bit words. */
export const SAL_MAX_HEADER_LEN = 255 * 4;
/** At most this many extensions are accepted (facts §2.3). */
export const SAL_MAX_EXTENSIONS = 10;

/** SAL `protocol` value for the stream transport (TCP layout). */
export const SAL_PROTO_TCP = 6;
/** SAL `protocol` value for datagrams (UDP layout). */
export const SAL_PROTO_UDP = 17;

/** Extension type PAD: one byte 0x00, no length byte. Never emitted. */
export const EXT_PAD = 0;
/** Extension type CONTROL (20 bytes). */
export const EXT_CONTROL = 1;
/** Extension type SERVICE (36 bytes). */
export const EXT_SERVICE = 2;
/** Extension type ADDRESS (12 + 4n bytes). Carried, not acted on (facts §10.10). */
export const EXT_ADDRESS = 3;
/** Extension type SOURCE (4 + 4n bytes, 2 ≤ n ≤ 20 IPv4 addresses). */
export const EXT_SOURCE = 4;
/**
 * Extension type LOCATORS (new in this stack, type ≥ 5 as the design allows):
 * a SOURCE-like list whose entries are IPv4 or IPv6 addresses, each with a
 * UDP port (0 for raw IP), so that the source route works over IPv6 and over
 * the UDP datapath, where a locator is IP:port. Like SOURCE, the first entry
 * is the client and each forwarding router appends itself; a header carries
 * SOURCE or LOCATORS, never both.
 *
 * ```text
 * 0x50 length 0x00 0x00                    type 5, length = 4 + entries
 * entry: family(4|6) flags(0) port(u16) address(4|16 bytes)   8 or 20 bytes
 * ```
 *
 * Golden bytes (32 bytes: 198.18.0.1 port 54325, then 2001:db8::1 raw IP):
 *
 * ```text
 * 50 20 00 00  04 00 d4 35  c6 12 00 01  06 00 00 00
 * 20 01 0d b8  00 00 00 00  00 00 00 00  00 00 00 01
 * ```
 */
export const EXT_LOCATORS = 5;

/** Offset of the type byte (type in the high nibble). */
export const EXT_TYPE = 0;
/** Offset of the length byte (whole extension, prefix included). */
export const EXT_LEN = EXT_TYPE + 1;

/** CONTROL: offset of the flag byte. */
export const CONTROL_FLAGS = EXT_LEN + 1;
/** CONTROL: offset of the reserved byte. */
export const CONTROL_RESERVED = CONTROL_FLAGS + 1;
/** CONTROL: offset of `verno`. */
export const CONTROL_VERNO = CONTROL_RESERVED + 1;
/** CONTROL: offset of `ackno`. */
export const CONTROL_ACKNO = CONTROL_VERNO + 4;
/** CONTROL: offset of the 8-byte nonce. */
export const CONTROL_NONCE = CONTROL_ACKNO + 4;
/** Length of a nonce. */
export const NONCE_LEN = 8;
/** CONTROL: exact length. */
export const CONTROL_EXT_LEN = CONTROL_NONCE + NONCE_LEN;

/** SERVICE: offset of the serviceID (after two reserved bytes). */
export const SERVICE_ID_OFF = EXT_LEN + 1 + 2;
/** SERVICE: exact length. */
export const SERVICE_EXT_LEN = SERVICE_ID_OFF + 32;

/** ADDRESS: offset of `verno`. */
export const ADDRESS_VERNO = EXT_LEN + 1 + 2;
/** ADDRESS: offset of `ackno`. */
export const ADDRESS_ACKNO = ADDRESS_VERNO + 4;
/** ADDRESS: offset of the first IPv4 address. */
export const ADDRESS_LIST = ADDRESS_ACKNO + 4;

/** SOURCE: offset of the first IPv4 address. */
export const SOURCE_LIST = EXT_LEN + 1 + 2;
/** SOURCE: fewest addresses (the client and one router). */
export const SOURCE_MIN_ADDRS = 2;
/** SOURCE: most addresses (84 bytes, facts §2.3). */
export const SOURCE_MAX_ADDRS = 20;

/** LOCATORS: offset of the first entry. */
export const LOCATORS_LIST = EXT_LEN + 1 + 2;
/** LOCATORS entry: offset of the family byte (4 or 6). */
export const LOC_FAMILY = 0;
/** LOCATORS entry: offset of the reserved flag byte. */
export const LOC_FLAGS = LOC_FAMILY + 1;
/** LOCATORS entry: offset of the UDP port (0: raw IP, no UDP). */
export const LOC_PORT = LOC_FLAGS + 1;
/** LOCATORS entry: offset of the address. */
export const LOC_ADDR = LOC_PORT + 2;
/** LOCATORS entry length for an IPv4 locator. */
export const LOC_V4_LEN = LOC_ADDR + 4;
/** LOCATORS entry length for an IPv6 locator. */
export const LOC_V6_LEN = LOC_ADDR + 16;
/** Largest extension: the length byte is 8 bits; extensions keep 4-byte alignment. */
export const EXT_MAX_LEN = 252;

/** CONTROL flag SYN. */
export const SAL_SYN = 0x80;
/** CONTROL flag RSYN (migration). */
export const SAL_RSYN = 0x40;
/** CONTROL flag ACK. */
export const SAL_ACK = 0x20;
/**
 * CONTROL flag NACK (defined, never sent in 2014). We send it only with
 * RST+ACK answering a SYN, from a service router that has no rule for the
 * service: the client reports "unreachable" rather than "refused".
 */
export const SAL_NACK = 0x10;
/** CONTROL flag RST. */
export const SAL_RST = 0x08;
/** CONTROL flag FIN. */
export const SAL_FIN = 0x04;

/**
 * Source flowID of the SAL header at `off`.
 *
 * **Performance**: allocation none. The caller has checked the length.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readSalSrcFlowId(new Uint8Array([0, 0, 0, 7, 0, 0, 0, 0, 3, 6, 0, 0]), 0), 7);
 * ```
 */
export function readSalSrcFlowId(buf: Uint8Array, off: number): number {
  return readU32(buf, off + SAL_SRC_FLOWID);
}

/**
 * Destination flowID of the SAL header at `off`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readSalDstFlowId(new Uint8Array([0, 0, 0, 7, 0, 0, 0, 9, 3, 6, 0, 0]), 0), 9);
 * ```
 */
export function readSalDstFlowId(buf: Uint8Array, off: number): number {
  return readU32(buf, off + SAL_DST_FLOWID);
}

/**
 * SAL header length in bytes (`shl` × 4).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readSalHeaderLen(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 0, 0]), 0), 12);
 * ```
 */
export function readSalHeaderLen(buf: Uint8Array, off: number): number {
  return buf[off + SAL_SHL]! << 2;
}

/**
 * The SAL `protocol` field.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readSalProtocol(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 3, 17, 0, 0]), 0), 17);
 * ```
 */
export function readSalProtocol(buf: Uint8Array, off: number): number {
  return buf[off + SAL_PROTOCOL]!;
}

/**
 * The stored SAL checksum.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readSalChecksum(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 0xab, 0xcd]), 0), 0xabcd);
 * ```
 */
export function readSalChecksum(buf: Uint8Array, off: number): number {
  return readU16(buf, off + SAL_CHECK);
}

/**
 * Writes the source flowID.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(12); writeSalSrcFlowId(b, 0, 5);
 * assertEquals(b[3], 5);
 * ```
 */
export function writeSalSrcFlowId(buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off + SAL_SRC_FLOWID, v);
}

/**
 * Writes the destination flowID.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(12); writeSalDstFlowId(b, 0, 5);
 * assertEquals(b[7], 5);
 * ```
 */
export function writeSalDstFlowId(buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off + SAL_DST_FLOWID, v);
}

/**
 * Writes `shl` from a header length in bytes (a multiple of 4, ≤ 1020).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(12); writeSalHeaderLen(b, 0, 48);
 * assertEquals(b[8], 12);
 * ```
 */
export function writeSalHeaderLen(buf: Uint8Array, off: number, bytes: number): void {
  buf[off + SAL_SHL] = bytes >> 2;
}

/**
 * Writes the `protocol` field.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(12); writeSalProtocol(b, 0, 6);
 * assertEquals(b[9], 6);
 * ```
 */
export function writeSalProtocol(buf: Uint8Array, off: number, v: number): void {
  buf[off + SAL_PROTOCOL] = v;
}

/**
 * Writes the checksum field as is (see {@linkcode fillSalChecksum} to compute it).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(12); writeSalChecksum(b, 0, 0x1234);
 * assertEquals(b[10], 0x12);
 * ```
 */
export function writeSalChecksum(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + SAL_CHECK, v);
}

/**
 * The extension type at `extOff` (high nibble of its first byte).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readExtType(new Uint8Array([0x20, 36]), 0), EXT_SERVICE);
 * ```
 */
export function readExtType(buf: Uint8Array, extOff: number): number {
  return buf[extOff + EXT_TYPE]! >> 4;
}

/**
 * CONTROL flags of the CONTROL extension at `extOff`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readControlFlags(new Uint8Array([0x10, 20, SAL_SYN]), 0), SAL_SYN);
 * ```
 */
export function readControlFlags(buf: Uint8Array, extOff: number): number {
  return buf[extOff + CONTROL_FLAGS]!;
}

/**
 * `verno` of the CONTROL extension at `extOff`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readControlVerno(new Uint8Array([0x10, 20, 0, 0, 0, 0, 1, 2]), 0), 0x102);
 * ```
 */
export function readControlVerno(buf: Uint8Array, extOff: number): number {
  return readU32(buf, extOff + CONTROL_VERNO);
}

/**
 * `ackno` of the CONTROL extension at `extOff`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readControlAckno(new Uint8Array([0x10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]), 0), 9);
 * ```
 */
export function readControlAckno(buf: Uint8Array, extOff: number): number {
  return readU32(buf, extOff + CONTROL_ACKNO);
}

/**
 * Writes the CONTROL flag byte.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20); writeControlFlags(b, 0, SAL_ACK);
 * assertEquals(b[2], 0x20);
 * ```
 */
export function writeControlFlags(buf: Uint8Array, extOff: number, v: number): void {
  buf[extOff + CONTROL_FLAGS] = v;
}

/**
 * Writes `verno`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20); writeControlVerno(b, 0, 1);
 * assertEquals(b[7], 1);
 * ```
 */
export function writeControlVerno(buf: Uint8Array, extOff: number, v: number): void {
  writeU32(buf, extOff + CONTROL_VERNO, v);
}

/**
 * Writes `ackno`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20); writeControlAckno(b, 0, 1);
 * assertEquals(b[11], 1);
 * ```
 */
export function writeControlAckno(buf: Uint8Array, extOff: number, v: number): void {
  writeU32(buf, extOff + CONTROL_ACKNO, v);
}

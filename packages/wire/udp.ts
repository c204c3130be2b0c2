/**
 * The UDP header (RFC 768): source port, destination port, length, checksum.
 * 8 bytes. Serval uses it twice (facts §1.1, §2.1, §2.5):
 *
 * - **Datapath encapsulation**: IP | UDP (real ports, {@linkcode SERVAL_UDP_PORT}
 *   by default) | SAL header | ...;
 * - **Serval UDP transport**: IP | SAL header | UDP with both ports 0, the
 *   length and a checksum over the IP pseudo-header with protocol 17 and the
 *   UDP length (the SAL header is not covered).
 *
 * Checksums (RFC 768, RFC 8200 §8.1): over IPv4 a zero checksum means "none"
 * and is accepted; over IPv6 it is mandatory, and a zero checksum is dropped.
 * A computed checksum of 0 is sent as 0xffff (the same value in one's
 * complement) so it is not mistaken for "none".
 *
 * @module
 */

import type { DropReason } from "./drop_reason.ts";
import { readU16, writeU16 } from "./bytes.ts";
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";

/**
 * IP protocol number of UDP; the pseudo-header protocol of Serval UDP (facts §2.5).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPPROTO_UDP, 17);
 * ```
 */
export const IPPROTO_UDP = 17;

/**
 * UDP port of Serval's UDP datapath (the encapsulation server port, facts §1.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(SERVAL_UDP_PORT, 54325);
 * ```
 */
export const SERVAL_UDP_PORT = 54325;

/**
 * UDP source port the original kernel encapsulation used on clients (facts §1.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(SERVAL_UDP_CLIENT_PORT, 54324);
 * ```
 */
export const SERVAL_UDP_CLIENT_PORT = 54324;

/**
 * Offset of the 16-bit source port.
 *
 * @example Byte 0 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(UDP_SRC_PORT_OFFSET, 0);
 * ```
 */
export const UDP_SRC_PORT_OFFSET = 0;

/**
 * Offset of the 16-bit destination port.
 *
 * @example Byte 2 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(UDP_DST_PORT_OFFSET, 2);
 * ```
 */
export const UDP_DST_PORT_OFFSET = 2;

/**
 * Offset of the 16-bit length (header + payload, bytes).
 *
 * @example Byte 4 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(UDP_LENGTH_OFFSET, 4);
 * ```
 */
export const UDP_LENGTH_OFFSET = 4;

/**
 * Offset of the 16-bit checksum.
 *
 * @example Byte 6 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(UDP_CHECKSUM_OFFSET, 6);
 * ```
 */
export const UDP_CHECKSUM_OFFSET = 6;

/**
 * Length of the UDP header: 8 bytes.
 *
 * @example The header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(UDP_HEADER_LEN, 8);
 * ```
 */
export const UDP_HEADER_LEN: number = UDP_CHECKSUM_OFFSET + 2;

/**
 * A UDP header, already validated. Length and checksum are derived on emit
 * and not stored. Serval UDP transport headers have both ports 0.
 *
 * @example A Serval UDP transport header with 5 payload bytes
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: UdpRepr = { srcPort: 0, dstPort: 0, payloadLen: 5 };
 * const b = new Uint8Array(13);
 * emitUdp(r, b, 0);
 * assertEquals(parseUdp(b, 0), r);
 * ```
 */
export interface UdpRepr {
  /** Source port, 0..65535. */
  readonly srcPort: number;
  /** Destination port, 0..65535. */
  readonly dstPort: number;
  /** Payload bytes after the 8-byte header (length field minus 8). */
  readonly payloadLen: number;
}

/**
 * Reads the source port.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @returns The port, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readUdpSrcPort(new Uint8Array([0xd4, 0x34, 0, 0, 0, 8, 0, 0]), 0), 54324);
 * ```
 */
export function readUdpSrcPort(buf: Uint8Array, off: number): number {
  return readU16(buf, off + UDP_SRC_PORT_OFFSET);
}

/**
 * Writes the source port.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @param v The port, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(8);
 * writeUdpSrcPort(b, 0, 54324);
 * assertEquals(readUdpSrcPort(b, 0), 54324);
 * ```
 */
export function writeUdpSrcPort(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + UDP_SRC_PORT_OFFSET, v);
}

/**
 * Reads the destination port.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @returns The port, 0..65535.
 *
 * @example Is it for the Serval datapath?
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readUdpDstPort(new Uint8Array([0, 0, 0xd4, 0x35, 0, 8, 0, 0]), 0), SERVAL_UDP_PORT);
 * ```
 */
export function readUdpDstPort(buf: Uint8Array, off: number): number {
  return readU16(buf, off + UDP_DST_PORT_OFFSET);
}

/**
 * Writes the destination port.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @param v The port, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(8);
 * writeUdpDstPort(b, 0, SERVAL_UDP_PORT);
 * assertEquals([b[2], b[3]], [0xd4, 0x35]);
 * ```
 */
export function writeUdpDstPort(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + UDP_DST_PORT_OFFSET, v);
}

/**
 * Reads the length field (header + payload, bytes).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @returns The length, 0..65535.
 *
 * @example An empty datagram
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readUdpLength(new Uint8Array([0, 0, 0, 0, 0, 8, 0, 0]), 0), 8);
 * ```
 */
export function readUdpLength(buf: Uint8Array, off: number): number {
  return readU16(buf, off + UDP_LENGTH_OFFSET);
}

/**
 * Writes the length field.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @param v The length, 8..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(8);
 * writeUdpLength(b, 0, 12);
 * assertEquals(readUdpLength(b, 0), 12);
 * ```
 */
export function writeUdpLength(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + UDP_LENGTH_OFFSET, v);
}

/**
 * Reads the checksum field (0 means "none" over IPv4).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @returns The checksum, 0..65535.
 *
 * @example No checksum
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readUdpChecksum(new Uint8Array(8), 0), 0);
 * ```
 */
export function readUdpChecksum(buf: Uint8Array, off: number): number {
  return readU16(buf, off + UDP_CHECKSUM_OFFSET);
}

/**
 * Writes the checksum field as given (see {@linkcode fillUdpChecksum}).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @param v The checksum, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(8);
 * writeUdpChecksum(b, 0, 0xffff);
 * assertEquals([b[6], b[7]], [0xff, 0xff]);
 * ```
 */
export function writeUdpChecksum(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + UDP_CHECKSUM_OFFSET, v);
}

/** Sum over pseudo-header and the `length` bytes of the datagram. */
function udpSum(buf: Uint8Array, off: number, length: number, src: Uint8Array, dst: Uint8Array): number {
  return pseudoHeaderSum(src, dst, IPPROTO_UDP, length, checksumAdd(buf, off, length, 0));
}

/**
 * Computes the checksum over the pseudo-header and the datagram (as long as
 * its length field says) and stores it; a computed 0 is stored as 0xffff.
 * A service router uses it after rewriting the IP destination (facts §2.5).
 *
 * Allocation: none.
 *
 * @param buf The packet; the length field must be set and the payload in place.
 * @param off Offset of the UDP header.
 * @param src IP source address, 4 or 16 bytes.
 * @param dst IP destination address, same length as `src`.
 * @returns The checksum written.
 *
 * @example The stored checksum verifies
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const src = new Uint8Array([10, 0, 0, 1]), dst = new Uint8Array([10, 0, 0, 2]);
 * const b = new Uint8Array([0, 0, 0, 0, 0, 8, 0, 0]);
 * fillUdpChecksum(b, 0, src, dst);
 * assertEquals(parseUdp(b, 0, 8, src, dst), { srcPort: 0, dstPort: 0, payloadLen: 0 });
 * ```
 */
export function fillUdpChecksum(buf: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array): number {
  writeUdpChecksum(buf, off, 0);
  const c = checksumFinish(udpSum(buf, off, readUdpLength(buf, off), src, dst)) || 0xffff;
  writeUdpChecksum(buf, off, c);
  return c;
}

/**
 * Parses and validates a UDP header from untrusted bytes. Never throws.
 *
 * **Details**: drops, in this order:
 * - `"truncated"`: fewer than 8 bytes available;
 * - `"bad-length"`: the length field is below 8 or beyond the bytes available
 *   (bytes after the length, such as link padding, are ignored);
 * - `"bad-checksum"`, only when `src` and `dst` are given: the checksum over
 *   the pseudo-header does not verify, or it is 0 ("none") with 16-byte
 *   (IPv6) addresses, where RFC 8200 §8.1 makes it mandatory. With 4-byte
 *   addresses a zero checksum is accepted (RFC 768).
 *
 * Without addresses the checksum is not looked at. The payload starts at
 * `off + UDP_HEADER_LEN`.
 *
 * **Performance**: allocates the repr only.
 *
 * @param buf The packet.
 * @param off Offset of the UDP header.
 * @param len Bytes available from `off` (default: to the end of `buf`);
 *   normally the IP payload length.
 * @param src IP source address (4 or 16 bytes) for checksum verification.
 * @param dst IP destination address, same length as `src`.
 * @returns The header, or why it was dropped.
 *
 * @example A Serval UDP header (ports 0)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array([0, 0, 0, 0, 0, 10, 0, 0, 0x68, 0x69]);
 * assertEquals(parseUdp(b, 0), { srcPort: 0, dstPort: 0, payloadLen: 2 });
 * assertEquals(parseUdp(b, 0, 9), "bad-length");
 * ```
 */
export function parseUdp(
  buf: Uint8Array,
  off: number,
  len: number = buf.length - off,
  src?: Uint8Array,
  dst?: Uint8Array,
): UdpRepr | DropReason {
  const avail = Math.min(len, buf.length - off);
  if (!(avail >= UDP_HEADER_LEN)) return "truncated";
  const length = readUdpLength(buf, off);
  if (length < UDP_HEADER_LEN || length > avail) return "bad-length";
  if (src !== undefined && dst !== undefined) {
    if (readUdpChecksum(buf, off) === 0) {
      if (src.length !== 4) return "bad-checksum";
    } else if (checksumFinish(udpSum(buf, off, length, src, dst)) !== 0) {
      return "bad-checksum";
    }
  }
  return { srcPort: readUdpSrcPort(buf, off), dstPort: readUdpDstPort(buf, off), payloadLen: length - UDP_HEADER_LEN };
}

/**
 * The number of bytes {@linkcode emitUdp} writes: always 8.
 *
 * @param _repr The header.
 * @returns {@linkcode UDP_HEADER_LEN}.
 *
 * @example Room for a datagram
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r = { srcPort: 0, dstPort: 0, payloadLen: 100 };
 * assertEquals(udpHeaderLen(r) + r.payloadLen, 108);
 * ```
 */
export function udpHeaderLen(_repr: UdpRepr): number {
  return UDP_HEADER_LEN;
}

function checkField(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Cannot emit UDP header: ${name} is ${v}, must be ${min}..${max}`);
  }
}

/**
 * Writes a UDP header into a caller-lent buffer: ports, the length (8 +
 * `payloadLen`) and the checksum. The `payloadLen` payload bytes must already
 * be in place right after the header when addresses are given.
 *
 * **Details**: with `src` and `dst` the checksum covers the pseudo-header,
 * header and payload (a computed 0 is written as 0xffff); without them it is
 * written as 0 ("none", valid over IPv4 only).
 *
 * Allocation: none. Borrows `buf` until return.
 *
 * @param repr The header.
 * @param buf The packet buffer.
 * @param off Where the header starts.
 * @param src IP source address (4 or 16 bytes), to compute the checksum.
 * @param dst IP destination address, same length as `src`.
 * @returns Bytes written (8).
 * @throws {RangeError} When `buf` lacks room for the header (and, with
 *   addresses, the payload), a port is out of range, the length would exceed
 *   65535, or `src` and `dst` are not both 4 or both 16 bytes.
 *
 * @example Encapsulate toward the Serval datapath port
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(8);
 * emitUdp({ srcPort: SERVAL_UDP_CLIENT_PORT, dstPort: SERVAL_UDP_PORT, payloadLen: 0 }, b, 0);
 * assertEquals([...b], [0xd4, 0x34, 0xd4, 0x35, 0, 8, 0, 0]);
 * ```
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, off: number, src?: Uint8Array, dst?: Uint8Array): number {
  checkField("source port", repr.srcPort, 0, 0xffff);
  checkField("destination port", repr.dstPort, 0, 0xffff);
  checkField("payload length", repr.payloadLen, 0, 0xffff - UDP_HEADER_LEN);
  const withSum = src !== undefined && dst !== undefined;
  const need = UDP_HEADER_LEN + (withSum ? repr.payloadLen : 0);
  if (!Number.isInteger(off) || off < 0 || off + need > buf.length) {
    throw new RangeError(`Cannot emit UDP header: needs ${need} bytes at offset ${off}, buffer has ${buf.length}`);
  }
  if (withSum && (src.length !== dst.length || (src.length !== 4 && src.length !== 16))) {
    throw new RangeError(
      `Cannot emit UDP header: addresses are ${src.length} and ${dst.length} bytes, must be both 4 or both 16`,
    );
  }
  writeUdpSrcPort(buf, off, repr.srcPort);
  writeUdpDstPort(buf, off, repr.dstPort);
  writeUdpLength(buf, off, UDP_HEADER_LEN + repr.payloadLen);
  if (withSum) {
    fillUdpChecksum(buf, off, src, dst);
  } else {
    writeUdpChecksum(buf, off, 0);
  }
  return UDP_HEADER_LEN;
}

/**
 * The TCP header as Serval TCP uses it, after the SAL header (facts §2.5):
 * the RFC 9293 §3.1 layout with both ports always 0 (the SAL flowIDs
 * demultiplex), 20 bytes plus up to 40 bytes of options.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |       Source Port (0)         |     Destination Port (0)      |
 * |                        Sequence Number                        |
 * |                    Acknowledgment Number                      |
 * | DOff  | Rsrvd |C|E|U|A|P|R|S|F|            Window             |
 * |           Checksum            |         Urgent Pointer        |
 * |                    Options (DOff > 5)                         |
 * ```
 *
 * Options understood: MSS (kind 2, RFC 9293 §3.2), window scale (3, RFC 7323
 * §2), SACK-permitted (4) and SACK (5, RFC 2018), timestamps (8, RFC 7323 §3);
 * NOP and EOL; other kinds with a valid length are skipped.
 *
 * The checksum covers the IP pseudo-header (protocol 6, TCP length = header +
 * payload, the SAL header excluded) with the packet's IP addresses, IPv4 or
 * IPv6 (facts §2.5).
 *
 * @module
 */

import type { DropReason } from "./drop_reason.ts";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { checksumAdd, checksumFinish, pseudoHeaderSum } from "./checksum.ts";

/**
 * IP protocol number of TCP; the pseudo-header protocol of Serval TCP (facts §2.5).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(IPPROTO_TCP, 6);
 * ```
 */
export const IPPROTO_TCP = 6;

/**
 * FIN flag: no more data from sender.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_FIN, 0x01);
 * ```
 */
export const TCP_FIN = 0x01;

/**
 * SYN flag: synchronize sequence numbers.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_SYN, 0x02);
 * ```
 */
export const TCP_SYN = 0x02;

/**
 * RST flag: reset the connection.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_RST, 0x04);
 * ```
 */
export const TCP_RST = 0x04;

/**
 * PSH flag: push function.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_PSH, 0x08);
 * ```
 */
export const TCP_PSH = 0x08;

/**
 * ACK flag: the acknowledgment field is significant.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_ACK, 0x10);
 * ```
 */
export const TCP_ACK = 0x10;

/**
 * URG flag: the urgent pointer is significant.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_URG, 0x20);
 * ```
 */
export const TCP_URG = 0x20;

/**
 * ECE flag: ECN echo (RFC 3168 §6.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_ECE, 0x40);
 * ```
 */
export const TCP_ECE = 0x40;

/**
 * CWR flag: congestion window reduced (RFC 3168 §6.1).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_CWR, 0x80);
 * ```
 */
export const TCP_CWR = 0x80;

/**
 * Option kind: end of option list.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_EOL, 0);
 * ```
 */
export const TCP_OPT_EOL = 0;

/**
 * Option kind: no-operation (padding).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_NOP, 1);
 * ```
 */
export const TCP_OPT_NOP = 1;

/**
 * Option kind: maximum segment size, length 4.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_MSS, 2);
 * ```
 */
export const TCP_OPT_MSS = 2;

/**
 * Option kind: window scale, length 3.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_WINDOW_SCALE, 3);
 * ```
 */
export const TCP_OPT_WINDOW_SCALE = 3;

/**
 * Option kind: SACK permitted, length 2.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_SACK_PERMITTED, 4);
 * ```
 */
export const TCP_OPT_SACK_PERMITTED = 4;

/**
 * Option kind: SACK blocks, length 2 + 8n.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_SACK, 5);
 * ```
 */
export const TCP_OPT_SACK = 5;

/**
 * Option kind: timestamps, length 10.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_OPT_TIMESTAMPS, 8);
 * ```
 */
export const TCP_OPT_TIMESTAMPS = 8;

/**
 * Largest window scale shift (RFC 7323 §2.3).
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_MAX_WINDOW_SCALE, 14);
 * ```
 */
export const TCP_MAX_WINDOW_SCALE = 14;

/**
 * Offset of the 16-bit source port (0 in Serval TCP).
 *
 * @example Byte 0 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_SRC_PORT_OFFSET, 0);
 * ```
 */
export const TCP_SRC_PORT_OFFSET = 0;

/**
 * Offset of the 16-bit destination port (0 in Serval TCP).
 *
 * @example Byte 2 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_DST_PORT_OFFSET, 2);
 * ```
 */
export const TCP_DST_PORT_OFFSET = 2;

/**
 * Offset of the 32-bit sequence number.
 *
 * @example Byte 4 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_SEQ_OFFSET, 4);
 * ```
 */
export const TCP_SEQ_OFFSET = 4;

/**
 * Offset of the 32-bit acknowledgment number.
 *
 * @example Byte 8 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_ACK_OFFSET, 8);
 * ```
 */
export const TCP_ACK_OFFSET = 8;

/**
 * Offset of the byte holding the data offset (high nibble) and reserved bits.
 *
 * @example Byte 12 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_DOFF_OFFSET, 12);
 * ```
 */
export const TCP_DOFF_OFFSET = 12;

/**
 * Offset of the flags byte (CWR ECE URG ACK PSH RST SYN FIN).
 *
 * @example Byte 13 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_FLAGS_OFFSET, 13);
 * ```
 */
export const TCP_FLAGS_OFFSET = 13;

/**
 * Offset of the 16-bit window.
 *
 * @example Byte 14 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_WINDOW_OFFSET, 14);
 * ```
 */
export const TCP_WINDOW_OFFSET = 14;

/**
 * Offset of the 16-bit checksum.
 *
 * @example Byte 16 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_CHECKSUM_OFFSET, 16);
 * ```
 */
export const TCP_CHECKSUM_OFFSET = 16;

/**
 * Offset of the 16-bit urgent pointer.
 *
 * @example Byte 18 of the header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_URGENT_OFFSET, 18);
 * ```
 */
export const TCP_URGENT_OFFSET = 18;

/**
 * Length of the TCP header without options: 20 bytes.
 *
 * @example The fixed part
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_HEADER_LEN, 20);
 * ```
 */
export const TCP_HEADER_LEN: number = TCP_URGENT_OFFSET + 2;

/**
 * Largest TCP header: data offset 15, 60 bytes.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_MAX_HEADER_LEN, 60);
 * ```
 */
export const TCP_MAX_HEADER_LEN: number = 15 * 4;

/**
 * Largest option space: 40 bytes.
 *
 * @example The value
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(TCP_MAX_OPTIONS_LEN, 40);
 * ```
 */
export const TCP_MAX_OPTIONS_LEN: number = TCP_MAX_HEADER_LEN - TCP_HEADER_LEN;

/** The timestamps option (RFC 7323 §3): both values are u32. *
 * @example Timestamps in a SYN
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const ts: TcpTimestamps = { tsval: 12345, tsecr: 0 };
 * assertEquals(tcpHeaderLen({ seq: 0, ack: 0, flags: TCP_SYN, window: 0, urgent: 0, payloadLen: 0, options: { timestamps: ts } }), 32);
 * ```
 */
export interface TcpTimestamps {
  /** TSval: the sender's timestamp clock. */
  readonly tsval: number;
  /** TSecr: the echoed TSval (meaningful with ACK). */
  readonly tsecr: number;
}

/** One SACK block (RFC 2018 §3): `[left edge, right edge)` as u32 sequence numbers. *
 * @example Bytes 1000..1999 were received
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const block: TcpSackBlock = [1000, 2000];
 * assertEquals(block[1] - block[0], 1000);
 * ```
 */
export type TcpSackBlock = readonly [left: number, right: number];

/**
 * TCP options, already validated.
 *
 * **Canonical form**: a field is present only when the option is;
 * `sackPermitted` is `true` or absent (never `false`); `sackBlocks` holds 1
 * to 4 blocks or is absent (never empty); `windowScale` is 0..14.
 *
 * @example What a Linux SYN offers
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const o: TcpOptions = { mss: 1460, sackPermitted: true, timestamps: { tsval: 1, tsecr: 0 }, windowScale: 7 };
 * assertEquals(tcpHeaderLen({ seq: 0, ack: 0, flags: TCP_SYN, window: 0, urgent: 0, payloadLen: 0, options: o }), 40);
 * ```
 */
export interface TcpOptions {
  /** Maximum segment size (kind 2), 0..65535. */
  readonly mss?: number;
  /** Window scale shift (kind 3), 0..14; a received value above 14 reads as 14 (RFC 7323 §2.3). */
  readonly windowScale?: number;
  /** SACK permitted (kind 4). */
  readonly sackPermitted?: true;
  /** SACK blocks (kind 5), 1..4 of them. */
  readonly sackBlocks?: readonly TcpSackBlock[];
  /** Timestamps (kind 8). */
  readonly timestamps?: TcpTimestamps;
}

/**
 * A Serval TCP header, already validated. Ports are not represented (always
 * 0 on emit, ignored on parse); data offset and checksum are derived.
 *
 * **Canonical form**: `options` is always present (maybe `{}`), in the form
 * {@linkcode TcpOptions} describes, so `parseTcp(emitTcp(r))` deep-equals `r`.
 *
 * @example A pure ACK; options is {} when there are none
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: TcpRepr = { seq: 1, ack: 2, flags: TCP_ACK, window: 1000, urgent: 0, options: {}, payloadLen: 0 };
 * const b = new Uint8Array(20);
 * emitTcp(r, b, 0);
 * assertEquals(parseTcp(b, 0), r);
 * ```
 */
export interface TcpRepr {
  /** Sequence number, u32. */
  readonly seq: number;
  /** Acknowledgment number, u32 (as on the wire, whether or not ACK is set). */
  readonly ack: number;
  /** Flags byte: a bitmask of {@linkcode TCP_FIN} .. {@linkcode TCP_CWR}. */
  readonly flags: number;
  /** Window (unscaled, as on the wire), 0..65535. */
  readonly window: number;
  /** Urgent pointer, 0..65535. */
  readonly urgent: number;
  /** Options. */
  readonly options: TcpOptions;
  /** Payload bytes after the header. */
  readonly payloadLen: number;
}

/**
 * Reads the source port (0 in Serval TCP).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The port, 0..65535.
 *
 * @example Serval TCP ports are 0
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readTcpSrcPort(new Uint8Array(20), 0), 0);
 * ```
 */
export function readTcpSrcPort(buf: Uint8Array, off: number): number {
  return readU16(buf, off + TCP_SRC_PORT_OFFSET);
}

/**
 * Writes the source port.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The port, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpSrcPort(b, 0, 8080);
 * assertEquals(readTcpSrcPort(b, 0), 8080);
 * ```
 */
export function writeTcpSrcPort(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + TCP_SRC_PORT_OFFSET, v);
}

/**
 * Reads the destination port (0 in Serval TCP).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The port, 0..65535.
 *
 * @example Serval TCP ports are 0
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(readTcpDstPort(new Uint8Array(20), 0), 0);
 * ```
 */
export function readTcpDstPort(buf: Uint8Array, off: number): number {
  return readU16(buf, off + TCP_DST_PORT_OFFSET);
}

/**
 * Writes the destination port.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The port, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpDstPort(b, 0, 80);
 * assertEquals(readTcpDstPort(b, 0), 80);
 * ```
 */
export function writeTcpDstPort(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + TCP_DST_PORT_OFFSET, v);
}

/**
 * Reads the sequence number.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The sequence number, u32.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b.set([0xff, 0, 0, 1], 4);
 * assertEquals(readTcpSeq(b, 0), 0xff000001);
 * ```
 */
export function readTcpSeq(buf: Uint8Array, off: number): number {
  return readU32(buf, off + TCP_SEQ_OFFSET);
}

/**
 * Writes the sequence number.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The sequence number (taken modulo 2^32).
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpSeq(b, 0, 0xdeadbeef);
 * assertEquals(readTcpSeq(b, 0), 0xdeadbeef);
 * ```
 */
export function writeTcpSeq(buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off + TCP_SEQ_OFFSET, v);
}

/**
 * Reads the acknowledgment number.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The acknowledgment number, u32.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b.set([0, 0, 1, 0], 8);
 * assertEquals(readTcpAck(b, 0), 256);
 * ```
 */
export function readTcpAck(buf: Uint8Array, off: number): number {
  return readU32(buf, off + TCP_ACK_OFFSET);
}

/**
 * Writes the acknowledgment number.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The acknowledgment number (taken modulo 2^32).
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpAck(b, 0, 1);
 * assertEquals(b[11], 1);
 * ```
 */
export function writeTcpAck(buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off + TCP_ACK_OFFSET, v);
}

/**
 * Reads the data offset: the header length in 32-bit words (5..15 when valid).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The data offset, 0..15.
 *
 * @example A 40-byte header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[12] = 0xa0;
 * assertEquals(readTcpDataOffset(b, 0) * 4, 40);
 * ```
 */
export function readTcpDataOffset(buf: Uint8Array, off: number): number {
  return buf[off + TCP_DOFF_OFFSET]! >> 4;
}

/**
 * Writes the data offset, keeping the reserved bits.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The data offset in 32-bit words, 0..15.
 *
 * @example No options
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpDataOffset(b, 0, 5);
 * assertEquals(b[12], 0x50);
 * ```
 */
export function writeTcpDataOffset(buf: Uint8Array, off: number, v: number): void {
  const i = off + TCP_DOFF_OFFSET;
  buf[i] = ((v & 0xf) << 4) | (buf[i]! & 0x0f);
}

/**
 * Reads the flags byte.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns A bitmask of {@linkcode TCP_FIN} .. {@linkcode TCP_CWR}.
 *
 * @example A SYN-ACK
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[13] = 0x12;
 * assertEquals(readTcpFlags(b, 0), TCP_SYN | TCP_ACK);
 * ```
 */
export function readTcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + TCP_FLAGS_OFFSET]!;
}

/**
 * Writes the flags byte.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v A bitmask of {@linkcode TCP_FIN} .. {@linkcode TCP_CWR}.
 *
 * @example A FIN-ACK
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpFlags(b, 0, TCP_FIN | TCP_ACK);
 * assertEquals(b[13], 0x11);
 * ```
 */
export function writeTcpFlags(buf: Uint8Array, off: number, v: number): void {
  buf[off + TCP_FLAGS_OFFSET] = v;
}

/**
 * Reads the window (unscaled).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The window, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[14] = 0x20;
 * assertEquals(readTcpWindow(b, 0), 8192);
 * ```
 */
export function readTcpWindow(buf: Uint8Array, off: number): number {
  return readU16(buf, off + TCP_WINDOW_OFFSET);
}

/**
 * Writes the window.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The window, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpWindow(b, 0, 65535);
 * assertEquals(readTcpWindow(b, 0), 65535);
 * ```
 */
export function writeTcpWindow(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + TCP_WINDOW_OFFSET, v);
}

/**
 * Reads the checksum field.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The checksum, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[16] = 0x12; b[17] = 0x34;
 * assertEquals(readTcpChecksum(b, 0), 0x1234);
 * ```
 */
export function readTcpChecksum(buf: Uint8Array, off: number): number {
  return readU16(buf, off + TCP_CHECKSUM_OFFSET);
}

/**
 * Writes the checksum field as given (see {@linkcode fillTcpChecksum}).
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The checksum, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpChecksum(b, 0, 0xabcd);
 * assertEquals([b[16], b[17]], [0xab, 0xcd]);
 * ```
 */
export function writeTcpChecksum(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + TCP_CHECKSUM_OFFSET, v);
}

/**
 * Reads the urgent pointer.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @returns The urgent pointer, 0..65535.
 *
 * @example Read it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * b[19] = 7;
 * assertEquals(readTcpUrgent(b, 0), 7);
 * ```
 */
export function readTcpUrgent(buf: Uint8Array, off: number): number {
  return readU16(buf, off + TCP_URGENT_OFFSET);
}

/**
 * Writes the urgent pointer.
 *
 * Allocation: none.
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param v The urgent pointer, 0..65535.
 *
 * @example Write it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(20);
 * writeTcpUrgent(b, 0, 7);
 * assertEquals(readTcpUrgent(b, 0), 7);
 * ```
 */
export function writeTcpUrgent(buf: Uint8Array, off: number, v: number): void {
  writeU16(buf, off + TCP_URGENT_OFFSET, v);
}

/** Sum over the pseudo-header and `len` bytes of the segment. */
function tcpSum(buf: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array): number {
  return pseudoHeaderSum(src, dst, IPPROTO_TCP, len, checksumAdd(buf, off, len, 0));
}

/**
 * Computes the checksum over the pseudo-header, header and payload and stores
 * it. A service router uses it after rewriting the IP destination (facts §2.5).
 *
 * Allocation: none.
 *
 * @param buf The packet; the payload must be in place.
 * @param off Offset of the TCP header.
 * @param len TCP length: header + payload bytes (TCP has no length field).
 * @param src IP source address, 4 or 16 bytes.
 * @param dst IP destination address, same length as `src`.
 * @returns The checksum written.
 *
 * @example The stored checksum verifies
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const src = new Uint8Array([10, 0, 0, 1]), dst = new Uint8Array([10, 0, 0, 2]);
 * const b = new Uint8Array(20);
 * b[12] = 0x50; b[13] = TCP_SYN;
 * fillTcpChecksum(b, 0, 20, src, dst);
 * assertEquals(typeof parseTcp(b, 0, 20, src, dst), "object");
 * ```
 */
export function fillTcpChecksum(buf: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array): number {
  writeTcpChecksum(buf, off, 0);
  const c = checksumFinish(tcpSum(buf, off, len, src, dst));
  writeTcpChecksum(buf, off, c);
  return c;
}

/**
 * Parses and validates a Serval TCP header from untrusted bytes. Never throws.
 *
 * **Details**: drops, in this order:
 * - `"truncated"`: fewer than 20 bytes available;
 * - `"bad-length"`: data offset below 5 or beyond `len`;
 * - `"bad-checksum"`, only when `src` and `dst` are given: the checksum over
 *   the pseudo-header (protocol 6, TCP length `len`) and the `len` bytes does
 *   not verify;
 * - `"bad-option"`: an option's length byte is missing, below 2 or overruns
 *   the header; MSS, window scale, SACK-permitted or timestamps with a length
 *   other than 4, 3, 2 or 10; SACK with a length other than 2 + 8n, n >= 1.
 *
 * Options after EOL are ignored; unknown kinds with a valid length are
 * skipped; when an option repeats the last one wins (as Linux). Ports,
 * reserved bits and AE/NS are ignored. The result is in the canonical form of
 * {@linkcode TcpRepr}; `payloadLen` is `len` minus the header length and the
 * payload starts at `off + 4 * readTcpDataOffset(buf, off)`.
 *
 * **Performance**: allocates the repr and its options (and SACK blocks).
 *
 * @param buf The packet.
 * @param off Offset of the TCP header.
 * @param len TCP length: bytes of header + payload from `off` (default: to
 *   the end of `buf`); for Serval, IP payload length minus the SAL header.
 * @param src IP source address (4 or 16 bytes) for checksum verification.
 * @param dst IP destination address, same length as `src`.
 * @returns The header, or why it was dropped.
 *
 * @example A SYN with an MSS option
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const b = new Uint8Array(24);
 * b[12] = 0x60; b[13] = TCP_SYN;
 * b.set([2, 4, 0x05, 0xb4], 20);
 * const r = parseTcp(b, 0);
 * assertEquals(typeof r === "string" ? r : r.options, { mss: 1460 });
 * b[21] = 3;
 * assertEquals(parseTcp(b, 0), "bad-option");
 * ```
 */
export function parseTcp(
  buf: Uint8Array,
  off: number,
  len: number = buf.length - off,
  src?: Uint8Array,
  dst?: Uint8Array,
): TcpRepr | DropReason {
  const avail = Math.min(len, buf.length - off);
  if (!(avail >= TCP_HEADER_LEN)) return "truncated";
  const hlen = 4 * readTcpDataOffset(buf, off);
  if (hlen < TCP_HEADER_LEN || hlen > avail) return "bad-length";
  if (src !== undefined && dst !== undefined && checksumFinish(tcpSum(buf, off, avail, src, dst)) !== 0) {
    return "bad-checksum";
  }
  const options: {
    mss?: number;
    windowScale?: number;
    sackPermitted?: true;
    sackBlocks?: TcpSackBlock[];
    timestamps?: TcpTimestamps;
  } = {};
  const end = off + hlen;
  let i = off + TCP_HEADER_LEN;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TCP_OPT_EOL) break;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return "bad-option";
    const olen = buf[i + 1]!;
    if (olen < 2 || i + olen > end) return "bad-option";
    switch (kind) {
      case TCP_OPT_MSS:
        if (olen !== 4) return "bad-option";
        options.mss = readU16(buf, i + 2);
        break;
      case TCP_OPT_WINDOW_SCALE:
        if (olen !== 3) return "bad-option";
        // RFC 7323 §2.3: "If a Window Scale option is received with a shift.cnt
        // value larger than 14, the TCP SHOULD log the error but MUST use 14".
        options.windowScale = Math.min(buf[i + 2]!, TCP_MAX_WINDOW_SCALE);
        break;
      case TCP_OPT_SACK_PERMITTED:
        if (olen !== 2) return "bad-option";
        options.sackPermitted = true;
        break;
      case TCP_OPT_SACK: {
        // RFC 2018 §3: length 8n + 2; n = 0 carries nothing and is refused.
        if (olen < 10 || (olen - 2) % 8 !== 0) return "bad-option";
        const blocks: TcpSackBlock[] = [];
        for (let b = i + 2; b < i + olen; b += 8) blocks.push([readU32(buf, b), readU32(buf, b + 4)]);
        options.sackBlocks = blocks;
        break;
      }
      case TCP_OPT_TIMESTAMPS:
        if (olen !== 10) return "bad-option";
        options.timestamps = { tsval: readU32(buf, i + 2), tsecr: readU32(buf, i + 6) };
        break;
      default:
        // Unknown kind with a sane length: skip it (RFC 9293 §3.1 MUST-68).
        break;
    }
    i += olen;
  }
  return {
    seq: readTcpSeq(buf, off),
    ack: readTcpAck(buf, off),
    flags: readTcpFlags(buf, off),
    window: readTcpWindow(buf, off),
    urgent: readTcpUrgent(buf, off),
    options,
    payloadLen: avail - hlen,
  };
}

/** Bytes of options other than SACK blocks in the canonical layout. */
function fixedOptionsLen(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.timestamps !== undefined) n += 12;
  else if (o.sackPermitted) n += 4;
  if (o.windowScale !== undefined) n += 4;
  return n;
}

/** Bytes of the SACK option with its two leading NOPs, or 0. */
function sackLen(o: TcpOptions): number {
  return o.sackBlocks !== undefined ? 4 + 8 * o.sackBlocks.length : 0;
}

/**
 * The number of bytes {@linkcode emitTcp} writes: 20 plus the options in the
 * canonical layout. Does not validate; `emitTcp` does.
 *
 * @param repr The header.
 * @returns The header length, a multiple of 4.
 *
 * @example A SYN with MSS, timestamps, SACK-permitted and window scale
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const repr = { seq: 0, ack: 0, flags: TCP_SYN, window: 65535, urgent: 0, payloadLen: 0,
 *   options: { mss: 1460, sackPermitted: true as const, timestamps: { tsval: 1, tsecr: 0 }, windowScale: 7 } };
 * assertEquals(tcpHeaderLen(repr), 40);
 * ```
 */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_HEADER_LEN + fixedOptionsLen(repr.options) + sackLen(repr.options);
}

function checkField(name: string, v: number | undefined, min: number, max: number): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Cannot emit TCP header: ${name} is ${v}, must be ${min}..${max}`);
  }
}

const U32_MAX = 0xffffffff;

/**
 * Writes a Serval TCP header (ports 0) into a caller-lent buffer, in front of
 * `payloadLen` payload bytes that are already in place.
 *
 * **Canonical option layout** (deterministic, the order Linux writes, every
 * option 4-byte aligned so no trailing padding is needed):
 * 1. MSS: `[2, 4, mss]`;
 * 2. timestamps: `[4, 2, 8, 10, tsval, tsecr]` when SACK-permitted is also
 *    set, else `[1, 1, 8, 10, tsval, tsecr]`;
 * 3. SACK-permitted without timestamps: `[1, 1, 4, 2]`;
 * 4. window scale: `[1, 3, 3, shift]`;
 * 5. SACK blocks: `[1, 1, 5, 2 + 8n, left, right, ...]`.
 *
 * With `src` and `dst` the checksum covers the pseudo-header (protocol 6,
 * length header + payload), header and payload; without them it is 0.
 *
 * Allocation: none. Borrows `buf` until return.
 *
 * @param repr The header.
 * @param buf The packet buffer.
 * @param off Where the header starts.
 * @param src IP source address (4 or 16 bytes), to compute the checksum.
 * @param dst IP destination address, same length as `src`.
 * @returns The header length written.
 * @throws {RangeError} When the options exceed 40 bytes, `sackBlocks` is
 *   empty, a field is out of range (window scale above 14), `buf` lacks room
 *   for the header (and, with addresses, the payload), or `src` and `dst` are
 *   not both 4 or both 16 bytes.
 *
 * @example Emit a SYN and parse it back
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const repr = { seq: 1000, ack: 0, flags: TCP_SYN, window: 65535, urgent: 0, payloadLen: 0,
 *   options: { mss: 1460, sackPermitted: true as const, windowScale: 7 } };
 * const b = new Uint8Array(40);
 * const n = emitTcp(repr, b, 0);
 * assertEquals(n, 32);
 * assertEquals([...b.subarray(20, 32)], [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]);
 * assertEquals(parseTcp(b, 0, n), repr);
 * ```
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, off: number, src?: Uint8Array, dst?: Uint8Array): number {
  checkField("sequence number", repr.seq, 0, U32_MAX);
  checkField("acknowledgment number", repr.ack, 0, U32_MAX);
  checkField("flags", repr.flags, 0, 0xff);
  checkField("window", repr.window, 0, 0xffff);
  checkField("urgent pointer", repr.urgent, 0, 0xffff);
  checkField("payload length", repr.payloadLen, 0, U32_MAX);
  const o = repr.options;
  checkField("MSS", o.mss, 0, 0xffff);
  checkField("window scale", o.windowScale, 0, TCP_MAX_WINDOW_SCALE);
  if (o.timestamps !== undefined) {
    checkField("TSval", o.timestamps.tsval, 0, U32_MAX);
    checkField("TSecr", o.timestamps.tsecr, 0, U32_MAX);
  }
  const fixed = fixedOptionsLen(o);
  if (o.sackBlocks !== undefined) {
    const n = o.sackBlocks.length;
    if (n === 0) throw new RangeError("Cannot emit TCP header: sackBlocks is empty, omit it instead");
    if (fixed + 4 + 8 * n > TCP_MAX_OPTIONS_LEN) {
      throw new RangeError(
        `Cannot emit TCP header: ${n} SACK blocks do not fit in ${TCP_MAX_OPTIONS_LEN - fixed} bytes of options`,
      );
    }
    for (const [l, r] of o.sackBlocks) {
      checkField("SACK left edge", l, 0, U32_MAX);
      checkField("SACK right edge", r, 0, U32_MAX);
    }
  }
  const hlen = TCP_HEADER_LEN + fixed + sackLen(o);
  const withSum = src !== undefined && dst !== undefined;
  const need = hlen + (withSum ? repr.payloadLen : 0);
  if (!Number.isInteger(off) || off < 0 || off + need > buf.length) {
    throw new RangeError(`Cannot emit TCP header: needs ${need} bytes at offset ${off}, buffer has ${buf.length}`);
  }
  if (withSum && (src.length !== dst.length || (src.length !== 4 && src.length !== 16))) {
    throw new RangeError(
      `Cannot emit TCP header: addresses are ${src.length} and ${dst.length} bytes, must be both 4 or both 16`,
    );
  }
  // Ports are 0: the SAL flowIDs demultiplex (facts §2.5).
  writeTcpSrcPort(buf, off, 0);
  writeTcpDstPort(buf, off, 0);
  writeTcpSeq(buf, off, repr.seq);
  writeTcpAck(buf, off, repr.ack);
  buf[off + TCP_DOFF_OFFSET] = (hlen / 4) << 4;
  writeTcpFlags(buf, off, repr.flags);
  writeTcpWindow(buf, off, repr.window);
  writeTcpChecksum(buf, off, 0);
  writeTcpUrgent(buf, off, repr.urgent);
  let p = off + TCP_HEADER_LEN;
  if (o.mss !== undefined) {
    buf[p] = TCP_OPT_MSS;
    buf[p + 1] = 4;
    writeU16(buf, p + 2, o.mss);
    p += 4;
  }
  if (o.timestamps !== undefined) {
    // SACK-permitted rides in the two bytes that would otherwise be NOPs.
    if (o.sackPermitted) {
      buf[p] = TCP_OPT_SACK_PERMITTED;
      buf[p + 1] = 2;
    } else {
      buf[p] = TCP_OPT_NOP;
      buf[p + 1] = TCP_OPT_NOP;
    }
    buf[p + 2] = TCP_OPT_TIMESTAMPS;
    buf[p + 3] = 10;
    writeU32(buf, p + 4, o.timestamps.tsval);
    writeU32(buf, p + 8, o.timestamps.tsecr);
    p += 12;
  } else if (o.sackPermitted) {
    buf[p] = TCP_OPT_NOP;
    buf[p + 1] = TCP_OPT_NOP;
    buf[p + 2] = TCP_OPT_SACK_PERMITTED;
    buf[p + 3] = 2;
    p += 4;
  }
  if (o.windowScale !== undefined) {
    buf[p] = TCP_OPT_NOP;
    buf[p + 1] = TCP_OPT_WINDOW_SCALE;
    buf[p + 2] = 3;
    buf[p + 3] = o.windowScale;
    p += 4;
  }
  if (o.sackBlocks !== undefined) {
    buf[p] = TCP_OPT_NOP;
    buf[p + 1] = TCP_OPT_NOP;
    buf[p + 2] = TCP_OPT_SACK;
    buf[p + 3] = 2 + 8 * o.sackBlocks.length;
    p += 4;
    for (const [l, r] of o.sackBlocks) {
      writeU32(buf, p, l);
      writeU32(buf, p + 4, r);
      p += 8;
    }
  }
  if (withSum) fillTcpChecksum(buf, off, hlen + repr.payloadLen, src, dst);
  return hlen;
}

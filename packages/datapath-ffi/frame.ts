/**
 * Ethernet + IPv4/IPv6 framing for SAL packets (IP protocol / next header
 * 144): {@linkcode writeIpv4Frame} and {@linkcode writeIpv6Frame} write the
 * headers in front of a SAL packet; {@linkcode classifyFrame} validates a
 * received frame and says where its SAL packet and addresses are.
 *
 * Hot-path functions: they take buffers with offsets and allocate nothing.
 *
 * @module
 */

/** Ethernet II header bytes. */
export const ETH_LEN = 14;
/** Ethernet + IPv4 header (no options) bytes. */
export const IPV4_FRAME_HEADER_LEN: number = ETH_LEN + 20;
/** Ethernet + IPv6 header bytes. */
export const IPV6_FRAME_HEADER_LEN: number = ETH_LEN + 40;
/** TTL / hop limit of packets we originate. */
export const DEFAULT_TTL = 64;
/** IP protocol number of SAL. */
export const PROTO_SERVAL = 144;

/**
 * Where a received frame's parts are (filled by {@linkcode classifyFrame};
 * one object reused for every frame).
 */
export class RxFrame {
  /** 4 or 6. */
  family = 0;
  /** Offset of the IP header. */
  ipOff = 0;
  /** Offset of the SAL packet (after the IP header). */
  salOff = 0;
  /** SAL packet length (from the IP length field, not the frame length). */
  salLen = 0;
  /** Offset of the source address. */
  srcOff = 0;
  /** Offset of the destination address. */
  dstOff = 0;
  /** TTL / hop limit as received. */
  ttl = 0;
}

/**
 * What to do with a received frame: `"serval"` (a valid SAL-carrying IP
 * packet; addresses still to check), `"ignore"` (not ours to judge: another
 * EtherType or protocol; not counted), or a drop reason to count.
 */
export type FrameVerdict =
  | "serval"
  | "ignore"
  | "truncated"
  | "bad-ip-version"
  | "bad-ip-header-length"
  | "bad-ip-length"
  | "bad-ip-checksum"
  | "ip-fragment";

/**
 * Validates an Ethernet frame that may carry SAL over IPv4 or IPv6.
 *
 * Checks, in order: EtherType (else `"ignore"`), IP version, header length,
 * protocol/next header 144 (else `"ignore"`), total length against the
 * captured bytes, the IPv4 header checksum, fragments (SAL packets are never
 * fragmented: we send with sizes below the MTU).
 *
 * Allocation: none.
 *
 * @param buf Buffer holding the frame.
 * @param off Offset of the Ethernet header.
 * @param len Captured bytes of the frame.
 * @param out Filled when the verdict is `"serval"`.
 * @returns The verdict.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { classifyFrame, RxFrame, writeIpv4Frame } from "@serval/datapath-ffi";
 * const f = new Uint8Array(64);
 * const mac = new Uint8Array(6);
 * const a = new Uint8Array([198, 18, 0, 1, 198, 18, 0, 2]);
 * const h = writeIpv4Frame(f, 0, mac, mac, a, 0, a, 4, 12, 1, 64);
 * const r = new RxFrame();
 * assertEquals(classifyFrame(f, 0, h + 12, r), "serval");
 * assertEquals([r.salOff, r.salLen], [34, 12]);
 * f[24] ^= 1; // corrupt the header checksum
 * assertEquals(classifyFrame(f, 0, h + 12, r), "bad-ip-checksum");
 * ```
 */
export function classifyFrame(buf: Uint8Array, off: number, len: number, out: RxFrame): FrameVerdict {
  if (len < ETH_LEN) return "ignore";
  const type = (buf[off + 12]! << 8) | buf[off + 13]!;
  const ip = off + ETH_LEN;
  const avail = len - ETH_LEN;
  if (type === 0x0800) {
    if (avail < 20) return "truncated";
    const vihl = buf[ip]!;
    if (vihl >> 4 !== 4) return "bad-ip-version";
    const hlen = (vihl & 15) * 4;
    if (hlen < 20) return "bad-ip-header-length";
    if (buf[ip + 9] !== PROTO_SERVAL) return "ignore";
    const total = (buf[ip + 2]! << 8) | buf[ip + 3]!;
    if (hlen > avail) return "truncated";
    if (total < hlen || total > avail) return "bad-ip-length";
    let s = 0;
    for (let i = ip, e = ip + hlen; i < e; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    if (s !== 0xffff) return "bad-ip-checksum";
    if ((((buf[ip + 6]! << 8) | buf[ip + 7]!) & 0x3fff) !== 0) return "ip-fragment";
    out.family = 4;
    out.ipOff = ip;
    out.salOff = ip + hlen;
    out.salLen = total - hlen;
    out.srcOff = ip + 12;
    out.dstOff = ip + 16;
    out.ttl = buf[ip + 8]!;
    return "serval";
  }
  if (type === 0x86dd) {
    if (avail < 40) return "truncated";
    if (buf[ip]! >> 4 !== 6) return "bad-ip-version";
    if (buf[ip + 6] !== PROTO_SERVAL) return "ignore";
    const plen = (buf[ip + 4]! << 8) | buf[ip + 5]!;
    if (plen > avail - 40) return "bad-ip-length";
    out.family = 6;
    out.ipOff = ip;
    out.salOff = ip + 40;
    out.salLen = plen;
    out.srcOff = ip + 8;
    out.dstOff = ip + 24;
    out.ttl = buf[ip + 7]!;
    return "serval";
  }
  return "ignore";
}

/**
 * Writes Ethernet + IPv4 headers (IHL 5, DF off, protocol 144, checksum
 * filled) for a SAL packet of `payloadLen` bytes that follows them.
 *
 * Allocation: none.
 *
 * @param h Buffer to write into.
 * @param o Offset of the Ethernet header.
 * @param dstMac Destination MAC (6 bytes).
 * @param srcMac Source MAC (6 bytes).
 * @param src Buffer holding the source address at `srcOff` (4 bytes).
 * @param dst Buffer holding the destination address at `dstOff` (4 bytes).
 * @param payloadLen SAL packet bytes after the headers.
 * @param ident IP identification (low 16 bits used).
 * @param ttl Time to live.
 * @returns Header bytes written ({@linkcode IPV4_FRAME_HEADER_LEN}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { writeIpv4Frame } from "@serval/datapath-ffi";
 * import { internetChecksum } from "@serval/wire";
 * const f = new Uint8Array(34);
 * const a = new Uint8Array([198, 18, 0, 1, 198, 18, 0, 2]);
 * writeIpv4Frame(f, 0, new Uint8Array(6).fill(255), new Uint8Array(6), a, 0, a, 4, 100, 7, 64);
 * assertEquals([f[12], f[13], f[14], f[22], f[23]], [8, 0, 0x45, 64, 144]);
 * assertEquals(internetChecksum(f, 14, 20), 0);
 * ```
 */
export function writeIpv4Frame(
  h: Uint8Array,
  o: number,
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  payloadLen: number,
  ident: number,
  ttl: number,
): number {
  h[o] = dstMac[0]!;
  h[o + 1] = dstMac[1]!;
  h[o + 2] = dstMac[2]!;
  h[o + 3] = dstMac[3]!;
  h[o + 4] = dstMac[4]!;
  h[o + 5] = dstMac[5]!;
  h[o + 6] = srcMac[0]!;
  h[o + 7] = srcMac[1]!;
  h[o + 8] = srcMac[2]!;
  h[o + 9] = srcMac[3]!;
  h[o + 10] = srcMac[4]!;
  h[o + 11] = srcMac[5]!;
  h[o + 12] = 0x08;
  h[o + 13] = 0x00;
  const ip = o + ETH_LEN;
  const total = payloadLen + 20;
  const id = ident & 0xffff;
  const s0 = src[srcOff]!, s1 = src[srcOff + 1]!, s2 = src[srcOff + 2]!, s3 = src[srcOff + 3]!;
  const d0 = dst[dstOff]!, d1 = dst[dstOff + 1]!, d2 = dst[dstOff + 2]!, d3 = dst[dstOff + 3]!;
  h[ip] = 0x45;
  h[ip + 1] = 0;
  h[ip + 2] = total >> 8;
  h[ip + 3] = total & 0xff;
  h[ip + 4] = id >> 8;
  h[ip + 5] = id & 0xff;
  h[ip + 6] = 0;
  h[ip + 7] = 0;
  h[ip + 8] = ttl;
  h[ip + 9] = PROTO_SERVAL;
  h[ip + 12] = s0;
  h[ip + 13] = s1;
  h[ip + 14] = s2;
  h[ip + 15] = s3;
  h[ip + 16] = d0;
  h[ip + 17] = d1;
  h[ip + 18] = d2;
  h[ip + 19] = d3;
  let s = 0x4500 + total + id + ((ttl << 8) | PROTO_SERVAL) + ((s0 << 8) | s1) + ((s2 << 8) | s3) +
    ((d0 << 8) | d1) + ((d2 << 8) | d3);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  h[ip + 10] = c >> 8;
  h[ip + 11] = c & 0xff;
  return IPV4_FRAME_HEADER_LEN;
}

/**
 * Writes Ethernet + IPv6 headers (traffic class and flow label 0, next header
 * 144) for a SAL packet of `payloadLen` bytes that follows them.
 *
 * Allocation: none.
 *
 * @returns Header bytes written ({@linkcode IPV6_FRAME_HEADER_LEN}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { classifyFrame, RxFrame, writeIpv6Frame } from "@serval/datapath-ffi";
 * const f = new Uint8Array(64);
 * const a = new Uint8Array(32).fill(1);
 * const n = writeIpv6Frame(f, 0, new Uint8Array(6), new Uint8Array(6), a, 0, a, 16, 10, 64);
 * assertEquals(n, 54);
 * assertEquals(classifyFrame(f, 0, 64, new RxFrame()), "serval");
 * ```
 */
export function writeIpv6Frame(
  h: Uint8Array,
  o: number,
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  payloadLen: number,
  hopLimit: number,
): number {
  for (let i = 0; i < 6; i++) {
    h[o + i] = dstMac[i]!;
    h[o + 6 + i] = srcMac[i]!;
  }
  h[o + 12] = 0x86;
  h[o + 13] = 0xdd;
  const ip = o + ETH_LEN;
  h[ip] = 0x60;
  h[ip + 1] = 0;
  h[ip + 2] = 0;
  h[ip + 3] = 0;
  h[ip + 4] = payloadLen >> 8;
  h[ip + 5] = payloadLen & 0xff;
  h[ip + 6] = PROTO_SERVAL;
  h[ip + 7] = hopLimit;
  for (let i = 0; i < 16; i++) {
    h[ip + 8 + i] = src[srcOff + i]!;
    h[ip + 24 + i] = dst[dstOff + i]!;
  }
  return IPV6_FRAME_HEADER_LEN;
}

/**
 * Forwarding rewrite of an IPv4 frame in place: new MACs, TTL − 1 with an
 * incremental checksum update (RFC 1624).
 *
 * Allocation: none.
 *
 * @returns The new TTL, or -1 when the TTL was ≤ 1 (the packet must be dropped).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { forwardIpv4Frame, writeIpv4Frame } from "@serval/datapath-ffi";
 * import { internetChecksum } from "@serval/wire";
 * const f = new Uint8Array(34);
 * const a = new Uint8Array([198, 18, 1, 1, 198, 18, 2, 2]);
 * const m = new Uint8Array(6);
 * writeIpv4Frame(f, 0, m, m, a, 0, a, 4, 0, 1, 64);
 * assertEquals(forwardIpv4Frame(f, 0, new Uint8Array(6).fill(2), new Uint8Array(6).fill(3)), 63);
 * assertEquals(internetChecksum(f, 14, 20), 0);
 * assertEquals(f[0], 2);
 * ```
 */
export function forwardIpv4Frame(f: Uint8Array, o: number, dstMac: Uint8Array, srcMac: Uint8Array): number {
  const ip = o + ETH_LEN;
  const ttl = f[ip + 8]!;
  if (ttl <= 1) return -1;
  for (let i = 0; i < 6; i++) {
    f[o + i] = dstMac[i]!;
    f[o + 6 + i] = srcMac[i]!;
  }
  f[ip + 8] = ttl - 1;
  // HC' = ~(~HC + ~m + m') with m = ttl<<8|proto, m' = m - 0x100.
  const proto = f[ip + 9]!;
  const m = (ttl << 8) | proto;
  let s = (~((f[ip + 10]! << 8) | f[ip + 11]!) & 0xffff) + (~m & 0xffff) + (m - 0x100);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  f[ip + 10] = c >> 8;
  f[ip + 11] = c & 0xff;
  return ttl - 1;
}

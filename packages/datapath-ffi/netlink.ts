/**
 * rtnetlink (NETLINK_ROUTE) messages, encoded and decoded in plain buffers:
 * the requests the datapath sends (dumps of links and addresses, a route
 * lookup, a neighbour lookup, a managed neighbour) and the replies and
 * notifications it reads (links, addresses, routes, neighbours, errors).
 *
 * Pure: no I/O. Control path: decoders allocate small objects.
 *
 * @module
 */

/** `struct nlmsghdr` bytes. */
export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
/** Multicast groups (bit masks for `sockaddr_nl.nl_groups`). */
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
/** States in which the neighbour's link-layer address may be used. */
export const NUD_VALID: number = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY;
/** `NDA_FLAGS_EXT` bit: the kernel keeps this entry resolved (Linux ≥ 5.16). */
export const NTF_EXT_MANAGED = 0x1;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const IFA_FLAGS = 8;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_FLAGS_EXT = 15;
/** `IFA_F_TENTATIVE`: IPv6 DAD not finished, the address is not usable yet. */
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_DADFAILED = 0x08;

const align4 = (n: number) => (n + 3) & ~3;

/** A netlink message under construction (header, fixed struct, attributes). */
class Builder {
  readonly buf = new Uint8Array(256);
  readonly dv = new DataView(this.buf.buffer);
  len = NLMSG_HDRLEN;

  constructor(type: number, flags: number, seq: number) {
    this.dv.setUint16(4, type, true);
    this.dv.setUint16(6, flags, true);
    this.dv.setUint32(8, seq >>> 0, true);
  }
  u8(v: number) {
    this.buf[this.len++] = v;
    return this;
  }
  u16(v: number) {
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
    return this;
  }
  u32(v: number) {
    this.dv.setUint32(this.len, v >>> 0, true);
    this.len += 4;
    return this;
  }
  attr(type: number, data: Uint8Array) {
    this.dv.setUint16(this.len, 4 + data.length, true);
    this.dv.setUint16(this.len + 2, type, true);
    this.buf.set(data, this.len + 4);
    this.len = align4(this.len + 4 + data.length);
    return this;
  }
  done(): Uint8Array {
    this.dv.setUint32(0, this.len, true);
    return this.buf.slice(0, this.len);
  }
}

/**
 * A dump request (`RTM_GETLINK` or `RTM_GETADDR` with `NLM_F_DUMP`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeDump, RTM_GETLINK } from "@serval/datapath-ffi";
 * const m = encodeDump(RTM_GETLINK, 0, 1);
 * assertEquals(m.length, 32);
 * assertEquals([m[4], m[6], m[7]], [18, 0x01, 0x03]);
 * ```
 */
export function encodeDump(type: number, family: number, seq: number): Uint8Array {
  const b = new Builder(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (type === RTM_GETLINK) b.u8(family).u8(0).u16(0).u32(0).u32(0).u32(0); // ifinfomsg
  else b.u8(family).u8(0).u8(0).u8(0).u32(0); // ifaddrmsg / rtmsg head
  return b.done();
}

/**
 * `RTM_GETROUTE` for one destination: the kernel answers with the route it
 * would use (output interface, gateway, preferred source).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeGetRoute } from "@serval/datapath-ffi";
 * const m = encodeGetRoute(new Uint8Array([198, 18, 2, 2]), 7);
 * assertEquals(m.length, 16 + 12 + 8);
 * assertEquals([...m.subarray(32, 36)], [198, 18, 2, 2]);
 * ```
 */
export function encodeGetRoute(dst: Uint8Array, seq: number): Uint8Array {
  const fam = dst.length === 4 ? 2 : 10;
  return new Builder(RTM_GETROUTE, NLM_F_REQUEST, seq)
    .u8(fam).u8(dst.length * 8).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0)
    .attr(RTA_DST, dst)
    .done();
}

/**
 * `RTM_GETNEIGH` for one neighbour (exact lookup, Linux ≥ 4.19 strict mode
 * not needed: the kernel matches `NDA_DST` + ifindex).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeGetNeigh } from "@serval/datapath-ffi";
 * assertEquals(encodeGetNeigh(3, new Uint8Array([198, 18, 0, 1]), 1).length, 36);
 * ```
 */
export function encodeGetNeigh(ifindex: number, dst: Uint8Array, seq: number): Uint8Array {
  const fam = dst.length === 4 ? 2 : 10;
  return new Builder(RTM_GETNEIGH, NLM_F_REQUEST, seq)
    .u8(fam).u8(0).u16(0).u32(ifindex).u16(0).u8(0).u8(0)
    .attr(NDA_DST, dst)
    .done();
}

/**
 * `RTM_NEWNEIGH` creating a managed entry (`NTF_EXT_MANAGED`, Linux ≥ 5.16)
 * without a link-layer address: the kernel resolves it (ARP / neighbour
 * discovery) and keeps it resolved; we learn the address from the
 * `RTM_NEWNEIGH` notification. `NLM_F_EXCL` leaves an existing entry alone.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeManagedNeigh } from "@serval/datapath-ffi";
 * const m = encodeManagedNeigh(3, new Uint8Array([198, 18, 0, 1]), 1);
 * assertEquals(m.length, 16 + 12 + 8 + 8);
 * ```
 */
export function encodeManagedNeigh(ifindex: number, dst: Uint8Array, seq: number): Uint8Array {
  const fam = dst.length === 4 ? 2 : 10;
  const ext = new Uint8Array(4);
  new DataView(ext.buffer).setUint32(0, NTF_EXT_MANAGED, true);
  return new Builder(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq)
    .u8(fam).u8(0).u16(0).u32(ifindex).u16(0).u8(0).u8(0)
    .attr(NDA_DST, dst)
    .attr(NDA_FLAGS_EXT, ext)
    .done();
}

/** One netlink message inside a received buffer. */
export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** Offset of the message (its header) in the buffer. */
  readonly off: number;
  /** Whole message length. */
  readonly len: number;
}

/**
 * Splits a received datagram into messages (stops at a malformed length).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeDump, RTM_GETADDR, splitMessages } from "@serval/datapath-ffi";
 * const a = encodeDump(RTM_GETADDR, 0, 5);
 * const two = new Uint8Array(a.length * 2);
 * two.set(a); two.set(a, a.length);
 * assertEquals(splitMessages(two, two.length).map((m) => m.seq), [5, 5]);
 * ```
 */
export function splitMessages(buf: Uint8Array, n: number): NlMessage[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= n) {
    const len = dv.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > n) break;
    out.push({ type: dv.getUint16(off + 4, true), flags: dv.getUint16(off + 6, true), seq: dv.getUint32(off + 8, true), off, len });
    off += align4(len);
  }
  return out;
}

/** Attributes of a message: type → bytes (copies). */
function attrs(buf: Uint8Array, start: number, end: number): Map<number, Uint8Array> {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const m = new Map<number, Uint8Array>();
  let o = start;
  while (o + 4 <= end) {
    const len = dv.getUint16(o, true);
    const type = dv.getUint16(o + 2, true) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < 4 || o + len > end) break;
    if (!m.has(type)) m.set(type, buf.slice(o + 4, o + len));
    o += align4(len);
  }
  return m;
}

/**
 * Error code of an `NLMSG_ERROR` message (0 = ACK, else a negative errno).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeError } from "@serval/datapath-ffi";
 * const b = new Uint8Array(36);
 * new DataView(b.buffer).setInt32(16, -17, true); // EEXIST
 * assertEquals(decodeError(b, { type: 2, flags: 0, seq: 1, off: 0, len: 36 }), -17);
 * ```
 */
export function decodeError(buf: Uint8Array, m: NlMessage): number {
  if (m.len < NLMSG_HDRLEN + 4) return -22;
  return new DataView(buf.buffer, buf.byteOffset).getInt32(m.off + NLMSG_HDRLEN, true);
}

/** A link from `RTM_NEWLINK`/`RTM_DELLINK`. */
export interface LinkInfo {
  readonly ifindex: number;
  readonly name: string;
  readonly flags: number;
  /** Hardware address (6 bytes on Ethernet; empty when absent). */
  readonly mac: Uint8Array;
  readonly mtu: number;
}

/**
 * Decodes `struct ifinfomsg` + attributes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeLink } from "@serval/datapath-ffi";
 * const b = new Uint8Array(16 + 16 + 12);
 * const dv = new DataView(b.buffer);
 * dv.setUint32(0, b.length, true); dv.setUint16(4, 16, true);
 * dv.setInt32(20, 3, true); dv.setUint32(24, 0x1, true);
 * dv.setUint16(32, 8, true); dv.setUint16(34, 3, true); b.set([0x76, 0x61, 0x00], 36); // IFLA_IFNAME "va"
 * dv.setUint16(40, 4, true); dv.setUint16(42, 0, true);
 * const l = decodeLink(b, { type: 16, flags: 0, seq: 0, off: 0, len: b.length });
 * assertEquals([l.ifindex, l.name, l.flags], [3, "va", 1]);
 * ```
 */
export function decodeLink(buf: Uint8Array, m: NlMessage): LinkInfo {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b = m.off + NLMSG_HDRLEN;
  const a = attrs(buf, b + 16, m.off + m.len);
  const nameBytes = a.get(IFLA_IFNAME);
  const mtu = a.get(IFLA_MTU);
  return {
    ifindex: dv.getInt32(b + 4, true),
    flags: dv.getUint32(b + 8, true),
    name: nameBytes ? new TextDecoder().decode(nameBytes.subarray(0, nameBytes.indexOf(0) >= 0 ? nameBytes.indexOf(0) : nameBytes.length)) : "",
    mac: a.get(IFLA_ADDRESS) ?? new Uint8Array(0),
    mtu: mtu && mtu.length >= 4 ? new DataView(mtu.buffer, mtu.byteOffset).getUint32(0, true) : 1500,
  };
}

/** An address from `RTM_NEWADDR`/`RTM_DELADDR`. */
export interface AddrInfo {
  readonly family: number;
  readonly prefixLen: number;
  readonly scope: number;
  readonly flags: number;
  readonly ifindex: number;
  /** Our address (IFA_LOCAL, else IFA_ADDRESS). */
  readonly address: Uint8Array;
  /** IPv4 broadcast (IFA_BROADCAST) when set. */
  readonly broadcast: Uint8Array | undefined;
}

/**
 * Decodes `struct ifaddrmsg` + attributes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeAddr } from "@serval/datapath-ffi";
 * const b = new Uint8Array(16 + 8 + 8);
 * const dv = new DataView(b.buffer);
 * dv.setUint32(0, b.length, true); dv.setUint16(4, 20, true);
 * b.set([2, 24, 0, 0], 16); dv.setUint32(20, 4, true);
 * dv.setUint16(24, 8, true); dv.setUint16(26, 2, true); b.set([198, 18, 0, 1], 28);
 * const a = decodeAddr(b, { type: 20, flags: 0, seq: 0, off: 0, len: b.length });
 * assertEquals([a.family, a.prefixLen, a.ifindex, [...a.address]], [2, 24, 4, [198, 18, 0, 1]]);
 * ```
 */
export function decodeAddr(buf: Uint8Array, m: NlMessage): AddrInfo {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b = m.off + NLMSG_HDRLEN;
  const a = attrs(buf, b + 8, m.off + m.len);
  const fl = a.get(IFA_FLAGS);
  return {
    family: buf[b]!,
    prefixLen: buf[b + 1]!,
    flags: fl && fl.length >= 4 ? new DataView(fl.buffer, fl.byteOffset).getUint32(0, true) : buf[b + 2]!,
    scope: buf[b + 3]!,
    ifindex: dv.getUint32(b + 4, true),
    address: a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS) ?? new Uint8Array(0),
    broadcast: a.get(IFA_BROADCAST),
  };
}

/** A route from `RTM_NEWROUTE` (the answer to {@linkcode encodeGetRoute}). */
export interface RouteInfo {
  readonly family: number;
  /** `RTN_UNICAST`, `RTN_LOCAL`, `RTN_BROADCAST`, … */
  readonly type: number;
  readonly dstLen: number;
  readonly table: number;
  readonly oif: number;
  readonly dst: Uint8Array | undefined;
  readonly gateway: Uint8Array | undefined;
  readonly prefsrc: Uint8Array | undefined;
}

/**
 * Decodes `struct rtmsg` + attributes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeRoute } from "@serval/datapath-ffi";
 * const b = new Uint8Array(16 + 12 + 8 + 8);
 * const dv = new DataView(b.buffer);
 * dv.setUint32(0, b.length, true); dv.setUint16(4, 24, true);
 * b.set([2, 32, 0, 0, 254, 0, 0, 1], 16);
 * dv.setUint16(28, 8, true); dv.setUint16(30, 4, true); dv.setUint32(32, 5, true); // RTA_OIF
 * dv.setUint16(36, 8, true); dv.setUint16(38, 5, true); b.set([198, 18, 1, 1], 40); // RTA_GATEWAY
 * const r = decodeRoute(b, { type: 24, flags: 0, seq: 0, off: 0, len: b.length });
 * assertEquals([r.type, r.oif, [...r.gateway!]], [1, 5, [198, 18, 1, 1]]);
 * ```
 */
export function decodeRoute(buf: Uint8Array, m: NlMessage): RouteInfo {
  const b = m.off + NLMSG_HDRLEN;
  const a = attrs(buf, b + 12, m.off + m.len);
  const oif = a.get(RTA_OIF);
  const table = a.get(RTA_TABLE);
  return {
    family: buf[b]!,
    dstLen: buf[b + 1]!,
    table: table && table.length >= 4 ? new DataView(table.buffer, table.byteOffset).getUint32(0, true) : buf[b + 4]!,
    type: buf[b + 7]!,
    oif: oif && oif.length >= 4 ? new DataView(oif.buffer, oif.byteOffset).getUint32(0, true) : 0,
    dst: a.get(RTA_DST),
    gateway: a.get(RTA_GATEWAY),
    prefsrc: a.get(RTA_PREFSRC),
  };
}

/** A neighbour from `RTM_NEWNEIGH`/`RTM_DELNEIGH`. */
export interface NeighInfo {
  readonly family: number;
  readonly ifindex: number;
  /** `NUD_*` bits. */
  readonly state: number;
  readonly dst: Uint8Array | undefined;
  /** Link-layer address when known. */
  readonly lladdr: Uint8Array | undefined;
}

/**
 * Decodes `struct ndmsg` + attributes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeNeigh } from "@serval/datapath-ffi";
 * const b = new Uint8Array(16 + 12 + 8 + 12);
 * const dv = new DataView(b.buffer);
 * dv.setUint32(0, b.length, true); dv.setUint16(4, 28, true);
 * b[16] = 2; dv.setInt32(20, 3, true); dv.setUint16(24, 2, true);
 * dv.setUint16(28, 8, true); dv.setUint16(30, 1, true); b.set([198, 18, 0, 2], 32);
 * dv.setUint16(36, 10, true); dv.setUint16(38, 2, true); b.set([2, 0, 0, 0, 0, 9], 40);
 * const n = decodeNeigh(b, { type: 28, flags: 0, seq: 0, off: 0, len: b.length });
 * assertEquals([n.ifindex, n.state, n.lladdr![5]], [3, 2, 9]);
 * ```
 */
export function decodeNeigh(buf: Uint8Array, m: NlMessage): NeighInfo {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b = m.off + NLMSG_HDRLEN;
  const a = attrs(buf, b + 12, m.off + m.len);
  return {
    family: buf[b]!,
    ifindex: dv.getInt32(b + 4, true),
    state: dv.getUint16(b + 8, true),
    dst: a.get(NDA_DST),
    lladdr: a.get(NDA_LLADDR),
  };
}

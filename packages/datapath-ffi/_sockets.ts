/**
 * The datapath's kernel objects, opened through bun:ffi: packet sockets with
 * a TPACKET_V3 (or V2) RX ring, the raw protocol-144 "guard" sockets, netlink sockets
 * and an eventfd. Every opener throws {@linkcode PacketDatapathError} with the
 * errno name and closes what it opened before throwing. Private.
 *
 * @module
 */

import { ptr, toArrayBuffer } from "bun:ffi";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_PACKET,
  asPtr,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  errno,
  ETH_P_ALL,
  htons,
  IPPROTO_SERVAL,
  libc,
  MAP_SHARED,
  mapFailed,
  MSG_DONTWAIT,
  NETLINK_ROUTE,
  PACKET_IGNORE_OUTGOING,
  PACKET_QDISC_BYPASS,
  PACKET_RX_RING,
  PACKET_STATISTICS,
  PACKET_VERSION,
  PROT_READ,
  PROT_WRITE,
  SO_ATTACH_FILTER,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_PACKET,
  SOL_SOCKET,
  TPACKET_V2,
  TPACKET_V3,
} from "./_libc.ts";
import { dropAllFilter, servalFrameFilter } from "./bpf.ts";
import { errnoName } from "./errno.ts";
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_MULTI, splitMessages } from "./netlink.ts";
import type { NlMessage } from "./netlink.ts";
import { PacketDatapathError } from "./packet_datapath_error.ts";
import { RxRing } from "./rx_ring.ts";
import type { RxRingReader } from "./rx_ring.ts";
import { RxRingV2 } from "./rx_ring_v2.ts";

const SO_SNDBUFFORCE = 32;

/** Throws a PacketDatapathError for the errno of the call that just failed. */
export function fail(what: string, hint = ""): never {
  const e = errnoName(errno());
  throw new PacketDatapathError(`Cannot ${what}: ${e}${hint ? ` (${hint})` : ""}`, e);
}

function setInt(fd: number, level: number, opt: number, v: number, what: string): void {
  const b = new Int32Array([v]);
  if (libc().setsockopt(fd, level, opt, ptr(b), 4) !== 0) fail(what);
}

function attachFilter(fd: number, prog: Uint8Array, what: string): void {
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (16 bytes, pointer at 8).
  const insns = new Uint8Array(prog); // own copy: the kernel reads it during the call only
  const fprog = new BigUint64Array(2);
  new Uint16Array(fprog.buffer)[0] = prog.length / 8;
  fprog[1] = BigInt(ptr(insns));
  if (libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, ptr(fprog), 16) !== 0) fail(what);
}

/** Receive ring geometry. */
export interface RingGeometry {
  /** TPACKET_V3 (blocks, cheapest under load) or TPACKET_V2 (per-frame, lowest latency). */
  readonly version: 2 | 3;
  readonly blockSize: number;
  readonly blockCount: number;
  readonly frameSize: number;
  /** Milliseconds before the kernel hands over a partly filled block. */
  readonly retireMs: number;
}

/** A packet socket bound to one interface with its RX ring. */
export interface PacketSocket {
  readonly fd: number;
  readonly ifindex: number;
  /** Address of the ring mapping. */
  readonly ringAddr: number;
  readonly ringLen: number;
  readonly ring: RxRingReader;
}

/**
 * Opens `socket(AF_PACKET, SOCK_RAW, 0)`, sets TPACKET_V3 and the RX ring,
 * maps it, attaches the protocol-144 filter, ignores our own outgoing frames,
 * then binds to `ifindex` for every protocol (binding last: no frame arrives
 * before the ring and filter are in place).
 */
export function openPacketSocket(ifindex: number, ifname: string, g: RingGeometry, qdiscBypass: boolean): PacketSocket {
  const c = libc();
  const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("open packet socket", "run as root or grant CAP_NET_RAW");
  let addr = 0;
  const len = g.blockSize * g.blockCount;
  try {
    setInt(fd, SOL_PACKET, PACKET_VERSION, g.version === 3 ? TPACKET_V3 : TPACKET_V2, `select TPACKET_V${g.version}`);
    const frames = (g.blockSize / g.frameSize) * g.blockCount;
    const req = g.version === 3
      ? new Uint32Array([g.blockSize, g.blockCount, g.frameSize, frames, g.retireMs, 0, 0])
      : new Uint32Array([g.blockSize, g.blockCount, g.frameSize, frames]);
    if (c.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, ptr(req), req.byteLength) !== 0) {
      fail(
        `set up a ${g.blockCount} × ${g.blockSize}-byte RX ring on "${ifname}"`,
        "block size must be a multiple of the page size and of the frame size; try smaller ringBlockSize/ringBlockCount",
      );
    }
    const p = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapFailed(p as number | null)) fail(`map the RX ring of "${ifname}"`);
    addr = Number(p);
    attachFilter(fd, servalFrameFilter(), `attach the protocol-144 filter on "${ifname}"`);
    setInt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "set PACKET_IGNORE_OUTGOING");
    if (qdiscBypass) setInt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "set PACKET_QDISC_BYPASS");
    // Room for several sendmmsg bursts of full-size frames in flight.
    setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20, "enlarge the send buffer");
    const sll = new Uint8Array(20);
    const dv = new DataView(sll.buffer);
    dv.setUint16(0, AF_PACKET, true);
    dv.setUint16(2, htons(ETH_P_ALL), true);
    dv.setInt32(4, ifindex, true);
    if (c.bind(fd, ptr(sll), 20) !== 0) fail(`bind the packet socket to "${ifname}" (ifindex ${ifindex})`, "is the interface up?");
    const mem = new Uint8Array(toArrayBuffer(addr, 0, len));
    const ring = g.version === 3 ? new RxRing(mem, g.blockSize, g.blockCount) : new RxRingV2(mem, g.frameSize, frames);
    return { fd, ifindex, ringAddr: addr, ringLen: len, ring };
  } catch (e) {
    if (addr) c.munmap(asPtr(addr), len);
    c.close(fd);
    throw e;
  }
}

/** Closes a packet socket and unmaps its ring. */
export function closePacketSocket(s: PacketSocket): void {
  libc().munmap(asPtr(s.ringAddr), s.ringLen);
  libc().close(s.fd);
}

/** `PACKET_STATISTICS` (reading resets the kernel's counters): packets and ring drops. */
export function packetStats(fd: number): { packets: number; drops: number } {
  const st = new Uint32Array(3);
  const l = new Uint32Array([12]);
  if (libc().getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, ptr(st), ptr(l)) !== 0) return { packets: 0, drops: 0 };
  return { packets: st[0]!, drops: st[1]! };
}

/**
 * A raw socket for IP protocol 144 that accepts nothing (drop-all filter, tiny
 * buffer): its existence makes the kernel treat the protocol as handled, so it
 * sends no ICMP protocol-unreachable for our packets.
 *
 * @returns The fd, or -1 when the family is not available (IPv6 disabled).
 */
export function openGuardSocket(family: 4 | 6): number {
  const c = libc();
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_SERVAL);
  if (fd < 0) {
    if (family === 6 && errnoName(errno()) === "EAFNOSUPPORT") return -1;
    fail(`open a raw IPv${family} socket for protocol 144`, "run as root or grant CAP_NET_RAW");
  }
  try {
    attachFilter(fd, dropAllFilter(), "attach the drop-all filter");
    setInt(fd, SOL_SOCKET, SO_RCVBUF, 0, "shrink the guard socket's buffer");
  } catch (e) {
    c.close(fd);
    throw e;
  }
  return fd;
}

/** An eventfd (non-blocking) used to wake the poll Worker on close. */
export function openEventFd(): number {
  const fd = libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) fail("create an eventfd");
  return fd;
}

/** Adds 1 to an eventfd counter. */
export function signalEventFd(fd: number): void {
  const one = new BigUint64Array([1n]);
  libc().write(fd, ptr(one), 8);
}

/**
 * An rtnetlink socket: `request` sends a message and collects the reply
 * (blocking, with a 1 s receive timeout); `drain` reads pending
 * notifications without blocking.
 */
export class NetlinkSocket {
  readonly fd: number;
  readonly #buf = new Uint8Array(1 << 16);
  #seq = 1;

  /**
   * @param groups `RTMGRP_*` bits to subscribe to (0: requests only).
   */
  constructor(groups: number) {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) fail("open a netlink socket");
    try {
      if (groups !== 0) setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 1 << 20, "enlarge the netlink buffer");
      const tv = new BigInt64Array([1n, 0n]); // 1 s: a kernel reply never takes that long
      if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(tv), 16) !== 0) fail("set the netlink receive timeout");
      const sa = new Uint8Array(12);
      const dv = new DataView(sa.buffer);
      dv.setUint16(0, AF_NETLINK, true);
      dv.setUint32(8, groups >>> 0, true);
      if (c.bind(fd, ptr(sa), 12) !== 0) fail("bind the netlink socket");
    } catch (e) {
      c.close(fd);
      throw e;
    }
    this.fd = fd;
  }

  /** Next sequence number. */
  nextSeq(): number {
    return this.#seq++;
  }

  /**
   * Sends `msg` and returns the reply messages with its sequence number (all
   * parts of a dump; an `NLMSG_ERROR` message for errors and ACKs).
   *
   * @returns The messages and the buffer they are in (valid until the next call), or a negative errno on socket failure.
   */
  request(msg: Uint8Array): { buf: Uint8Array; msgs: NlMessage[] } | number {
    const c = libc();
    const seq = new DataView(msg.buffer, msg.byteOffset).getUint32(8, true);
    if (Number(c.send(this.fd, ptr(msg), msg.length, 0)) < 0) return -errno();
    const out: NlMessage[] = [];
    // Dumps arrive in several datagrams: keep copies, then join them.
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (let done = false; !done;) {
      const n = Number(c.recv(this.fd, ptr(this.#buf), this.#buf.length, 0));
      if (n < 0) return -errno();
      const copy = this.#buf.slice(0, n);
      for (const m of splitMessages(copy, n)) {
        if (m.seq !== seq) continue;
        out.push({ type: m.type, flags: m.flags, seq: m.seq, off: m.off + total, len: m.len });
        if (m.type === NLMSG_DONE || m.type === NLMSG_ERROR || (m.flags & NLM_F_MULTI) === 0) done = true;
      }
      chunks.push(copy);
      total += n;
    }
    const buf = new Uint8Array(total);
    let o = 0;
    for (const ch of chunks) {
      buf.set(ch, o);
      o += ch.length;
    }
    return { buf, msgs: out };
  }

  /**
   * Reads every pending notification without blocking.
   *
   * @param onMessage Called per message (the buffer is reused after it returns).
   * @returns false when the kernel dropped notifications (ENOBUFS: resynchronise).
   */
  drain(onMessage: (buf: Uint8Array, m: NlMessage) => void): boolean {
    const c = libc();
    let ok = true;
    for (;;) {
      const n = Number(c.recv(this.fd, ptr(this.#buf), this.#buf.length, MSG_DONTWAIT));
      if (n < 0) {
        if (errnoName(errno()) === "ENOBUFS") {
          ok = false;
          continue;
        }
        return ok;
      }
      if (n === 0) return ok;
      for (const m of splitMessages(this.#buf, n)) onMessage(this.#buf, m);
    }
  }

  /** Closes the socket. */
  close(): void {
    libc().close(this.fd);
  }
}

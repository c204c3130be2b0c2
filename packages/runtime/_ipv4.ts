/**
 * IPv4 helpers of the UDP datapath: addresses as unsigned 32-bit numbers
 * (cheap to compare and to key maps with), text conversion with caches, and
 * the host's IPv4 interfaces from `node:os`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import type { LocalAddress } from "@serval/datapath";

/** An IPv4 interface address of this host. */
export interface Ipv4Interface {
  /** Interface name. */
  readonly ifname: string;
  /** Interface index (from /sys on Linux, else 0). */
  readonly ifindex: number;
  /** Address as u32. */
  readonly address: number;
  /** Prefix length. */
  readonly prefixLen: number;
  /** Subnet mask as u32. */
  readonly mask: number;
  /** Subnet broadcast as u32. */
  readonly broadcast: number;
  /** Loopback and the like. */
  readonly internal: boolean;
}

/**
 * Parses dotted-quad text into a u32, or -1 when it is not IPv4.
 *
 * @example
 * ```ts
 * parseIpv4U32("198.18.0.1"); // => 0xc6120001
 * ```
 */
export function parseIpv4U32(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/**
 * Formats a u32 as dotted-quad text.
 *
 * @example
 * ```ts
 * formatIpv4U32(0x7f000001); // => "127.0.0.1"
 * ```
 */
export function formatIpv4U32(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Writes a u32 address as 4 bytes at `at`. */
export function writeIpv4U32(buf: Uint8Array, at: number, a: number): void {
  buf[at] = a >>> 24;
  buf[at + 1] = (a >>> 16) & 255;
  buf[at + 2] = (a >>> 8) & 255;
  buf[at + 3] = a & 255;
}

/** Reads 4 bytes at `at` as a u32 address. */
export function readIpv4U32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Mask of a prefix length, as u32. */
export function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** A bounded cache of text ↔ u32 conversions (the per-packet path sees few distinct peers). */
export class Ipv4TextCache {
  readonly #toText = new Map<number, string>();
  readonly #toU32 = new Map<string, number>();
  constructor(readonly limit = 4096) {}

  /** u32 → text. */
  text(a: number): string {
    let s = this.#toText.get(a);
    if (s === undefined) {
      if (this.#toText.size >= this.limit) this.#toText.clear();
      s = formatIpv4U32(a);
      this.#toText.set(a, s);
    }
    return s;
  }

  /** text → u32, or -1 when not IPv4. */
  u32(s: string): number {
    let a = this.#toU32.get(s);
    if (a === undefined) {
      if (this.#toU32.size >= this.limit) this.#toU32.clear();
      a = parseIpv4U32(s);
      this.#toU32.set(s, a);
    }
    return a;
  }
}

function ifindexOf(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}

/** The host's IPv4 interface addresses now (from `node:os` networkInterfaces()). */
export function ipv4Interfaces(): Ipv4Interface[] {
  const out: Ipv4Interface[] = [];
  for (const [ifname, list] of Object.entries(networkInterfaces())) {
    for (const e of list ?? []) {
      if (e.family !== "IPv4") continue;
      const address = parseIpv4U32(e.address);
      const mask = parseIpv4U32(e.netmask);
      if (address < 0 || mask < 0) continue;
      let prefixLen = 0;
      while (prefixLen < 32 && ((mask << prefixLen) & 0x80000000) !== 0) prefixLen++;
      out.push({
        ifname,
        ifindex: ifindexOf(ifname),
        address,
        prefixLen,
        mask,
        broadcast: ((address & mask) | (~mask >>> 0)) >>> 0,
        internal: e.internal,
      });
    }
  }
  return out;
}

/** A {@linkcode LocalAddress} for an interface address and a port. */
export function toLocalAddress(i: Ipv4Interface, port: number): LocalAddress {
  const address = new Uint8Array(4);
  writeIpv4U32(address, 0, i.address);
  return { ifindex: i.ifindex, ifname: i.ifname, address, prefixLen: i.prefixLen, port };
}

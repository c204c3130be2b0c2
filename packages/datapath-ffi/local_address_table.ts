/**
 * {@linkcode LocalAddressTable}: the addresses of our attached interfaces and
 * their IPv4 subnet broadcasts, answering "is this destination ours?" per
 * received packet without allocating.
 *
 * @module
 */

import type { LocalAddress } from "@serval/datapath";

/** {@linkcode LocalAddressTable.match} result: not ours. */
export const MATCH_NONE = 0;
/** Our unicast address. */
export const MATCH_UNICAST = 1;
/** A broadcast (limited, subnet) or the all-nodes IPv6 group. */
export const MATCH_BROADCAST = 2;

/** Big-endian u32 of 4 bytes at `off`. */
export function ipv4Key(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** The subnet broadcast of an IPv4 address/prefix (the address itself for /31 and /32). */
export function ipv4Broadcast(addr: Uint8Array, prefixLen: number): Uint8Array {
  if (prefixLen >= 31) return addr.slice(0, 4);
  const host = prefixLen === 0 ? 0xffffffff : (0xffffffff >>> prefixLen);
  const b = (ipv4Key(addr, 0) | host) >>> 0;
  return new Uint8Array([b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255]);
}

function sameAddress(a: LocalAddress, b: LocalAddress): boolean {
  if (a.ifindex !== b.ifindex || a.address.length !== b.address.length || a.prefixLen !== b.prefixLen) return false;
  for (let i = 0; i < a.address.length; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

/**
 * Our addresses, with fast matching of received destinations.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LocalAddressTable, MATCH_BROADCAST, MATCH_NONE, MATCH_UNICAST } from "@serval/datapath-ffi";
 * const t = new LocalAddressTable();
 * t.add({ ifindex: 2, ifname: "v0", address: new Uint8Array([198, 18, 0, 1]), prefixLen: 24, port: 0 });
 * assertEquals(t.match(new Uint8Array([198, 18, 0, 1]), 0, 4), MATCH_UNICAST);
 * assertEquals(t.match(new Uint8Array([198, 18, 0, 255]), 0, 4), MATCH_BROADCAST);
 * assertEquals(t.match(new Uint8Array([255, 255, 255, 255]), 0, 4), MATCH_BROADCAST);
 * assertEquals(t.match(new Uint8Array([198, 18, 0, 2]), 0, 4), MATCH_NONE);
 * ```
 */
export class LocalAddressTable {
  #list: LocalAddress[] = [];
  #v4 = new Map<number, number>(); // key → MATCH_*
  #v6: Uint8Array[] = [];

  /** Every address, in the order added. */
  list(): readonly LocalAddress[] {
    return this.#list;
  }

  /**
   * Adds an address (no-op when present).
   *
   * @returns Whether it was new.
   */
  add(a: LocalAddress): boolean {
    if (this.#list.some((x) => sameAddress(x, a))) return false;
    this.#list.push(a);
    this.#rebuild();
    return true;
  }

  /**
   * Removes an address.
   *
   * @returns The removed entry, or undefined when it was not there.
   */
  remove(a: LocalAddress): LocalAddress | undefined {
    const i = this.#list.findIndex((x) => sameAddress(x, a));
    if (i < 0) return undefined;
    const [gone] = this.#list.splice(i, 1);
    this.#rebuild();
    return gone;
  }

  /** Removes every address of an interface; returns them. */
  removeInterface(ifindex: number): LocalAddress[] {
    const gone = this.#list.filter((x) => x.ifindex === ifindex);
    if (gone.length > 0) {
      this.#list = this.#list.filter((x) => x.ifindex !== ifindex);
      this.#rebuild();
    }
    return gone;
  }

  /** First IPv4 (4) or IPv6 (16) address of an interface, for our source address. */
  first(ifindex: number, len: number): LocalAddress | undefined {
    return this.#list.find((x) => x.ifindex === ifindex && x.address.length === len);
  }

  /**
   * Classifies a destination address. Allocation: none.
   *
   * @param buf Buffer holding the address.
   * @param off Its offset.
   * @param family 4 or 6.
   */
  match(buf: Uint8Array, off: number, family: number): number {
    if (family === 4) {
      const k = ipv4Key(buf, off);
      if (k === 0xffffffff) return MATCH_BROADCAST;
      return this.#v4.get(k) ?? MATCH_NONE;
    }
    // ff02::1, the IPv6 stand-in for a link broadcast.
    if (buf[off] === 0xff && buf[off + 1] === 0x02 && buf[off + 15] === 1) {
      let z = true;
      for (let i = 2; i < 15; i++) if (buf[off + i] !== 0) z = false;
      if (z) return MATCH_BROADCAST;
    }
    outer: for (const a of this.#v6) {
      for (let i = 15; i >= 0; i--) if (a[i] !== buf[off + i]) continue outer;
      return MATCH_UNICAST;
    }
    return MATCH_NONE;
  }

  #rebuild(): void {
    this.#v4.clear();
    this.#v6 = [];
    for (const a of this.#list) {
      if (a.address.length === 4) {
        const b = ipv4Broadcast(a.address, a.prefixLen);
        const bk = ipv4Key(b, 0);
        if (bk !== ipv4Key(a.address, 0)) this.#v4.set(bk, MATCH_BROADCAST);
      } else this.#v6.push(a.address);
    }
    // Unicast wins over a broadcast of another subnet that happens to be equal.
    for (const a of this.#list) if (a.address.length === 4) this.#v4.set(ipv4Key(a.address, 0), MATCH_UNICAST);
  }
}

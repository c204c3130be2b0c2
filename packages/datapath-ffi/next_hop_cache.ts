/**
 * {@linkcode NextHopCache}: where a SAL packet to a destination leaves and
 * with which MAC addresses, learnt from the kernel's own routing and
 * neighbour tables over rtnetlink (no static configuration), cached per
 * destination and per neighbour, with a small queue per unresolved neighbour.
 *
 * The kernel is reached through {@linkcode KernelTables}, so the cache logic
 * runs in unit tests with a fake.
 *
 * @module
 */

import { ipv4Key } from "./local_address_table.ts";
import type { NeighInfo, RouteInfo } from "./netlink.ts";
import { NUD_FAILED, NUD_VALID, RTN_BROADCAST, RTN_LOCAL, RTN_UNICAST } from "./netlink.ts";

/** What the cache needs from the kernel (rtnetlink in the datapath, a fake in tests). */
export interface KernelTables {
  /** The route the kernel would use for `dst` (RTM_GETROUTE), or a negative errno. */
  route(dst: Uint8Array): RouteInfo | number;
  /** The kernel's neighbour entry (RTM_GETNEIGH), or undefined. */
  neighbour(ifindex: number, addr: Uint8Array): NeighInfo | undefined;
  /** Asks the kernel to resolve and keep resolving a neighbour (managed entry); 0 or a negative errno. */
  resolve(ifindex: number, addr: Uint8Array): number;
  /** Our MAC and MTU on an attached interface, or undefined when not attached. */
  link(ifindex: number): { readonly mac: Uint8Array; readonly mtu: number } | undefined;
  /** Our first address of that length on an interface (source when the route has none). */
  source(ifindex: number, len: number): Uint8Array | undefined;
}

/** A packet waiting for its neighbour (copied out of the caller's batch). */
export interface QueuedPacket {
  /** 4 or 6. */
  readonly family: number;
  readonly data: Uint8Array;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

/**
 * Most packets queued per unresolved neighbour (one transmit burst); more are
 * dropped (`no-neighbour`).
 */
export const NEIGHBOUR_QUEUE_MAX = 64;

/** A next hop on one interface, kept current from neighbour notifications. */
export class Neighbour {
  /** Link-layer address when {@linkcode Neighbour.valid}. */
  readonly mac: Uint8Array = new Uint8Array(6);
  /** The MAC may be used. */
  valid = false;
  /** We asked the kernel to resolve it. */
  requested = false;
  /** Packets waiting for it. */
  queue: QueuedPacket[] = [];

  constructor(readonly ifindex: number, readonly addr: Uint8Array) {}
}

/** Route status values. */
export const ROUTE_OK = 0;
export const ROUTE_NONE = 1;
export const ROUTE_LOCAL = 2;
export const ROUTE_NOT_ATTACHED = 3;

/** A cached route to one destination. */
export class Route {
  /** Cache generation this was resolved in. */
  gen = -1;
  /** {@linkcode ROUTE_OK}, … */
  status: number = ROUTE_NONE;
  ifindex = 0;
  mtu = 1500;
  srcMac: Uint8Array = new Uint8Array(6);
  /** Source address the kernel would pick. */
  src: Uint8Array = new Uint8Array(16);
  /** Gateway or the destination itself. */
  neighbour: Neighbour | undefined;
}

const BROADCAST_NEIGHBOUR = new Neighbour(0, new Uint8Array(4));
BROADCAST_NEIGHBOUR.mac.fill(0xff);
BROADCAST_NEIGHBOUR.valid = true;

function hexKey(b: Uint8Array, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += (b[off + i]! | 0x100).toString(16).slice(1);
  return s;
}

/**
 * Routes per destination and neighbours per (interface, address).
 *
 * **Details**: routes are valid for one generation; {@linkcode NextHopCache.invalidate}
 * (on route, address or link notifications) starts a new one, and each route
 * is looked up again the next time it is used. Neighbours are updated in place
 * from neighbour notifications ({@linkcode NextHopCache.onNeighbour}). An
 * unknown or failed neighbour gets a managed kernel entry: the kernel resolves
 * it with its own ARP/ND, never with our packets.
 *
 * @example With a fake kernel
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { NextHopCache, ROUTE_OK } from "@serval/datapath-ffi";
 * const mac = new Uint8Array([2, 0, 0, 0, 0, 2]);
 * const c = new NextHopCache({
 *   route: () => ({ family: 2, type: 1, dstLen: 32, table: 254, oif: 3, dst: undefined, gateway: new Uint8Array([198, 18, 1, 1]), prefsrc: undefined }),
 *   neighbour: (ifindex, addr) => ({ family: 2, ifindex, state: 2, dst: addr, lladdr: mac }),
 *   resolve: () => 0,
 *   link: () => ({ mac: new Uint8Array(6), mtu: 1500 }),
 *   source: () => new Uint8Array([198, 18, 1, 2]),
 * });
 * const r = c.lookup(new Uint8Array([198, 18, 2, 2]), 0, 4);
 * assertEquals([r.status, r.ifindex, r.neighbour!.valid, r.neighbour!.mac[5]], [ROUTE_OK, 3, true, 2]);
 * ```
 */
export class NextHopCache {
  #gen = 0;
  readonly #v4 = new Map<number, Route>();
  readonly #v6 = new Map<string, Route>();
  readonly #neighbours = new Map<string, Neighbour>();

  constructor(readonly kernel: KernelTables) {}

  /** Current generation. */
  get generation(): number {
    return this.#gen;
  }

  /** Forgets every route (they are looked up again when next used). */
  invalidate(): void {
    this.#gen++;
    // Bound memory: a burst of destinations must not grow the cache forever.
    if (this.#v4.size > 65536) this.#v4.clear();
    if (this.#v6.size > 65536) this.#v6.clear();
  }

  /**
   * The route to the destination at `buf[off..]` (4 or 16 bytes). Allocation:
   * none when cached in the current generation.
   */
  lookup(buf: Uint8Array, off: number, family: number): Route {
    let r: Route | undefined;
    if (family === 4) {
      const k = ipv4Key(buf, off);
      r = this.#v4.get(k);
      if (r === undefined) {
        r = new Route();
        this.#v4.set(k, r);
      }
    } else {
      const k = hexKey(buf, off, 16);
      r = this.#v6.get(k);
      if (r === undefined) {
        r = new Route();
        this.#v6.set(k, r);
      }
    }
    if (r.gen !== this.#gen) this.#resolve(r, buf.slice(off, off + (family === 4 ? 4 : 16)));
    return r;
  }

  /**
   * Makes sure the kernel is resolving `n` (creates a managed entry once).
   *
   * @returns false when the kernel refused.
   */
  request(n: Neighbour): boolean {
    if (n.requested) return true;
    n.requested = true;
    return this.kernel.resolve(n.ifindex, n.addr) === 0;
  }

  /**
   * Applies a neighbour notification.
   *
   * @returns The neighbour when it just became usable and has queued packets
   * (send them), `"failed"` with the neighbour when resolution failed (drop
   * its queue), else undefined.
   */
  onNeighbour(info: NeighInfo, deleted: boolean): { neighbour: Neighbour; failed: boolean } | undefined {
    if (info.dst === undefined) return undefined;
    const n = this.#neighbours.get(`${info.ifindex}/${hexKey(info.dst, 0, info.dst.length)}`);
    if (n === undefined) return undefined;
    if (deleted) {
      n.valid = false;
      n.requested = false;
      return undefined;
    }
    const usable = (info.state & NUD_VALID) !== 0 && info.lladdr !== undefined && info.lladdr.length === 6;
    if (usable) {
      n.mac.set(info.lladdr!);
      n.valid = true;
      return n.queue.length > 0 ? { neighbour: n, failed: false } : undefined;
    }
    n.valid = false;
    if ((info.state & NUD_FAILED) !== 0 && n.queue.length > 0) return { neighbour: n, failed: true };
    return undefined;
  }

  /**
   * Asks the kernel for a neighbour's state again (in case a notification
   * was missed).
   *
   * @returns Whether it is usable now.
   */
  refresh(n: Neighbour): boolean {
    const k = this.kernel.neighbour(n.ifindex, n.addr);
    if (k !== undefined && (k.state & NUD_VALID) !== 0 && k.lladdr !== undefined && k.lladdr.length === 6) {
      n.mac.set(k.lladdr);
      n.valid = true;
    }
    return n.valid;
  }

  /** Neighbours with packets waiting. */
  waiting(): Neighbour[] {
    return [...this.#neighbours.values()].filter((n) => n.queue.length > 0);
  }

  #neighbour(ifindex: number, addr: Uint8Array): Neighbour {
    const key = `${ifindex}/${hexKey(addr, 0, addr.length)}`;
    let n = this.#neighbours.get(key);
    if (n === undefined) {
      n = new Neighbour(ifindex, addr);
      this.#neighbours.set(key, n);
      const k = this.kernel.neighbour(ifindex, addr);
      if (k !== undefined && (k.state & NUD_VALID) !== 0 && k.lladdr !== undefined && k.lladdr.length === 6) {
        n.mac.set(k.lladdr);
        n.valid = true;
      }
    }
    return n;
  }

  #resolve(r: Route, dst: Uint8Array): void {
    r.gen = this.#gen;
    r.neighbour = undefined;
    const rt = this.kernel.route(dst);
    if (typeof rt === "number") {
      r.status = ROUTE_NONE;
      return;
    }
    if (rt.type === RTN_LOCAL) {
      r.status = ROUTE_LOCAL;
      return;
    }
    if (rt.type !== RTN_UNICAST && rt.type !== RTN_BROADCAST) {
      r.status = ROUTE_NONE;
      return;
    }
    const link = this.kernel.link(rt.oif);
    if (link === undefined) {
      r.status = ROUTE_NOT_ATTACHED;
      return;
    }
    const src = rt.prefsrc ?? this.kernel.source(rt.oif, dst.length);
    if (src === undefined) {
      r.status = ROUTE_NONE;
      return;
    }
    r.status = ROUTE_OK;
    r.ifindex = rt.oif;
    r.mtu = link.mtu;
    r.srcMac = link.mac;
    r.src.fill(0);
    r.src.set(src);
    r.neighbour = rt.type === RTN_BROADCAST ? BROADCAST_NEIGHBOUR : this.#neighbour(rt.oif, rt.gateway ?? dst);
  }
}

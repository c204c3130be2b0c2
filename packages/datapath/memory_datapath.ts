/**
 * {@linkcode MemoryNetwork} and {@linkcode MemoryDatapath}: in-process links
 * for unit tests and examples. A network is a hub of named segments; each
 * attached datapath is one interface on one segment with one or more
 * addresses and one port (0: SAL directly over IP, like the packet datapath).
 *
 * Delivery is synchronous: `send` copies each packet into the destination's
 * bounded receive queue, and `wait()` resolves as soon as that queue becomes
 * non-empty. No timers, no clock: latency, loss and reordering belong to the
 * simulator (test/sim), not here.
 *
 * @module
 */

import type { Datapath, DatapathEvent, DatapathKind, DatapathStats, LocalAddress } from "./datapath.ts";
import { ADDR_SLOT, BATCH_BROADCAST, type PacketBatch } from "./packet_batch.ts";
import { Wakeup } from "./wakeup.ts";

/** Options of {@linkcode MemoryNetwork.attach}. */
export interface MemoryAttachOptions {
  /** First address of the interface (4 or 16 bytes). */
  readonly address: Uint8Array;
  /** Prefix length of its subnet (default 24 for IPv4, 64 for IPv6). */
  readonly prefixLen?: number;
  /** Port of the datapath (default 0: SAL over IP). */
  readonly port?: number;
  /** Segment name: broadcasts reach every other datapath on it (default "lan"). */
  readonly segment?: string;
  /** Largest SAL packet accepted by `send` (default 1500). */
  readonly mtu?: number;
  /** Receive queue length in packets (default 1024). */
  readonly queue?: number;
  /** Interface name (default `mem<ifindex>`). */
  readonly ifname?: string;
}

/** A packet waiting in a receive queue (its own copy). */
interface Queued {
  readonly bytes: Uint8Array;
  readonly src: Uint8Array;
  readonly srcPort: number;
  readonly dst: Uint8Array;
  readonly dstPort: number;
  readonly flags: number;
}

const keyOf = (address: Uint8Array, port: number): string => `${address.join(".")}/${port}`;

/**
 * A hub of in-memory segments that routes packets between attached
 * {@linkcode MemoryDatapath}s by destination address and port.
 *
 * @example Two datapaths on one segment
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryNetwork, PacketBatch } from "@serval/datapath";
 * const net = new MemoryNetwork();
 * const a = net.attach({ address: new Uint8Array([198, 18, 0, 1]) });
 * const b = net.attach({ address: new Uint8Array([198, 18, 0, 2]) });
 * const tx = new PacketBatch(4);
 * tx.push(new Uint8Array([1, 2, 3]), 0, 3, undefined, { address: new Uint8Array([198, 18, 0, 2]), port: 0 });
 * assertEquals(a.send(tx), 1);
 * const rx = new PacketBatch(4);
 * assertEquals(b.receive(rx), 1);
 * assertEquals([...rx.packet(0)], [1, 2, 3]);
 * assertEquals([...rx.src(0).address], [198, 18, 0, 1]);
 * ```
 */
export class MemoryNetwork {
  /** Datapath by `address/port`. */
  readonly #routes = new Map<string, MemoryDatapath>();
  /** Datapaths by segment. */
  readonly #segments = new Map<string, Set<MemoryDatapath>>();
  #nextIfindex = 1;

  /**
   * Attaches a new datapath (one interface) to a segment.
   *
   * @param opts Address, port, segment, MTU and queue length.
   * @returns The open datapath.
   * @throws {RangeError} On a bad address, port, MTU or queue length, or an address/port already attached.
   *
   * @example Attach with a port, as a UDP datapath would have
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryNetwork } from "@serval/datapath";
   * const dp = new MemoryNetwork().attach({ address: new Uint8Array([198, 18, 0, 1]), port: 54325 });
   * assertEquals(dp.localAddresses()[0]!.port, 54325);
   * ```
   */
  attach(opts: MemoryAttachOptions): MemoryDatapath {
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`Cannot attach memory datapath: port is ${port}, must be 0..65535`);
    }
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu <= 0) throw new RangeError(`Cannot attach memory datapath: mtu is ${mtu}, must be a positive integer`);
    const queue = opts.queue ?? 1024;
    if (!Number.isInteger(queue) || queue <= 0) {
      throw new RangeError(`Cannot attach memory datapath: queue is ${queue}, must be a positive integer`);
    }
    const ifindex = this.#nextIfindex++;
    const segment = opts.segment ?? "lan";
    const dp = new MemoryDatapath(this, segment, ifindex, opts.ifname ?? `mem${ifindex}`, port, mtu, queue);
    this.#addRoute(dp, opts.address, opts.prefixLen);
    let members = this.#segments.get(segment);
    if (!members) this.#segments.set(segment, (members = new Set()));
    members.add(dp);
    return dp;
  }

  /**
   * Gives `dp` another address and queues an `address-added` event on it.
   *
   * @param dp An attached datapath.
   * @param address 4 or 16 bytes.
   * @param prefixLen Subnet prefix length (default 24 / 64).
   * @throws {RangeError} On a bad address or one already in use with the same port.
   *
   * @example A new address raises an event and becomes reachable
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryNetwork } from "@serval/datapath";
   * const net = new MemoryNetwork();
   * const dp = net.attach({ address: new Uint8Array([198, 18, 0, 1]) });
   * net.addAddress(dp, new Uint8Array([198, 18, 1, 1]));
   * assertEquals(dp.pollEvent()?.type, "address-added");
   * assertEquals(dp.localAddresses().length, 2);
   * ```
   */
  addAddress(dp: MemoryDatapath, address: Uint8Array, prefixLen?: number): void {
    const la = this.#addRoute(dp, address, prefixLen);
    dp._event({ type: "address-added", address: la });
  }

  /**
   * Takes an address away from `dp` and queues an `address-removed` event.
   * Packets to it are then dropped as `no-route` by their senders.
   *
   * @param dp An attached datapath.
   * @param address One of its addresses.
   * @returns Whether `dp` had that address.
   *
   * @example Remove the only address
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryNetwork } from "@serval/datapath";
   * const net = new MemoryNetwork();
   * const dp = net.attach({ address: new Uint8Array([198, 18, 0, 1]) });
   * assertEquals(net.removeAddress(dp, new Uint8Array([198, 18, 0, 1])), true);
   * assertEquals(dp.pollEvent()?.type, "address-removed");
   * assertEquals(dp.localAddresses().length, 0);
   * ```
   */
  removeAddress(dp: MemoryDatapath, address: Uint8Array): boolean {
    const key = keyOf(address, dp.port);
    if (this.#routes.get(key) !== dp) return false;
    this.#routes.delete(key);
    const la = dp._removeAddress(address);
    if (la) dp._event({ type: "address-removed", address: la });
    return la !== undefined;
  }

  /**
   * Takes `dp`'s link down or up and queues a `link-down`/`link-up` event.
   * While down, `dp` sends nothing (`link-down`) and receives nothing (its
   * senders count `no-route`), as an unplugged cable would.
   *
   * @param dp An attached datapath.
   * @param up The new state.
   *
   * @example Unplug and replug
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryNetwork } from "@serval/datapath";
   * const net = new MemoryNetwork();
   * const dp = net.attach({ address: new Uint8Array([198, 18, 0, 1]) });
   * net.setLink(dp, false);
   * assertEquals(dp.pollEvent()?.type, "link-down");
   * net.setLink(dp, true);
   * assertEquals(dp.pollEvent()?.type, "link-up");
   * ```
   */
  setLink(dp: MemoryDatapath, up: boolean): void {
    if (dp.linkUp === up) return;
    dp._setLink(up);
    dp._event({ type: up ? "link-up" : "link-down", ifindex: dp.ifindex, ifname: dp.ifname });
  }

  #addRoute(dp: MemoryDatapath, address: Uint8Array, prefixLen?: number): LocalAddress {
    if (address.length !== 4 && address.length !== 16) {
      throw new RangeError(`Cannot add address: ${address.length} bytes, must be 4 or 16`);
    }
    const max = address.length * 8;
    const len = prefixLen ?? (address.length === 4 ? 24 : 64);
    if (!Number.isInteger(len) || len < 0 || len > max) {
      throw new RangeError(`Cannot add address: prefix length is ${len}, must be 0..${max}`);
    }
    const key = keyOf(address, dp.port);
    if (this.#routes.has(key)) throw new RangeError(`Cannot add address: ${address.join(".")} port ${dp.port} is already attached`);
    this.#routes.set(key, dp);
    const la: LocalAddress = { ifindex: dp.ifindex, ifname: dp.ifname, address: address.slice(), prefixLen: len, port: dp.port };
    dp._addAddress(la);
    return la;
  }

  /** @private Finds the datapath at `address` (a slot of `addrs` at `at`) and `port`, if its link is up. */
  _route(addrs: Uint8Array, at: number, len: number, port: number): MemoryDatapath | undefined {
    const dp = this.#routes.get(keyOf(addrs.subarray(at, at + len), port));
    return dp?.linkUp ? dp : undefined;
  }

  /** @private Datapaths on a segment. */
  _segment(name: string): Iterable<MemoryDatapath> {
    return this.#segments.get(name) ?? [];
  }

  /** @private Forgets a closed datapath. */
  _detach(dp: MemoryDatapath): void {
    for (const la of dp.localAddresses()) {
      const key = keyOf(la.address, dp.port);
      if (this.#routes.get(key) === dp) this.#routes.delete(key);
    }
    this.#segments.get(dp.segment)?.delete(dp);
  }
}

/**
 * One interface on a {@linkcode MemoryNetwork}: a {@linkcode Datapath} whose
 * packets are copied synchronously into the destination's receive queue.
 *
 * Drops (counted in `stats().drops`): `too-big` (longer than the MTU),
 * `no-route` (no datapath at the destination address and port),
 * `queue-full` (the receiver's queue is full; counted by the receiver),
 * `batch-too-small` (a queued packet longer than an empty batch's data area),
 * `link-down` (send while the link is down), `closed` (send after close).
 *
 * @example Broadcast reaches the other datapaths of the segment
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BATCH_BROADCAST, MemoryNetwork, PacketBatch } from "@serval/datapath";
 * const net = new MemoryNetwork();
 * const a = net.attach({ address: new Uint8Array([198, 18, 0, 1]) });
 * const b = net.attach({ address: new Uint8Array([198, 18, 0, 2]) });
 * const tx = new PacketBatch(1);
 * tx.push(new Uint8Array([9]), 0, 1, undefined, { address: new Uint8Array([255, 255, 255, 255]), port: 0 }, 0, BATCH_BROADCAST);
 * a.send(tx);
 * const rx = new PacketBatch(1);
 * assertEquals(b.receive(rx), 1);
 * assertEquals(rx.flags[0], BATCH_BROADCAST);
 * assertEquals(a.receive(new PacketBatch(1)), 0);
 * ```
 */
export class MemoryDatapath implements Datapath {
  /** Always "memory". */
  readonly kind: DatapathKind = "memory";
  readonly #net: MemoryNetwork;
  readonly #queue: (Queued | undefined)[];
  #head = 0;
  #size = 0;
  #addresses: LocalAddress[] = [];
  readonly #events: DatapathEvent[] = [];
  readonly #wakeup = new Wakeup();
  #closed = false;
  #linkUp = true;
  #rxPackets = 0;
  #rxBytes = 0;
  #txPackets = 0;
  #txBytes = 0;
  readonly #drops = new Map<string, number>();

  /** @private Use {@linkcode MemoryNetwork.attach}. */
  constructor(
    net: MemoryNetwork,
    /** Segment name. */
    readonly segment: string,
    /** Interface index (unique in its network). */
    readonly ifindex: number,
    /** Interface name. */
    readonly ifname: string,
    /** Port of every address (0: SAL over IP). */
    readonly port: number,
    /** Largest packet accepted by `send`. */
    readonly mtu: number,
    queue: number,
  ) {
    this.#net = net;
    this.#queue = new Array(queue).fill(undefined);
  }

  /** Whether the link is up (see {@linkcode MemoryNetwork.setLink}). */
  get linkUp(): boolean {
    return this.#linkUp;
  }

  /** Whether {@linkcode MemoryDatapath.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Our addresses now. */
  localAddresses(): readonly LocalAddress[] {
    return this.#addresses;
  }

  /**
   * Moves queued packets into `batch` after `batch.count`, up to its
   * capacity; what does not fit stays queued for the next call.
   * Allocation: the locators are written into the batch's typed arrays.
   */
  receive(batch: PacketBatch): number {
    let n = 0;
    while (this.#size > 0) {
      const q = this.#queue[this.#head]!;
      if (!batch.fits(q.bytes.length)) {
        // A packet that cannot fit even an empty batch would block the queue forever.
        if (batch.count === 0) {
          this.#shift();
          this.#drop("batch-too-small");
          continue;
        }
        break;
      }
      const i = batch.count++;
      batch.offset[i] = batch.used;
      batch.length[i] = q.bytes.length;
      batch.data.set(q.bytes, batch.used);
      batch.used += q.bytes.length;
      batch.family[i] = q.dst.length === 16 ? 6 : 4;
      const at = i * ADDR_SLOT;
      batch.srcAddr.fill(0, at, at + ADDR_SLOT);
      batch.dstAddr.fill(0, at, at + ADDR_SLOT);
      batch.srcAddr.set(q.src, at);
      batch.dstAddr.set(q.dst, at);
      batch.srcPort[i] = q.srcPort;
      batch.dstPort[i] = q.dstPort;
      batch.ifindex[i] = this.ifindex;
      batch.flags[i] = q.flags;
      this.#shift();
      n++;
    }
    return n;
  }

  /**
   * Copies packets `0..batch.count` to their destinations (or, with
   * BATCH_BROADCAST, to every other datapath on the segment with the
   * destination port, or any port when it is 0).
   */
  send(batch: PacketBatch): number {
    if (this.#closed) {
      if (batch.count > 0) this.#drop("closed", batch.count);
      return 0;
    }
    if (!this.#linkUp) {
      if (batch.count > 0) this.#drop("link-down", batch.count);
      return 0;
    }
    let sent = 0;
    for (let i = 0; i < batch.count; i++) {
      const len = batch.length[i]!;
      if (len > this.mtu) {
        this.#drop("too-big");
        continue;
      }
      const at = i * ADDR_SLOT;
      const alen = batch.family[i] === 6 ? 16 : 4;
      const dstPort = batch.dstPort[i]!;
      const src = this.#source(batch.srcAddr.subarray(at, at + alen), alen);
      if (src === undefined) {
        this.#drop("no-source-address");
        continue;
      }
      const bytes = batch.packet(i);
      const dst = batch.dstAddr.slice(at, at + alen);
      if ((batch.flags[i]! & BATCH_BROADCAST) !== 0) {
        for (const peer of this.#net._segment(this.segment)) {
          if (peer === this || !peer.linkUp || (dstPort !== 0 && peer.port !== dstPort)) continue;
          peer._deliver({ bytes: bytes.slice(), src, srcPort: this.port, dst, dstPort: peer.port, flags: BATCH_BROADCAST });
        }
      } else {
        const peer = this.#net._route(batch.dstAddr, at, alen, dstPort);
        if (peer === undefined) {
          this.#drop("no-route");
          continue;
        }
        peer._deliver({ bytes: bytes.slice(), src, srcPort: this.port, dst, dstPort, flags: 0 });
      }
      sent++;
      this.#txPackets++;
      this.#txBytes += len;
    }
    return sent;
  }

  /** Next queued address event. */
  pollEvent(): DatapathEvent | undefined {
    return this.#events.shift();
  }

  /** Resolves once a packet or event is queued, or the datapath closed. */
  wait(): Promise<void> {
    if (this.#closed || this.#size > 0 || this.#events.length > 0) return Promise.resolve();
    return this.#wakeup.wait();
  }

  /** Counters (a snapshot). */
  stats(): DatapathStats {
    return {
      rxPackets: this.#rxPackets,
      rxBytes: this.#rxBytes,
      txPackets: this.#txPackets,
      txBytes: this.#txBytes,
      drops: new Map(this.#drops),
    };
  }

  /** Detaches from the network, drops the queue and wakes a waiter; idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#net._detach(this);
      this.#queue.fill(undefined);
      this.#size = 0;
      this.#wakeup.wake();
    }
    return Promise.resolve();
  }

  /** @private Called by the network: queue a packet or drop it. */
  _deliver(q: Queued): void {
    if (this.#closed) return;
    if (this.#size === this.#queue.length) {
      this.#drop("queue-full");
      return;
    }
    this.#queue[(this.#head + this.#size) % this.#queue.length] = q;
    this.#size++;
    this.#rxPackets++;
    this.#rxBytes += q.bytes.length;
    this.#wakeup.wake();
  }

  /** @private Called by the network. */
  _event(e: DatapathEvent): void {
    if (this.#closed) return;
    this.#events.push(e);
    this.#wakeup.wake();
  }

  /** @private Called by the network. */
  _setLink(up: boolean): void {
    this.#linkUp = up;
  }

  /** @private Called by the network. */
  _addAddress(la: LocalAddress): void {
    this.#addresses = [...this.#addresses, la];
  }

  /** @private Called by the network; returns the removed address. */
  _removeAddress(address: Uint8Array): LocalAddress | undefined {
    const la = this.#addresses.find((x) => sameBytes(x.address, address));
    if (la) this.#addresses = this.#addresses.filter((x) => x !== la);
    return la;
  }

  /** The source address of a packet: the one asked for when it is ours, else our first of that family. */
  #source(asked: Uint8Array, alen: number): Uint8Array | undefined {
    let first: Uint8Array | undefined;
    for (const la of this.#addresses) {
      if (la.address.length !== alen) continue;
      if (sameBytes(la.address, asked)) return la.address;
      first ??= la.address;
    }
    return first;
  }

  #shift(): void {
    this.#queue[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#queue.length;
    this.#size--;
  }

  #drop(reason: string, n = 1): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + n);
  }

}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

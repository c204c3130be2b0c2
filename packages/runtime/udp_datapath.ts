/**
 * The UDP datapath: SAL packets as UDP payloads, for unprivileged use, NATs
 * and runtimes without FFI. A locator is IPv4:port.
 *
 * - **Bun**: `Bun.udpSocket`; a batch leaves through one `sendMany` call.
 * - **Node / Deno**: `node:dgram` (on Deno it beats `Deno.listenDatagram`).
 * - **Receive**: the socket callback puts each datagram (the runtime's own
 *   buffer, one per datagram) into a preallocated, bounded ring;
 *   {@linkcode UdpDatapath.receive} copies them into the caller's batch.
 *   Overflow drops `queue-full`.
 * - **Broadcast**: a BATCH_BROADCAST packet goes to the subnet broadcast of
 *   each local IPv4 interface (or of `ifindex` only; only the bound one when
 *   bound to an address), at the destination port; from a wildcard socket
 *   with no such interface, to 255.255.255.255. Loopback and /31, /32
 *   interfaces have no broadcast. SO_BROADCAST is set.
 *
 * **Gotchas**
 * - Neither `Bun.udpSocket` nor `node:dgram` tells the destination address of
 *   a datagram (no IP_PKTINFO): a received broadcast cannot be told from a
 *   unicast, so received packets are never flagged BATCH_BROADCAST. The
 *   destination locator is the bound address, or (bound to 0.0.0.0) the
 *   local address whose subnet holds the source, else 0.0.0.0. Our own
 *   broadcasts, which the kernel loops back to us, are dropped
 *   (`looped-back`).
 * - IPv4 only: IPv6 sockets are not implemented yet (`no-ipv6` on send).
 * - A destination port of 0 (a raw-IP locator) means {@linkcode SERVAL_UDP_PORT}.
 * - No SO_RCVBUF control through Bun: bursts beyond the kernel's default
 *   receive buffer are lost in the kernel, uncounted here.
 *
 * @module
 */

import { ADDR_SLOT, BATCH_BROADCAST, Wakeup } from "@serval/datapath";
import type { Datapath, DatapathEvent, DatapathKind, DatapathStats, LocalAddress, PacketBatch } from "@serval/datapath";
import { SERVAL_UDP_PORT } from "@serval/wire";
import { type Ipv4Interface, Ipv4TextCache, ipv4Interfaces, parseIpv4U32, readIpv4U32, toLocalAddress, writeIpv4U32 } from "./_ipv4.ts";
import { defaultBackend, openBunSocket, openDgramSocket, type UdpBackend, type UdpSocketHandle } from "./_udp_socket.ts";

/** Largest UDP payload over IPv4 (65535 − 20 − 8). */
export const UDP_MAX_PAYLOAD = 65507;

/** Options of {@linkcode openUdpDatapath}. */
export interface UdpDatapathOptions {
  /** IPv4 address to bind (default "0.0.0.0": every interface). */
  readonly address?: string;
  /** Port to bind (default {@linkcode SERVAL_UDP_PORT}; 0: ephemeral). */
  readonly port?: number;
  /** Allow sending broadcasts (SO_BROADCAST; default true). */
  readonly broadcast?: boolean;
  /** Largest SAL packet sent or received (default and most 65507). */
  readonly maxPacket?: number;
  /** Receive ring length in datagrams (default 4096). */
  readonly queue?: number;
  /** Most bytes held by the receive ring (default 8 MiB). */
  readonly queueBytes?: number;
  /** Socket API (default: "bun" on Bun, else "dgram"). */
  readonly backend?: UdpBackend;
}

/**
 * Opens a UDP datapath bound to `address:port`.
 *
 * @param opts Bind address and port, broadcast, size limits, back end.
 * @returns The open datapath.
 * @throws {Error} When the socket cannot be bound (port in use, address not ours), naming `address:port`.
 * @throws {RangeError} On a bad option.
 *
 * @example Two datapaths on loopback
 * ```ts
 * import { PacketBatch } from "@serval/datapath";
 * import { openUdpDatapath } from "@serval/runtime";
 * const a = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const b = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const tx = new PacketBatch(1);
 * tx.push(new Uint8Array([1, 2, 3]), 0, 3, undefined, { address: new Uint8Array([127, 0, 0, 1]), port: b.port });
 * a.send(tx);
 * await b.wait();
 * const rx = new PacketBatch(64);
 * b.receive(rx); // => 1
 * await a.close();
 * await b.close();
 * ```
 */
export async function openUdpDatapath(opts: UdpDatapathOptions = {}): Promise<UdpDatapath> {
  return await UdpDatapath.open(opts);
}

/** A {@linkcode Datapath} over one UDP socket; see the module doc. */
export class UdpDatapath implements Datapath {
  /** Always "udp". */
  readonly kind: DatapathKind = "udp";
  readonly #maxPacket: number;
  readonly #broadcast: boolean;
  /** Bound address as u32; 0 for the wildcard. */
  readonly #bound: number;
  #socket: UdpSocketHandle | undefined;
  #port = 0;
  // Receive ring: datagram buffers with their source, preallocated.
  readonly #slots: (Uint8Array | undefined)[];
  readonly #slotAddr: Uint32Array;
  readonly #slotPort: Uint16Array;
  readonly #queueBytes: number;
  #head = 0;
  #size = 0;
  #bytes = 0;
  // Interfaces.
  #ifaces: Ipv4Interface[] = [];
  #locals: LocalAddress[] = [];
  #localSet = new Set<number>();
  #lastSrc = -1;
  #lastIface: Ipv4Interface | undefined;
  readonly #text = new Ipv4TextCache();
  readonly #events: DatapathEvent[] = [];
  // Send scratch (grown on demand).
  readonly #views: Uint8Array[] = [];
  readonly #ports: number[] = [];
  readonly #hosts: string[] = [];
  readonly #owner: number[] = [];
  readonly #reasons: (string | undefined)[] = [];
  // Wake-up and lifetime.
  readonly #wakeup = new Wakeup();
  #closed = false;
  #closing: Promise<void> | undefined;
  // Counters.
  #rxPackets = 0;
  #rxBytes = 0;
  #txPackets = 0;
  #txBytes = 0;
  readonly #drops = new Map<string, number>();

  private constructor(bound: number, maxPacket: number, broadcast: boolean, queue: number, queueBytes: number) {
    this.#bound = bound;
    this.#maxPacket = maxPacket;
    this.#broadcast = broadcast;
    this.#slots = new Array(queue).fill(undefined);
    this.#slotAddr = new Uint32Array(queue);
    this.#slotPort = new Uint16Array(queue);
    this.#queueBytes = queueBytes;
  }

  /** @private Use {@linkcode openUdpDatapath}. */
  static async open(opts: UdpDatapathOptions): Promise<UdpDatapath> {
    const address = opts.address ?? "0.0.0.0";
    const port = opts.port ?? SERVAL_UDP_PORT;
    const where = `${address.includes(":") ? `[${address}]` : address}:${port}`;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`Cannot open UDP datapath on ${where}: port must be an integer in 0..65535`);
    }
    if (address.includes(":")) throw new Error(`Cannot open UDP datapath on ${where}: IPv6 is not supported yet, use an IPv4 address`);
    const bound = parseIpv4U32(address);
    if (bound < 0) throw new Error(`Cannot open UDP datapath on ${where}: "${address}" is not an IPv4 address`);
    const maxPacket = opts.maxPacket ?? UDP_MAX_PAYLOAD;
    if (!Number.isInteger(maxPacket) || maxPacket < 1 || maxPacket > UDP_MAX_PAYLOAD) {
      throw new RangeError(`Cannot open UDP datapath on ${where}: maxPacket is ${maxPacket}, must be 1..${UDP_MAX_PAYLOAD}`);
    }
    const queue = opts.queue ?? 4096;
    const queueBytes = opts.queueBytes ?? 8 << 20;
    if (!Number.isInteger(queue) || queue < 1 || !Number.isInteger(queueBytes) || queueBytes < maxPacket) {
      throw new RangeError(`Cannot open UDP datapath on ${where}: queue must be >= 1 and queueBytes >= maxPacket`);
    }
    const dp = new UdpDatapath(bound, maxPacket, opts.broadcast ?? true, queue, queueBytes);
    const onData = (data: Uint8Array, addr: string, rport: number, truncated: boolean) => dp.#onDatagram(data, addr, rport, truncated);
    const onError = (reason: string) => dp.#drop(reason);
    const backend = opts.backend ?? defaultBackend();
    try {
      dp.#socket = backend === "bun" ? await openBunSocket(address, port, onData, onError) : await openDgramSocket(address, port, onData, onError);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === "EADDRINUSE"
        ? "the port is in use"
        : code === "EADDRNOTAVAIL"
        ? "the address is not one of this host's"
        : code === "EACCES"
        ? "permission denied"
        : (e as Error).message;
      throw new Error(`Cannot open UDP datapath on ${where}: ${why}`, { cause: e });
    }
    dp.#port = dp.#socket.port;
    if (dp.#broadcast) {
      try {
        dp.#socket.setBroadcast(true);
      } catch (e) {
        await dp.#socket.close();
        throw new Error(`Cannot open UDP datapath on ${where}: cannot set SO_BROADCAST: ${(e as Error).message}`, { cause: e });
      }
    }
    dp.#readInterfaces(false);
    return dp;
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /** Socket API in use. */
  get backend(): UdpBackend | undefined {
    return this.#socket?.backend;
  }

  /** Largest SAL packet sent or received. */
  get maxPacket(): number {
    return this.#maxPacket;
  }

  /** Our IPv4 addresses with the bound port (only the bound one when bound to a specific address). */
  localAddresses(): readonly LocalAddress[] {
    return this.#locals;
  }

  /**
   * Re-reads the host's interfaces and queues `address-added`/`address-removed`
   * events for what changed. The datapath has no timer of its own: the
   * driver calls this when it wants (for example every few seconds).
   */
  refresh(): void {
    if (!this.#closed) this.#readInterfaces(true);
  }

  /** Copies queued datagrams into `batch` after `batch.count`, up to its capacity. */
  receive(batch: PacketBatch): number {
    let n = 0;
    const cap = this.#slots.length;
    while (this.#size > 0) {
      const data = this.#slots[this.#head]!;
      const len = data.length;
      if (!batch.fits(len)) {
        if (batch.count !== 0) break;
        this.#shift(cap, len);
        this.#drop("batch-too-small");
        continue;
      }
      const i = batch.count++;
      batch.offset[i] = batch.used;
      batch.length[i] = len;
      batch.data.set(data, batch.used);
      batch.used += len;
      batch.family[i] = 4;
      const at = i * ADDR_SLOT;
      const src = this.#slotAddr[this.#head]!;
      batch.srcAddr.fill(0, at, at + ADDR_SLOT);
      batch.dstAddr.fill(0, at, at + ADDR_SLOT);
      writeIpv4U32(batch.srcAddr, at, src);
      let ifindex = 0;
      if (this.#bound !== 0) {
        writeIpv4U32(batch.dstAddr, at, this.#bound);
        ifindex = this.#locals[0]?.ifindex ?? 0;
      } else {
        const iface = this.#ifaceFor(src);
        if (iface) {
          writeIpv4U32(batch.dstAddr, at, iface.address);
          ifindex = iface.ifindex;
        }
      }
      batch.srcPort[i] = this.#slotPort[this.#head]!;
      batch.dstPort[i] = this.#port;
      batch.ifindex[i] = ifindex;
      batch.flags[i] = 0;
      this.#shift(cap, len);
      n++;
    }
    return n;
  }

  /** Sends packets `0..batch.count` (one `sendMany` on Bun). */
  send(batch: PacketBatch): number {
    const sock = this.#socket;
    if (this.#closed || sock === undefined) {
      if (batch.count > 0) this.#drop("closed", batch.count);
      return 0;
    }
    let d = 0;
    for (let i = 0; i < batch.count; i++) {
      const len = batch.length[i]!;
      if (len > this.#maxPacket) {
        this.#drop("too-big");
        continue;
      }
      if (batch.family[i] === 6) {
        this.#drop("no-ipv6");
        continue;
      }
      const dstPort = batch.dstPort[i] || SERVAL_UDP_PORT;
      const off = batch.offset[i]!;
      const view = batch.data.subarray(off, off + len);
      if ((batch.flags[i]! & BATCH_BROADCAST) !== 0) {
        if (!this.#broadcast) {
          this.#drop("no-broadcast");
          continue;
        }
        const want = batch.ifindex[i]!;
        let any = false;
        for (const f of this.#ifaces) {
          if (f.internal || f.prefixLen >= 31 || (want !== 0 && f.ifindex !== want)) continue;
          if (this.#bound !== 0 && f.address !== this.#bound) continue;
          d = this.#queueDatagram(d, view, dstPort, f.broadcast, i);
          any = true;
        }
        if (!any) {
          // 255.255.255.255 only from a wildcard socket asked for no interface:
          // from a specific address it could leave by an interface not ours to use.
          if (want !== 0 || this.#bound !== 0) {
            this.#drop("no-interface");
            continue;
          }
          d = this.#queueDatagram(d, view, dstPort, 0xffffffff, i);
        }
      } else {
        d = this.#queueDatagram(d, view, dstPort, readIpv4U32(batch.dstAddr, i * ADDR_SLOT), i);
      }
    }
    if (d === 0) return 0;
    const reasons = this.#reasons;
    reasons.length = d;
    reasons.fill(undefined, 0, d);
    sock.sendBatch(this.#views, this.#ports, this.#hosts, d, reasons);
    // A packet counts as sent once when any of its datagrams left (broadcasts fan out).
    let sent = 0;
    let last = -1;
    for (let j = 0; j < d; j++) {
      const r = reasons[j];
      if (r !== undefined) {
        this.#drop(r);
        continue;
      }
      const p = this.#owner[j]!;
      if (p === last) continue;
      last = p;
      sent++;
      this.#txPackets++;
      this.#txBytes += batch.length[p]!;
    }
    this.#views.fill(EMPTY, 0, d); // let the batch's buffer go
    return sent;
  }

  /** Next queued address event (see {@linkcode UdpDatapath.refresh}). */
  pollEvent(): DatapathEvent | undefined {
    return this.#events.shift();
  }

  /** Resolves on the next datagram or event, or when closed. */
  wait(): Promise<void> {
    if (this.#closed || this.#size > 0 || this.#events.length > 0) return Promise.resolve();
    return this.#wakeup.wait();
  }

  /** Counters (a snapshot). */
  stats(): DatapathStats {
    return { rxPackets: this.#rxPackets, rxBytes: this.#rxBytes, txPackets: this.#txPackets, txBytes: this.#txBytes, drops: new Map(this.#drops) };
  }

  /** Closes the socket and wakes a waiter; idempotent. */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#slots.fill(undefined);
      this.#size = 0;
      this.#bytes = 0;
      this.#wakeup.wake();
      this.#closing = this.#socket?.close() ?? Promise.resolve();
    }
    return this.#closing;
  }

  #queueDatagram(d: number, view: Uint8Array, port: number, addr: number, owner: number): number {
    this.#views[d] = view;
    this.#ports[d] = port;
    this.#hosts[d] = this.#text.text(addr);
    this.#owner[d] = owner;
    return d + 1;
  }

  #onDatagram(data: Uint8Array, addr: string, port: number, truncated: boolean): void {
    if (this.#closed) return;
    const len = data.length;
    if (truncated || len > this.#maxPacket) return this.#drop("too-big");
    if (len === 0) return this.#drop("empty");
    const src = this.#text.u32(addr);
    if (src < 0) return this.#drop("no-ipv6");
    if (port === this.#port && this.#localSet.has(src)) return this.#drop("looped-back");
    const cap = this.#slots.length;
    if (this.#size === cap || this.#bytes + len > this.#queueBytes) return this.#drop("queue-full");
    const at = (this.#head + this.#size) % cap;
    this.#slots[at] = data;
    this.#slotAddr[at] = src;
    this.#slotPort[at] = port;
    this.#size++;
    this.#bytes += len;
    this.#rxPackets++;
    this.#rxBytes += len;
    // Bun and Node run microtasks after every datagram callback, so the reader
    // wakes once per packet; deferring the wake (setImmediate) measured 5x
    // slower on Bun 1.4.5, so wake at once.
    this.#wakeup.wake();
  }

  #shift(cap: number, len: number): void {
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % cap;
    this.#size--;
    this.#bytes -= len;
  }

  /** The local interface whose subnet holds `src` (cached for runs from one peer). */
  #ifaceFor(src: number): Ipv4Interface | undefined {
    if (src === this.#lastSrc) return this.#lastIface;
    let found: Ipv4Interface | undefined;
    for (const f of this.#ifaces) {
      if (((src & f.mask) >>> 0) === ((f.address & f.mask) >>> 0)) {
        found = f;
        break;
      }
    }
    this.#lastSrc = src;
    this.#lastIface = found;
    return found;
  }

  #readInterfaces(emit: boolean): void {
    const all = ipv4Interfaces();
    // Loopback last: the stack's first locator is its source for new flows,
    // and a peer elsewhere cannot check a checksum made with 127.0.0.1.
    let ifaces = this.#bound === 0 ? [...all].sort((x, y) => Number(x.internal) - Number(y.internal)) : all.filter((f) => f.address === this.#bound);
    if (this.#bound !== 0 && ifaces.length === 0) {
      // Bound to an address no interface lists (it went away): keep it as /32.
      ifaces = [{ ifname: "", ifindex: 0, address: this.#bound, prefixLen: 32, mask: 0xffffffff, broadcast: this.#bound, internal: false }];
    }
    const locals = ifaces.map((f) => toLocalAddress(f, this.#port));
    if (emit) {
      const key = (la: LocalAddress) => `${la.ifindex}/${la.address.join(".")}/${la.prefixLen}`;
      const before = new Map(this.#locals.map((la) => [key(la), la]));
      const after = new Map(locals.map((la) => [key(la), la]));
      for (const [k, la] of before) if (!after.has(k)) this.#events.push({ type: "address-removed", address: la });
      for (const [k, la] of after) if (!before.has(k)) this.#events.push({ type: "address-added", address: la });
      if (this.#events.length > 0) this.#wakeup.wake();
    }
    this.#ifaces = ifaces;
    this.#locals = locals;
    this.#localSet = new Set(all.map((f) => f.address));
    this.#lastSrc = -1;
    this.#lastIface = undefined;
  }

  #drop(reason: string, n = 1): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + n);
  }

}

const EMPTY = new Uint8Array(0);

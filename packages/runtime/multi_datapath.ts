/**
 * {@linkcode MultiDatapath}: several datapaths seen as one, whose members can
 * be added and removed while a node runs. This is how a flow migrates over
 * UDP: a UDP socket is bound to one address and port, and neither Bun's nor
 * Node's sockets let a wildcard socket choose a datagram's source address,
 * so a second address is a second socket. Adding a member announces its
 * addresses (`address-added`); removing one closes it and announces them gone
 * (`address-removed`), and {@linkcode ServalNode} migrates the flows that used
 * them. A packet leaves through the member that owns its source locator (the
 * first member when none does).
 *
 * @module
 */

import { ADDR_SLOT, type Datapath, type DatapathEvent, type DatapathKind, type DatapathStats, type LocalAddress, PacketBatch, Wakeup } from "@serval/datapath";

/**
 * Datapaths joined into one.
 *
 * @example Two loopback UDP sockets, then one of them goes away
 * ```ts
 * import { MultiDatapath, openUdpDatapath } from "@serval/runtime";
 * const a = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const b = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const m = new MultiDatapath([a]);
 * m.add(b);
 * await m.remove(a);
 * console.assert(m.pollEvent()?.type === "address-added");
 * console.assert(m.pollEvent()?.type === "address-removed");
 * console.assert(m.localAddresses().length === 1);
 * await m.close();
 * ```
 */
export class MultiDatapath implements Datapath {
  readonly kind: DatapathKind;
  readonly #members: Datapath[];
  readonly #events: DatapathEvent[] = [];
  readonly #wakeup = new Wakeup();
  #scratch: PacketBatch | undefined;
  #owners = new Int32Array(0);
  #waits: Promise<void>[] = [];
  #race: Promise<void> | undefined;
  #closed = false;
  #removedStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: new Map<string, number>() };

  /**
   * @param members The datapaths to start with (the first is the default for packets with no source).
   * @throws {RangeError} When there is none.
   */
  constructor(members: readonly Datapath[]) {
    if (members.length === 0) throw new RangeError("Cannot create multi-datapath: no member datapath");
    this.kind = members[0]!.kind;
    this.#members = [...members];
  }

  /** The member datapaths, in order. */
  get members(): readonly Datapath[] {
    return this.#members;
  }

  /** Adds a member: its addresses are announced as `address-added`. */
  add(dp: Datapath): void {
    if (this.#closed) throw new Error("Cannot add a datapath: the multi-datapath is closed");
    this.#members.push(dp);
    for (const a of dp.localAddresses()) this.#events.push({ type: "address-added", address: a });
    this.#race = undefined;
    this.#wakeup.wake();
  }

  /**
   * Removes a member and closes it: its addresses are announced as
   * `address-removed`. Removing the last one leaves a datapath that sends
   * nothing and receives nothing (a host cut off).
   *
   * @returns `false` when `dp` is not a member.
   */
  async remove(dp: Datapath): Promise<boolean> {
    const i = this.#members.indexOf(dp);
    if (i < 0) return false;
    this.#members.splice(i, 1);
    const s = dp.stats();
    const r = this.#removedStats;
    r.rxPackets += s.rxPackets;
    r.rxBytes += s.rxBytes;
    r.txPackets += s.txPackets;
    r.txBytes += s.txBytes;
    for (const [k, v] of s.drops) r.drops.set(k, (r.drops.get(k) ?? 0) + v);
    for (const a of dp.localAddresses()) this.#events.push({ type: "address-removed", address: a });
    this.#race = undefined;
    this.#wakeup.wake();
    await dp.close();
    return true;
  }

  localAddresses(): readonly LocalAddress[] {
    return this.#members.length === 1 ? this.#members[0]!.localAddresses() : this.#members.flatMap((m) => m.localAddresses());
  }

  receive(batch: PacketBatch): number {
    let n = 0;
    for (const m of this.#members) n += m.receive(batch);
    return n;
  }

  send(batch: PacketBatch): number {
    const ms = this.#members;
    if (ms.length === 0) {
      this.#drop("no-datapath", batch.count);
      return 0;
    }
    if (ms.length === 1) return ms[0]!.send(batch);
    if (this.#owners.length < batch.count) this.#owners = new Int32Array(batch.capacity);
    const owners = this.#owners;
    let mixed = false;
    for (let i = 0; i < batch.count; i++) {
      owners[i] = this.#owner(batch, i);
      if (owners[i] !== owners[0]) mixed = true;
    }
    if (!mixed) return ms[owners[0]!]!.send(batch);
    // Packets from several sources in one batch: one sub-batch per member.
    if (!this.#scratch || this.#scratch.capacity < batch.capacity || this.#scratch.data.length < batch.data.length) {
      this.#scratch = new PacketBatch(batch.capacity, batch.data.length);
    }
    const sub = this.#scratch;
    let sent = 0;
    for (let m = 0; m < ms.length; m++) {
      sub.clear();
      for (let i = 0; i < batch.count; i++) {
        if (owners[i] !== m) continue;
        const o = batch.offset[i]!;
        const j = sub.push(batch.data, o, batch.length[i]!, batch.src(i), batch.dst(i), batch.ifindex[i]!, batch.flags[i]!);
        sub.family[j] = batch.family[i]!;
      }
      if (sub.count > 0) sent += ms[m]!.send(sub);
    }
    return sent;
  }

  pollEvent(): DatapathEvent | undefined {
    const e = this.#events.shift();
    if (e) return e;
    for (const m of this.#members) {
      const x = m.pollEvent();
      if (x) return x;
    }
    return undefined;
  }

  wait(): Promise<void> {
    if (this.#closed || this.#events.length > 0) return Promise.resolve();
    const waits = this.#members.map((m) => m.wait());
    // The same pending promises as last time: hand back the same race, so that
    // a driver that waits again and again does not pile up callbacks on them.
    if (this.#race && waits.length === this.#waits.length && waits.every((w, i) => w === this.#waits[i])) return this.#race;
    this.#waits = waits;
    const own = this.#wakeup.wait();
    const race = Promise.race([own, ...waits]);
    this.#race = race;
    race.then(() => {
      if (this.#race === race) this.#race = undefined;
    });
    return race;
  }

  stats(): DatapathStats {
    const r = this.#removedStats;
    const drops = new Map(r.drops);
    let rxPackets = r.rxPackets, rxBytes = r.rxBytes, txPackets = r.txPackets, txBytes = r.txBytes;
    for (const m of this.#members) {
      const s = m.stats();
      rxPackets += s.rxPackets;
      rxBytes += s.rxBytes;
      txPackets += s.txPackets;
      txBytes += s.txBytes;
      for (const [k, v] of s.drops) drops.set(k, (drops.get(k) ?? 0) + v);
    }
    return { rxPackets, rxBytes, txPackets, txBytes, drops };
  }

  /** Closes every member; idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeup.wake();
    const ms = this.#members.splice(0);
    await Promise.all(ms.map((m) => m.close()));
  }

  /** The member owning packet i's source locator (0 when none does, or it has none). */
  #owner(batch: PacketBatch, i: number): number {
    const at = i * ADDR_SLOT;
    const n = batch.family[i] === 6 ? 16 : 4;
    const port = batch.srcPort[i]!;
    const ms = this.#members;
    for (let m = 0; m < ms.length; m++) {
      for (const a of ms[m]!.localAddresses()) {
        if (a.port !== port || a.address.length !== n) continue;
        let same = true;
        for (let k = 0; k < n; k++) {
          if (a.address[k] !== batch.srcAddr[at + k]) {
            same = false;
            break;
          }
        }
        if (same) return m;
      }
    }
    return 0;
  }

  #drop(reason: string, n: number): void {
    const d = this.#removedStats.drops;
    d.set(reason, (d.get(reason) ?? 0) + n);
  }
}

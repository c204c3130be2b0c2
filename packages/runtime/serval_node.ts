/**
 * {@linkcode ServalNode}: one running Serval node — a {@linkcode Datapath},
 * the pure {@linkcode SalHost} and its {@linkcode ControlAgent}, driven batch
 * by batch. The loop waits for packets, the next timer or a kick from the
 * application, then runs the pure stack synchronously over the whole batch:
 * receive → `handlePacket` each → due timers → events (control plane first,
 * then the application) → transmit batch. No Effect and no Promise per
 * packet: one `await` per batch.
 *
 * @module
 */

import { BATCH_BROADCAST, type Datapath, type DatapathEvent, PacketBatch } from "@serval/datapath";
import { ControlAgent, type ControlAgentOptions, type ControlRole } from "@serval/discovery";
import { type HostEvent, type RandomSource, SalHost, type SalFlowOptions, ServiceTable } from "@serval/sal";
import type { ActionPluginFactory } from "@serval/sal";
import { BROADCAST_LOCATOR, checksumBuffer, isBroadcastLocator, type Locator } from "@serval/wire";
import { CryptoRandom } from "./crypto_random.ts";
import { NodeAddresses } from "./node_addresses.ts";

/** The longest delay setTimeout honours (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of a {@linkcode ServalNode}. */
export interface ServalNodeOptions {
  /** host, router or adhoc. */
  readonly role: ControlRole;
  /** The datapath (the node closes it). */
  readonly datapath: Datapath;
  /** Our locators (default: the datapath's local addresses). */
  readonly locals?: readonly Locator[];
  /** Control plane options (routers, weight, lease timing…). */
  readonly control?: Omit<ControlAgentOptions, "role">;
  /** Extra action plugins for the service table (e.g. round robin). */
  readonly plugins?: readonly ActionPluginFactory[];
  /** Flow tunables. */
  readonly flow?: SalFlowOptions;
  /** Largest SAL packet (default 1472: a 1500-byte MTU minus IPv4 and UDP). */
  readonly mtu?: number;
  /** Packets per batch (default 64). */
  readonly batch?: number;
  /** Randomness (default {@linkcode CryptoRandom}). */
  readonly random?: RandomSource;
  /** Monotonic clock in µs (default `performance.now()`). */
  readonly clock?: () => number;
}

/** Counters of the driver loop. */
export interface NodeStats {
  /** Loop iterations (batches). */
  batches: number;
  packetsIn: number;
  packetsOut: number;
  /** Packets the SAL host dropped, by reason, are in `host.drops`. */
  eventsOut: number;
  /** Exceptions thrown by application listeners and step hooks (caught: the node goes on). */
  appErrors: number;
}

type Listener = (e: HostEvent, node: ServalNode) => void;

/**
 * A running node.
 *
 * @example Two nodes on loopback UDP: a router and a host that registers with it
 * ```ts
 * import { openUdpDatapath, ServalNode } from "@serval/runtime";
 * const rdp = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const router = await ServalNode.start({ role: "router", datapath: rdp });
 * const hdp = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const host = await ServalNode.start({
 *   role: "host", datapath: hdp,
 *   control: { routers: [{ address: new Uint8Array([127, 0, 0, 1]), port: rdp.port }] },
 * });
 * console.assert(host.agent.routers().length === 1);
 * await host.close();
 * await router.close();
 * ```
 */
export class ServalNode {
  readonly host: SalHost;
  readonly agent: ControlAgent;
  readonly datapath: Datapath;
  /** Usable local addresses, learnt from datapath events (migration decisions). */
  readonly addresses: NodeAddresses;
  readonly #controlLocators: readonly Locator[];
  /** Addresses lost and not yet withdrawn at the routers. */
  readonly #lost: Locator[] = [];
  /** The node's randomness (for initial sequence numbers of transports the application makes). */
  readonly random: RandomSource;
  readonly stats: NodeStats = { batches: 0, packetsIn: 0, packetsOut: 0, eventsOut: 0, appErrors: 0 };
  /** The last exception an application listener or hook threw. */
  lastAppError: unknown;
  /** Datapath events seen (address and link changes), most recent last (bounded). */
  readonly datapathEvents: DatapathEvent[] = [];
  readonly #rx: PacketBatch;
  readonly #tx: PacketBatch;
  readonly #clock: () => number;
  readonly #listeners = new Set<Listener>();
  readonly #stepHooks = new Set<(now: number) => void>();
  #wake: (() => void) | undefined;
  #kicked = false;
  #closed = false;
  #loop: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inStep = false;
  #waited: Promise<void> | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  private constructor(opts: ServalNodeOptions) {
    const random = opts.random ?? new CryptoRandom();
    this.random = random;
    this.datapath = opts.datapath;
    this.#clock = opts.clock ?? (() => performance.now() * 1000);
    const locals = opts.locals ?? opts.datapath.localAddresses().map((a) => ({ address: a.address, port: a.port }));
    if (locals.length === 0) throw new RangeError("Cannot start Serval node: the datapath has no local address");
    const known = opts.datapath.localAddresses();
    this.addresses = new NodeAddresses(locals.map((l) => known.find((a) => a.port === l.port && a.address.join() === l.address.join()) ?? l));
    this.#controlLocators = opts.control?.locators ?? [];
    const serviceTable = new ServiceTable({ random, ...(opts.plugins ? { plugins: opts.plugins } : {}) });
    this.host = new SalHost({
      random,
      locals,
      router: opts.role === "router",
      serviceTable,
      mtu: opts.mtu ?? 1472,
      // Segments are written in place and copied into the transmit batch at once (#flush).
      // A step may send a whole window (1 MiB by default): past the arena,
      // every segment would get a buffer of its own and the slow checksum.
      transmitArena: 1 << 20,
      ...(opts.flow ? { flow: opts.flow } : {}),
    });
    const bootId = random.nextU32();
    this.agent = new ControlAgent(this.host, {
      ...opts.control,
      role: opts.role,
      ...(opts.role === "router" ? { bootId: opts.control?.bootId ?? bootId } : {}),
    });
    const batch = opts.batch ?? 64;
    // Received segments are checksummed where they land: in the SIMD checksum's memory.
    this.#rx = new PacketBatch(batch, checksumBuffer(batch * 2048));
    this.#tx = new PacketBatch(batch, batch * 2048);
  }

  /**
   * Creates a node over a datapath and starts its loop.
   *
   * @throws {RangeError} When the datapath has no local address, or options are out of range.
   */
  static async start(opts: ServalNodeOptions): Promise<ServalNode> {
    const node = new ServalNode(opts);
    // A running node keeps the process alive, as a listening socket does
    // (a packet datapath waits through Atomics, which does not).
    node.#keepAlive = setInterval(() => {}, 1 << 30);
    node.agent.start(node.now());
    node.#loop = node.#run();
    await Promise.resolve();
    return node;
  }

  /** Our locators (where peers reach us; the first is the source of new flows). */
  get locals(): readonly Locator[] {
    return this.host.locals;
  }

  /**
   * Moves one flow to another of our locators (the SAL's RSYN handshake,
   * facts §3.7): the flow keeps its flowIDs and its data.
   *
   * @param flow The flowID.
   * @param to One of our locators (port 0 matches our locator with that address).
   * @returns `false` when `to` is not a usable locator of ours, or the flow does not exist or cannot move now.
   */
  migrateFlow(flow: number, to: Locator): boolean {
    const local = this.addresses.find(to);
    if (this.#closed || local === undefined || !this.addresses.isUsable(local)) return false;
    const ok = this.host.migrate(this.now(), flow, local);
    if (ok) this.kick();
    return ok;
  }

  /**
   * Moves every flow whose local locator is `from` to `to`.
   *
   * @param from An interface name, an address (`198.18.0.7`) or an address and port (`127.0.0.1:54325`).
   * @param to One of our locators (default: another usable one, same address family first).
   * @returns How many flows started moving.
   */
  migrateInterface(from: string, to?: Locator): number {
    if (this.#closed) return 0;
    const target = to === undefined ? undefined : this.addresses.find(to);
    if (to !== undefined && (target === undefined || !this.addresses.isUsable(target))) return 0;
    return this.#moveFlows(this.now(), (l) => this.addresses.matches(l, from), target);
  }

  /** Monotonic time in µs (the clock the stack runs on). */
  now(): number {
    return this.#clock();
  }

  /** Subscribes to host events the control plane did not consume; returns the unsubscribe function. */
  onEvent(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs `hook` at the end of every step, before the transmit batch is
   * sent: where application adapters move data between their streams and
   * the transports. Returns the unsubscribe function.
   */
  onStep(hook: (now: number) => void): () => void {
    this.#stepHooks.add(hook);
    return () => this.#stepHooks.delete(hook);
  }

  /**
   * Runs the stack soon (after the application called into `host`:
   * connect, write, close…), so what it queued is sent without waiting for
   * the next packet or timer. Cheap to call often: one run per turn.
   */
  kick(): void {
    if (this.#kicked || this.#closed) return;
    this.#kicked = true;
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Runs one step now (synchronously): for callers that need the effect of a host call at once. */
  step(): void {
    if (!this.#closed) this.#step(this.now());
  }

  /** Whether {@linkcode ServalNode.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stops: withdraws registrations and says goodbye (sent before the
   * datapath closes), stops the loop, releases the datapath. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    const now = this.now();
    this.agent.stop(now);
    this.#step(now);
    this.#closed = true;
    clearInterval(this.#keepAlive);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    await this.datapath.close();
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      this.#kicked = false;
      this.#step(this.now());
      if (this.#closed || this.#kicked) continue;
      await this.#idle();
    }
  }

  /** Waits for a packet, the next deadline, or a kick. */
  #idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = finish;
      const t = this.#nextDeadline();
      // setTimeout takes at most 2^31-1 ms (larger fires at once): wake up then and look again.
      if (t !== undefined) this.#timer = setTimeout(finish, Math.min(MAX_TIMER_MS, Math.max(0, (t - this.now()) / 1000)));
      // Let every datagram that is already in this event-loop turn arrive first:
      // one step for all. One callback per pending wait() promise, not one per
      // idle period (a node that only wakes for timers would pile them up).
      const w = this.datapath.wait();
      if (w !== this.#waited) {
        this.#waited = w;
        // The packet datapath's rings already hold all that arrived: no turn to wait for.
        if (this.datapath.kind === "packet") w.then(() => this.#wake?.(), () => this.#wake?.());
        else w.then(() => setImmediate(() => this.#wake?.()), () => this.#wake?.());
      }
    });
  }

  #nextDeadline(): number | undefined {
    const a = this.host.pollTimeout();
    const b = this.agent.pollTimeout();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  #step(now: number): void {
    if (this.#inStep) return;
    this.#inStep = true;
    try {
      this.stats.batches++;
      const rx = this.#rx;
      this.host.beginBatch();
      // Packets of a batch mostly share their addresses: reuse the locators (no allocation per packet).
      let src: Locator | undefined;
      let dst: Locator | undefined;
      for (;;) {
        rx.clear();
        const n = this.datapath.receive(rx);
        if (n === 0) break;
        this.stats.packetsIn += n;
        for (let i = 0; i < n; i++) {
          if (src === undefined || !rx.srcIs(i, src)) src = rx.src(i);
          if (dst === undefined || !rx.dstIs(i, dst)) dst = rx.dst(i);
          this.host.handlePacket(now, {
            bytes: rx.data,
            off: rx.offset[i]!,
            len: rx.length[i]!,
            src,
            dst,
            broadcast: (rx.flags[i]! & BATCH_BROADCAST) !== 0,
          });
        }
        if (n < rx.capacity) break;
      }
      this.host.endBatch(now);
      const ht = this.host.pollTimeout();
      if (ht !== undefined && ht <= now) this.host.handleTimeout(now);
      const at = this.agent.pollTimeout();
      if (at !== undefined && at <= now) this.agent.handleTimeout(now);
      this.#deliverEvents(now);
      for (let d = this.datapath.pollEvent(); d; d = this.datapath.pollEvent()) {
        this.datapathEvents.push(d);
        if (this.datapathEvents.length > 256) this.datapathEvents.shift();
        this.#addressEvent(now, d);
      }
      const looped = this.host.looped;
      for (const h of this.#stepHooks) {
        try {
          h(now);
        } catch (err) {
          this.#appError(err);
        }
      }
      // Hooks may have produced events (a flow closed by the application).
      this.#deliverEvents(now);
      // What the hooks sent to a flow of this very node arrived already: no
      // packet will wake us for it, so step again (its hook may have run).
      if (this.host.looped !== looped) this.kick();
      this.#flush();
    } finally {
      this.#inStep = false;
    }
  }

  /**
   * An address or link change: the host learns the usable locators, flows
   * on a locator that went away migrate to another, and registrations
   * follow (the lost locator's leases withdrawn, new ones from the new source).
   */
  #addressEvent(now: number, d: DatapathEvent): void {
    const oldFirst = this.host.locals[0]!;
    const change = this.addresses.apply(d);
    if (change.removed.length === 0 && change.added.length === 0) return;
    this.#lost.push(...change.removed);
    const usable = this.addresses.usable();
    // With no address left, keep the last ones: flows retry until one comes back.
    if (usable.length === 0) return;
    this.host.setLocals(usable);
    this.#moveFlows(now, (l) => !this.addresses.isUsable(l), undefined, oldFirst);
    // Lost addresses (also those lost while none was left) are withdrawn at the routers.
    const lost = this.#lost.splice(0).filter((l) => !this.addresses.isUsable(l));
    if (lost.length > 0) {
      const gone = new Set(lost.map((l) => l.address.join() + "/" + l.port));
      const configured = this.#controlLocators.filter((l) => !gone.has(l.address.join() + "/" + l.port));
      this.agent.setLocators(now, configured, lost);
    }
    this.kick();
  }

  /** Migrates the flows whose local locator `leave` selects; returns how many started moving. */
  #moveFlows(now: number, leave: (l: Locator) => boolean, to: Locator | undefined, defaultLocal = this.host.locals[0]!): number {
    let moved = 0;
    for (const id of this.host.flowIds()) {
      const f = this.host.flowState(id);
      const local = f?.local ?? defaultLocal;
      if (!f || !leave(local)) continue;
      const target = to ?? this.addresses.replacement(local, leave);
      if (target !== undefined && this.host.migrate(now, id, target)) moved++;
    }
    if (moved > 0) this.kick();
    return moved;
  }

  /** Host events: the control plane first, what it does not consume to the application. */
  #deliverEvents(now: number): void {
    for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) {
      if (this.agent.handleEvent(now, e)) continue;
      this.stats.eventsOut++;
      this.#tell(e);
    }
  }

  /** Hands an event to every listener; an application that throws does not stop the node. */
  #tell(e: HostEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e, this);
      } catch (err) {
        this.#appError(err);
      }
    }
  }

  #appError(err: unknown): void {
    this.stats.appErrors++;
    this.lastAppError = err;
  }

  #flush(): void {
    const tx = this.#tx;
    tx.clear();
    for (let p = this.host.pollTransmit(); p; p = this.host.pollTransmit()) {
      const bcast = isBroadcastLocator(p.dst);
      if (!tx.fits(p.bytes.length)) {
        this.stats.packetsOut += this.datapath.send(tx);
        tx.clear();
      }
      tx.push(p.bytes, 0, p.bytes.length, p.src, bcast ? BROADCAST_LOCATOR : p.dst, 0, bcast ? BATCH_BROADCAST : 0);
    }
    if (tx.count > 0) this.stats.packetsOut += this.datapath.send(tx);
  }
}

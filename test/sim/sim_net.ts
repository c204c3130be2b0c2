/**
 * The deterministic network simulator: smoltcp's FaultInjector plus quinn's
 * `Pair`, for any number of sans-IO nodes on any number of segments.
 *
 * Virtual time only (microseconds, starting at 0), randomness only from a
 * {@linkcode SeededRandom}: the same seed and the same script give the same
 * event trace, bit for bit.
 *
 * @module
 */

import { formatIpv4 } from "@serval/wire";
import { randomBelow, randomFraction, SeededRandom } from "@serval/sal";
import { EventHeap } from "./_event_heap.ts";
import type { SimAddress, SimNode, SimTransmit } from "./sim_node.ts";
import { type LinkParams, type SimDropReason, SimSegment } from "./sim_segment.ts";

/** The first interface address handed out: 198.18.0.1. */
const FIRST_ADDRESS = 0xc6120001;
/** The last usable address of 198.18.0.0/15: 198.19.255.254. */
const LAST_ADDRESS = 0xc613fffe;
/** Transmits drained from one node in one drain before the simulator assumes a runaway node. */
const MAX_TRANSMITS_PER_DRAIN = 1_000_000;

/**
 * Options of a {@linkcode SimNet}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const options: SimNetOptions = { seed: 42, trace: true };
 * assertEquals(new SimNet(options).trace, []);
 * ```
 */
export interface SimNetOptions {
  /** The PRNG seed for every random decision of the links. */
  readonly seed: number;
  /** Record a human-readable event trace in {@linkcode SimNet.trace}. Default false. */
  readonly trace?: boolean;
}

interface NodeEntry {
  readonly node: SimNode;
  readonly name: string;
  readonly ifaces: { readonly segment: SimSegment; readonly address: SimAddress }[];
}

interface Delivery {
  readonly segment: SimSegment;
  readonly from: SimAddress;
  readonly node: number;
  readonly iface: number;
  readonly frame: Uint8Array;
  readonly broadcast: boolean;
}

/**
 * A simulated network of {@linkcode SimNode}s joined by {@linkcode SimSegment}s.
 *
 * **Details**
 * - {@linkcode SimNet.step} drains every node's `pollTransmit()`, advances
 *   `now` to the earliest of the next frame delivery and the smallest node
 *   `pollTimeout()`, delivers every frame due then (in send order), fires every
 *   due timer (in node order), and drains the transmits again.
 * - Links: latency, bandwidth with a byte-limited FIFO, MTU, loss,
 *   duplication, reordering, one-bit corruption and directional partitions,
 *   all changeable at run time.
 * - Frames are copied when sent and copied again per receiver, so neither a
 *   sender reusing its buffer nor a receiver writing into its frame affects
 *   any other copy.
 *
 * @example One frame over a point-to-point link
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { SimNode, SimTransmit } from "./sim_node.ts";
 * const arrivals: number[] = [];
 * const outbox: SimTransmit[] = [];
 * const node = (): SimNode => ({
 *   handleFrame: (now) => void arrivals.push(now),
 *   pollTransmit: () => outbox.shift(),
 *   pollTimeout: () => undefined,
 *   handleTimeout() {},
 * });
 * const net = new SimNet({ seed: 7 });
 * const a = net.addNode(node(), "a"), b = net.addNode(node(), "b");
 * net.connect(a, b, { latencyUs: 250 });
 * assertEquals(net.addressOf(b), "198.18.0.2");
 * outbox.push({ iface: 0, frame: new Uint8Array(64), to: net.addressOf(b) });
 * net.drive(100);
 * assertEquals(arrivals, [250]);
 * assertEquals(net.inFlight, 0);
 * ```
 */
export class SimNet {
  /** The PRNG behind every random decision; tests may draw from it too. */
  readonly random: SeededRandom;
  /** Event trace lines, when enabled by {@linkcode SimNetOptions.trace}. */
  readonly trace: string[] = [];
  readonly #tracing: boolean;
  #now = 0;
  #nextAddress = FIRST_ADDRESS;
  readonly #nodes: NodeEntry[] = [];
  readonly #segments: SimSegment[] = [];
  readonly #heap = new EventHeap<Delivery>();

  /**
   * @param options The seed and trace switch.
   */
  constructor(options: SimNetOptions) {
    this.random = new SeededRandom(options.seed);
    this.#tracing = options.trace ?? false;
  }

  /** Virtual time, microseconds since the start of the simulation. */
  get now(): number {
    return this.#now;
  }

  /** Frame copies scheduled for delivery and not yet delivered. */
  get inFlight(): number {
    return this.#heap.size;
  }

  /** The segments, in creation order. */
  get segments(): readonly SimSegment[] {
    return this.#segments;
  }

  /** The number of nodes. */
  get nodeCount(): number {
    return this.#nodes.length;
  }

  /**
   * Adds a node with no interfaces.
   *
   * @param node The node.
   * @param name Its name in traces and errors. Default `node<index>`.
   * @returns The node's index.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const quiet = { handleFrame() {}, pollTransmit: () => undefined, pollTimeout: () => undefined, handleTimeout() {} };
   * const net = new SimNet({ seed: 1 });
   * assertEquals([net.addNode(quiet), net.addNode(quiet, "b")], [0, 1]);
   * ```
   */
  addNode(node: SimNode, name?: string): number {
    this.#nodes.push({ node, name: name ?? `node${this.#nodes.length}`, ifaces: [] });
    return this.#nodes.length - 1;
  }

  /**
   * The node added as `index`.
   *
   * @param index The node's index.
   * @returns The node.
   * @throws {RangeError} When there is no such node.
   */
  node(index: number): SimNode {
    return this.#entry(index).node;
  }

  /**
   * Creates an empty segment.
   *
   * @param params Default link parameters of the segment.
   * @param name Its name in traces and errors. Default `seg<index>`.
   * @returns The segment.
   * @throws {RangeError} On an out-of-range parameter.
   */
  addSegment(params: Partial<LinkParams> = {}, name?: string): SimSegment {
    const seg = new SimSegment(name ?? `seg${this.#segments.length}`, params);
    this.#segments.push(seg);
    return seg;
  }

  /**
   * Gives `node` a new interface on `segment`, with the next free address.
   *
   * @param segment The segment.
   * @param node The node's index.
   * @returns The new interface index and its address.
   * @throws {RangeError} When there is no such node or 198.18.0.0/15 is exhausted.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const quiet = { handleFrame() {}, pollTransmit: () => undefined, pollTimeout: () => undefined, handleTimeout() {} };
   * const net = new SimNet({ seed: 1 });
   * const lan = net.addSegment({}, "lan");
   * const n = net.addNode(quiet);
   * assertEquals(net.attach(lan, n), { iface: 0, address: "198.18.0.1" });
   * assertEquals(net.attach(lan, n), { iface: 1, address: "198.18.0.2" });
   * ```
   */
  attach(segment: SimSegment, node: number): { iface: number; address: SimAddress } {
    const entry = this.#entry(node);
    if (this.#nextAddress > LAST_ADDRESS) {
      throw new RangeError("Cannot attach interface: 198.18.0.0/15 is exhausted (131070 addresses)");
    }
    const a = this.#nextAddress++;
    const address = formatIpv4(new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]));
    const iface = entry.ifaces.length;
    entry.ifaces.push({ segment, address });
    segment._addMember({ node, iface, address });
    entry.node.handleAttach?.(iface, address);
    return { iface, address };
  }

  /**
   * Joins two nodes with a new point-to-point segment (a new interface on each).
   *
   * @param a The first node's index.
   * @param b The second node's index.
   * @param params Link parameters (both directions).
   * @param name The segment's name.
   * @returns The segment; its `members[0]` is `a`'s interface, `members[1]` is `b`'s.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const quiet = { handleFrame() {}, pollTransmit: () => undefined, pollTimeout: () => undefined, handleTimeout() {} };
   * const net = new SimNet({ seed: 1 });
   * const seg = net.connect(net.addNode(quiet), net.addNode(quiet), { mtu: 9000 }, "jumbo");
   * assertEquals(seg.members.map((m) => m.address), ["198.18.0.1", "198.18.0.2"]);
   * ```
   */
  connect(a: number, b: number, params: Partial<LinkParams> = {}, name?: string): SimSegment {
    const seg = this.addSegment(params, name);
    this.attach(seg, a);
    this.attach(seg, b);
    return seg;
  }

  /**
   * The address of a node's interface.
   *
   * @param node The node's index.
   * @param iface The interface index. Default 0.
   * @returns The address.
   * @throws {RangeError} When there is no such node or interface.
   */
  addressOf(node: number, iface = 0): SimAddress {
    const entry = this.#entry(node);
    const i = entry.ifaces[iface];
    if (i === undefined) {
      throw new RangeError(
        `Cannot get address of interface ${iface} of node "${entry.name}": it has ${entry.ifaces.length} interfaces`,
      );
    }
    return i.address;
  }

  /**
   * Drops frames on `segment` from `from` to `to` (one direction) from now on.
   *
   * @param segment The segment.
   * @param from Sender address.
   * @param to Receiver address.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const net = new SimNet({ seed: 1 });
   * const seg = net.addSegment();
   * net.partition(seg, "198.18.0.1", "198.18.0.2");
   * assertEquals(seg.isPartitioned("198.18.0.1", "198.18.0.2"), true);
   * assertEquals(seg.isPartitioned("198.18.0.2", "198.18.0.1"), false);
   * net.heal(seg);
   * assertEquals(seg.isPartitioned("198.18.0.1", "198.18.0.2"), false);
   * ```
   */
  partition(segment: SimSegment, from: SimAddress, to: SimAddress): void {
    segment.partition(from, to);
  }

  /**
   * Heals one partition of `segment`, or all of them when `from`/`to` are omitted.
   *
   * @param segment The segment.
   * @param from Sender address.
   * @param to Receiver address.
   */
  heal(segment: SimSegment, from?: SimAddress, to?: SimAddress): void {
    segment.heal(from, to);
  }

  /**
   * The number of nodes with a timer armed.
   *
   * @returns How many `pollTimeout()` calls return a time.
   */
  pendingTimeouts(): number {
    let n = 0;
    for (const e of this.#nodes) if (e.node.pollTimeout() !== undefined) n++;
    return n;
  }

  /**
   * Whether nothing is left to do: no frame in flight, no timer armed.
   * (Call after {@linkcode SimNet.step}, which drains pending transmits.)
   */
  get idle(): boolean {
    return this.#heap.size === 0 && this.pendingTimeouts() === 0;
  }

  /**
   * One step: drain transmits, advance to the next event, deliver due frames,
   * fire due timers, drain transmits.
   *
   * @returns `false` when the network was idle (nothing happened).
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * let due: number | undefined = 500;
   * const net = new SimNet({ seed: 1 });
   * net.addNode({ handleFrame() {}, pollTransmit: () => undefined, pollTimeout: () => due, handleTimeout() { due = undefined; } });
   * assertEquals([net.step(), net.now], [true, 500]);
   * assertEquals(net.step(), false);
   * ```
   */
  step(): boolean {
    this.#drainAll();
    const t = this.#nextEventTime();
    if (t === undefined) return false;
    if (t > this.#now) this.#now = t;
    const now = this.#now;
    for (let due = this.#heap.peekTime(); due !== undefined && due <= now; due = this.#heap.peekTime()) {
      const d = this.#heap.pop()!.value;
      d.segment.stats.delivered++;
      if (this.#tracing) {
        this.trace.push(
          `${now} deliver ${d.segment.name} ${d.from}>${
            this.#nodes[d.node]!.ifaces[d.iface]!.address
          } ${d.frame.length}B`,
        );
      }
      this.#nodes[d.node]!.node.handleFrame(now, d.iface, d.frame, d.from, d.broadcast);
    }
    for (const e of this.#nodes) {
      const due = e.node.pollTimeout();
      if (due !== undefined && due <= now) {
        if (this.#tracing) this.trace.push(`${now} timeout ${e.name}`);
        e.node.handleTimeout(now);
      }
    }
    this.#drainAll();
    return true;
  }

  /**
   * Steps through every event due at or before `time`, then sets `now` to `time`.
   *
   * @param time Virtual time to reach, microseconds.
   * @param maxSteps Safety bound. Default 1,000,000.
   * @returns The number of steps taken.
   * @throws {RangeError} When `maxSteps` steps did not reach `time`.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const net = new SimNet({ seed: 1 });
   * assertEquals(net.runUntil(1_000), 0);
   * assertEquals(net.now, 1_000);
   * ```
   */
  runUntil(time: number, maxSteps = 1_000_000): number {
    let steps = 0;
    for (;;) {
      this.#drainAll();
      const t = this.#nextEventTime();
      if (t === undefined || t > time) break;
      if (steps >= maxSteps) {
        throw new RangeError(`Cannot run until ${time}µs: still busy at ${this.#now}µs after ${maxSteps} steps`);
      }
      this.step();
      steps++;
    }
    if (time > this.#now) this.#now = time;
    return steps;
  }

  /**
   * Steps until the network is idle.
   *
   * @param maxSteps The most steps allowed. Default 10,000.
   * @returns The number of steps taken.
   * @throws {RangeError} When the network is still busy after `maxSteps` steps.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const net = new SimNet({ seed: 1 });
   * net.addNode({ handleFrame() {}, pollTransmit: () => undefined, pollTimeout: () => net.now + 1, handleTimeout() {} });
   * let error = "";
   * try {
   *   net.drive(3);
   * } catch (e) {
   *   error = (e as Error).message;
   * }
   * assertEquals(error.startsWith("Cannot drive network to idle: still busy after 3 steps"), true);
   * ```
   */
  drive(maxSteps = 10_000): number {
    for (let i = 0; i < maxSteps; i++) if (!this.step()) return i;
    this.#drainAll();
    if (this.idle) return maxSteps;
    throw new RangeError(
      `Cannot drive network to idle: still busy after ${maxSteps} steps at ${this.#now}µs ` +
        `(${this.inFlight} frames in flight, ${this.pendingTimeouts()} timers armed)`,
    );
  }

  #entry(index: number): NodeEntry {
    const e = this.#nodes[index];
    if (e === undefined) throw new RangeError(`Cannot find node ${index}: the network has ${this.#nodes.length} nodes`);
    return e;
  }

  #nextEventTime(): number | undefined {
    let t = this.#heap.peekTime();
    for (const e of this.#nodes) {
      const due = e.node.pollTimeout();
      if (due !== undefined && (t === undefined || due < t)) t = due;
    }
    return t;
  }

  #drainAll(): void {
    for (let i = 0; i < this.#nodes.length; i++) {
      const e = this.#nodes[i]!;
      let n = 0;
      for (let tx = e.node.pollTransmit(); tx !== undefined; tx = e.node.pollTransmit()) {
        if (++n > MAX_TRANSMITS_PER_DRAIN) {
          throw new RangeError(
            `Cannot drain node "${e.name}": more than ${MAX_TRANSMITS_PER_DRAIN} transmits in one step`,
          );
        }
        this.#send(e, i, tx);
      }
    }
  }

  #drop(seg: SimSegment, reason: SimDropReason, from: SimAddress, to: string, bytes: number): void {
    seg.stats.dropped[reason]++;
    if (this.#tracing) this.trace.push(`${this.#now} drop:${reason} ${seg.name} ${from}>${to} ${bytes}B`);
  }

  #send(e: NodeEntry, nodeIndex: number, tx: SimTransmit): void {
    const ifc = e.ifaces[tx.iface];
    if (ifc === undefined) {
      throw new RangeError(
        `Cannot transmit on interface ${tx.iface} of node "${e.name}": it has ${e.ifaces.length} interfaces`,
      );
    }
    const { segment: seg, address: from } = ifc;
    const frame = tx.frame.slice();
    const len = frame.length;
    seg.stats.sent++;
    if (this.#tracing) this.trace.push(`${this.#now} send ${seg.name} ${from}>${tx.to} ${len}B`);
    const egress = seg.params(from);
    if (len > egress.mtu) return this.#drop(seg, "mtu", from, tx.to, len);
    const receivers = seg.members.filter((m) =>
      !(m.node === nodeIndex && m.iface === tx.iface) && (tx.to === "broadcast" || m.address === tx.to)
    );
    if (receivers.length === 0) return this.#drop(seg, "unreachable", from, tx.to, len);
    const sent = seg._serialize(this.#now, from, len, egress);
    if (sent === undefined) return this.#drop(seg, "queue", from, tx.to, len);
    const r = this.random;
    for (const m of receivers) {
      if (seg.isPartitioned(from, m.address)) {
        this.#drop(seg, "partition", from, m.address, len);
        continue;
      }
      const p = seg.params(from, m.address);
      if (p.lossRate > 0 && randomFraction(r) < p.lossRate) {
        this.#drop(seg, "loss", from, m.address, len);
        continue;
      }
      let copies = 1;
      if (p.duplicateRate > 0 && randomFraction(r) < p.duplicateRate) {
        copies = 2;
        seg.stats.duplicated++;
      }
      for (let c = 0; c < copies; c++) {
        let at = sent + p.latencyUs;
        if (p.reorderRate > 0 && randomFraction(r) < p.reorderRate) {
          at += 1 + randomBelow(r, Math.max(1, Math.floor(p.reorderJitterUs)));
          seg.stats.reordered++;
        }
        const copy = frame.slice();
        if (p.corruptRate > 0 && len > 0 && randomFraction(r) < p.corruptRate) {
          const bit = randomBelow(r, len * 8);
          copy[bit >>> 3]! ^= 0x80 >>> (bit & 7);
          seg.stats.corrupted++;
        }
        this.#heap.push(at, { segment: seg, from, node: m.node, iface: m.iface, frame: copy, broadcast: tx.to === "broadcast" });
      }
    }
  }
}

/**
 * A simulated broadcast segment: several node interfaces sharing one medium
 * (a point-to-point link is a segment of two). Holds the link parameters,
 * partitions, per-sender transmit queues and counters; {@linkcode SimNet}
 * moves the frames.
 *
 * @module
 */

import type { SimAddress } from "./sim_node.ts";

/**
 * Link behaviour for frames from one sender to one receiver. All fields can
 * be changed at run time with {@linkcode SimSegment.configure}.
 *
 * `bandwidthBps`, `queueLimitBytes` and `mtu` belong to the sender's
 * interface (egress): they are read from the segment defaults plus the
 * `from`-only overrides. The other fields are resolved per (from, to) pair.
 *
 * @example A slow, lossy link
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const dsl: Partial<LinkParams> = { latencyUs: 20_000, bandwidthBps: 1_000_000, lossRate: 0.01 };
 * assertEquals({ ...DEFAULT_LINK_PARAMS, ...dsl }.mtu, 1500);
 * ```
 */
export interface LinkParams {
  /** One-way propagation delay, microseconds. Default 1000. */
  readonly latencyUs: number;
  /** Serialization rate, bits per second; 0 means unlimited (no serialization delay). Default 0. */
  readonly bandwidthBps: number;
  /** Byte limit of the sender's FIFO (bytes not yet fully serialized, the frame on the wire included). Default Infinity. */
  readonly queueLimitBytes: number;
  /** Largest frame accepted, bytes; larger frames are dropped with reason `"mtu"`. Default 1500. */
  readonly mtu: number;
  /** Probability that a frame copy is lost. Default 0. */
  readonly lossRate: number;
  /** Probability that a frame is delivered twice. Default 0. */
  readonly duplicateRate: number;
  /** Probability that a copy gets an extra delay of 1..`reorderJitterUs` µs. Default 0. */
  readonly reorderRate: number;
  /** The largest extra delay of a reordered copy, microseconds. Default 1000. */
  readonly reorderJitterUs: number;
  /** Probability that a copy has exactly one random bit flipped. Default 0. */
  readonly corruptRate: number;
}

/**
 * The default {@linkcode LinkParams}: 1 ms latency, unlimited bandwidth and
 * queue, MTU 1500, no faults.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DEFAULT_LINK_PARAMS.latencyUs, 1000);
 * ```
 */
export const DEFAULT_LINK_PARAMS: LinkParams = Object.freeze({
  latencyUs: 1000,
  bandwidthBps: 0,
  queueLimitBytes: Infinity,
  mtu: 1500,
  lossRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderJitterUs: 1000,
  corruptRate: 0,
});

/**
 * Why a segment dropped a frame. `"unreachable"`: no member has the unicast address.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r: SimDropReason = "partition";
 * assertEquals(r, "partition");
 * ```
 */
export type SimDropReason = "loss" | "mtu" | "queue" | "partition" | "unreachable";

/**
 * Counters of one segment. Frame copies: a broadcast to three receivers delivers up to three.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SimNet } from "./sim_net.ts";
 * const stats: SegmentStats = new SimNet({ seed: 1 }).addSegment().stats;
 * assertEquals([stats.sent, stats.dropped.loss], [0, 0]);
 * ```
 */
export interface SegmentStats {
  /** Frames handed to the segment by senders. */
  sent: number;
  /** Frame copies handed to receivers. */
  delivered: number;
  /** Frames or copies dropped, by reason. */
  readonly dropped: Record<SimDropReason, number>;
  /** Copies with one bit flipped. */
  corrupted: number;
  /** Frames sent twice. */
  duplicated: number;
  /** Copies given an extra reordering delay. */
  reordered: number;
}

/**
 * One attached interface of a segment.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SimNet } from "./sim_net.ts";
 * const net = new SimNet({ seed: 1 });
 * const seg = net.addSegment();
 * net.attach(seg, net.addNode({ handleFrame() {}, pollTransmit: () => undefined, pollTimeout: () => undefined, handleTimeout() {} }));
 * const m: SegmentMember = seg.members[0]!;
 * assertEquals(m, { node: 0, iface: 0, address: "198.18.0.1" });
 * ```
 */
export interface SegmentMember {
  /** The node's index in its {@linkcode SimNet}. */
  readonly node: number;
  /** The interface index on that node. */
  readonly iface: number;
  /** The interface address. */
  readonly address: SimAddress;
}

/**
 * Which direction an override applies to; omitted fields match every address.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SimNet } from "./sim_net.ts";
 * const seg = new SimNet({ seed: 1 }).addSegment({ latencyUs: 100 });
 * const uplink: LinkDirection = { from: "198.18.0.1", to: "198.18.0.2" };
 * seg.configure({ latencyUs: 900 }, uplink);
 * assertEquals(seg.params("198.18.0.1", "198.18.0.2").latencyUs, 900);
 * assertEquals(seg.params("198.18.0.2", "198.18.0.1").latencyUs, 100);
 * ```
 */
export interface LinkDirection {
  /** Sender address. */
  readonly from?: SimAddress;
  /** Receiver address. */
  readonly to?: SimAddress;
}

function checkParams(name: string, p: Partial<LinkParams>): void {
  const bad = (field: string, v: number, rule: string): never => {
    throw new RangeError(`Cannot configure segment "${name}": ${field} is ${v}, must be ${rule}`);
  };
  for (const f of ["lossRate", "duplicateRate", "reorderRate", "corruptRate"] as const) {
    const v = p[f];
    if (v !== undefined && !(v >= 0 && v <= 1)) bad(f, v, "in 0..1");
  }
  for (const f of ["latencyUs", "bandwidthBps", "reorderJitterUs"] as const) {
    const v = p[f];
    if (v !== undefined && !(v >= 0 && Number.isFinite(v))) bad(f, v, "a finite number >= 0");
  }
  if (p.queueLimitBytes !== undefined && !(p.queueLimitBytes >= 0)) {
    bad("queueLimitBytes", p.queueLimitBytes, "a number >= 0");
  }
  if (p.mtu !== undefined && !(Number.isInteger(p.mtu) && p.mtu >= 0)) bad("mtu", p.mtu, "an integer >= 0");
}

/** Per-sender transmit state: frames accepted but not yet fully serialized. */
interface Egress {
  busyUntil: number;
  readonly backlog: { end: number; bytes: number }[];
}

/**
 * A shared medium. Create one with {@linkcode SimNet.addSegment} or
 * {@linkcode SimNet.connect}; never construct it directly.
 *
 * @example Configure a lossy direction at run time
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SimNet } from "./sim_net.ts";
 * const net = new SimNet({ seed: 1 });
 * const lan = net.addSegment({ latencyUs: 500 }, "lan");
 * lan.configure({ lossRate: 0.1 }, { from: "198.18.0.1" });
 * assertEquals(lan.params("198.18.0.1", "198.18.0.2").lossRate, 0.1);
 * assertEquals(lan.params("198.18.0.2", "198.18.0.1").lossRate, 0);
 * ```
 */
export class SimSegment {
  /** The name used in traces and errors. */
  readonly name: string;
  /** Counters; reset with {@linkcode SimSegment.resetStats}. */
  stats: SegmentStats = SimSegment.#zeroStats();
  readonly #members: SegmentMember[] = [];
  #defaults: LinkParams;
  readonly #byFrom = new Map<SimAddress, Partial<LinkParams>>();
  readonly #byTo = new Map<SimAddress, Partial<LinkParams>>();
  readonly #byPair = new Map<string, Partial<LinkParams>>();
  readonly #partitions = new Set<string>();
  readonly #egress = new Map<SimAddress, Egress>();

  /** @internal Use {@linkcode SimNet.addSegment}. */
  constructor(name: string, params: Partial<LinkParams> = {}) {
    this.name = name;
    checkParams(name, params);
    this.#defaults = { ...DEFAULT_LINK_PARAMS, ...params };
  }

  static #zeroStats(): SegmentStats {
    return {
      sent: 0,
      delivered: 0,
      dropped: { loss: 0, mtu: 0, queue: 0, partition: 0, unreachable: 0 },
      corrupted: 0,
      duplicated: 0,
      reordered: 0,
    };
  }

  /** The attached interfaces, in attach order. */
  get members(): readonly SegmentMember[] {
    return this.#members;
  }

  /**
   * Changes link parameters, for every direction or for one.
   *
   * @param params The fields to change.
   * @param direction Limit to frames from `from` and/or to `to`. Pair
   *   overrides beat `from` overrides, which beat `to` overrides, which beat
   *   the segment defaults.
   * @throws {RangeError} On an out-of-range value.
   */
  configure(params: Partial<LinkParams>, direction: LinkDirection = {}): void {
    checkParams(this.name, params);
    const { from, to } = direction;
    const merge = <K>(m: Map<K, Partial<LinkParams>>, k: K) => m.set(k, { ...m.get(k), ...params });
    if (from !== undefined && to !== undefined) merge(this.#byPair, `${from}>${to}`);
    else if (from !== undefined) merge(this.#byFrom, from);
    else if (to !== undefined) merge(this.#byTo, to);
    else this.#defaults = { ...this.#defaults, ...params };
  }

  /**
   * The effective parameters from `from` to `to` (egress only when `to` is omitted).
   *
   * @param from Sender address.
   * @param to Receiver address.
   * @returns The resolved parameters.
   */
  params(from: SimAddress, to?: SimAddress): LinkParams {
    if (to === undefined) return { ...this.#defaults, ...this.#byFrom.get(from) };
    return {
      ...this.#defaults,
      ...this.#byTo.get(to),
      ...this.#byFrom.get(from),
      ...this.#byPair.get(`${from}>${to}`),
    };
  }

  /**
   * Drops frames sent from `from` to `to` (one direction) from now on.
   * Frames already in flight still arrive.
   *
   * @param from Sender address.
   * @param to Receiver address.
   */
  partition(from: SimAddress, to: SimAddress): void {
    this.#partitions.add(`${from}>${to}`);
  }

  /**
   * Removes a partition, or every partition when called without arguments.
   *
   * @param from Sender address.
   * @param to Receiver address.
   */
  heal(from?: SimAddress, to?: SimAddress): void {
    if (from === undefined || to === undefined) this.#partitions.clear();
    else this.#partitions.delete(`${from}>${to}`);
  }

  /**
   * Whether frames from `from` to `to` are partitioned.
   *
   * @param from Sender address.
   * @param to Receiver address.
   * @returns `true` when partitioned.
   */
  isPartitioned(from: SimAddress, to: SimAddress): boolean {
    return this.#partitions.size > 0 && this.#partitions.has(`${from}>${to}`);
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.stats = SimSegment.#zeroStats();
  }

  /** @internal Registers a member (SimNet only). */
  _addMember(m: SegmentMember): void {
    this.#members.push(m);
  }

  /**
   * @internal Queues `bytes` on the sender's FIFO at `now` (SimNet only).
   * @returns When the last bit leaves the sender, or `undefined` on queue overflow.
   */
  _serialize(now: number, from: SimAddress, bytes: number, p: LinkParams): number | undefined {
    if (p.bandwidthBps === 0) return now;
    let e = this.#egress.get(from);
    if (e === undefined) this.#egress.set(from, e = { busyUntil: now, backlog: [] });
    let backlogBytes = 0;
    let done = 0;
    for (const b of e.backlog) {
      if (b.end <= now) done++;
      else backlogBytes += b.bytes;
    }
    e.backlog.splice(0, done);
    if (backlogBytes + bytes > p.queueLimitBytes) return undefined;
    const end = Math.max(now, e.busyUntil) + Math.ceil((bytes * 8 * 1e6) / p.bandwidthBps);
    e.busyUntil = end;
    e.backlog.push({ end, bytes });
    return end;
  }
}

/**
 * The action plugin contract of the service table: the types a plugin sees
 * (targets, target sets, requests, verdicts, events) and the interface it
 * implements. FORWARD, DEMUX, DELAY and DROP are themselves plugins built on
 * this contract.
 *
 * @module
 */

import type { Locator, ServicePrefix } from "@serval/wire";
import type { RandomSource } from "./random_source.ts";

/** What a rule does with a packet that resolves to it (facts §4.2). */
export type TargetType = "forward" | "demux" | "delay" | "drop";

/** Why a resolution ended in a drop. */
export type DropCause = "drop-rule" | "no-target" | "delay-full" | "delay-loop";

/** Packet and byte counters (per target, per entry, table-wide). Mutable. */
export interface ServiceCounters {
  /** Packets that resolved to a forward/demux/delay verdict. */
  packetsResolved: number;
  /** Bytes of those packets. */
  bytesResolved: number;
  /** Packets dropped (drop verdicts, delay timeouts and drop verdicts). */
  packetsDropped: number;
  /** Bytes of those packets. */
  bytesDropped: number;
}

/** A verdict that selects a target: the packet goes to a peer or a listener. */
export type SelectVerdict =
  | { readonly kind: "forward"; readonly target: Target }
  | { readonly kind: "demux"; readonly target: Target };

/**
 * The outcome of resolving one packet. `delay` carries the id under which the
 * packet waits for {@linkcode ActionPlugin.verdict}; `no-match` means no rule
 * applies (the caller drops the packet and, for a SYN, may answer RST).
 */
export type Verdict =
  | SelectVerdict
  | { readonly kind: "delay"; readonly id: number }
  | { readonly kind: "drop"; readonly reason: DropCause }
  | { readonly kind: "no-match" };

/**
 * One rule target. Created and owned by the service table; plugins only
 * read it and return {@linkcode Target.verdict}.
 */
export interface Target {
  /** The rule type. */
  readonly type: TargetType;
  /** Relative weight, an integer in 1..65535. */
  readonly weight: number;
  /** Where a forward target sends packets; `undefined` for other types. */
  readonly locator: Locator | undefined;
  /** The listener a demux target delivers to; `undefined` for other types. */
  readonly listener: number | undefined;
  /** This target's counters. */
  readonly counters: ServiceCounters;
  /**
   * The preallocated verdict that selects this target, so plugins return it
   * without allocating: `{kind: type, target}` for forward and demux targets,
   * drop "drop-rule" for a drop target, drop "no-target" for a delay target
   * (the DELAY plugin builds its own verdict).
   */
  readonly verdict: Verdict;
}

/**
 * The targets of one priority level of a service entry, resolved by one
 * plugin. The table keeps one object per set for its whole life and bumps
 * {@linkcode TargetSet.version} on every change, so plugins may cache
 * per-set state (for example in a `WeakMap`) keyed by the set and version.
 */
export interface TargetSet {
  /** The prefix of the entry that holds the set. */
  readonly prefix: ServicePrefix;
  /** Priority; the highest set of an entry is the one that resolves. */
  readonly priority: number;
  /** The plugin that resolves this set. */
  readonly plugin: ActionPlugin;
  /** The targets, in insertion order. */
  readonly targets: readonly Target[];
  /** Sum of the targets' weights. */
  readonly totalWeight: number;
  /** Changes whenever the targets or their weights change. */
  readonly version: number;
  /** Counters of the entry holding the set (plugins that drop later bump them). */
  readonly entryCounters: ServiceCounters;
  /** Table-wide counters. */
  readonly tableCounters: ServiceCounters;
}

/** What the caller knows about the packet being resolved. */
export interface ResolveRequest {
  /** A u32 hash of the flow; equal for every packet of a flow (consistent hashing). */
  readonly flowKey: number;
  /** Packet length in bytes, for the byte counters. */
  readonly packetLen: number;
  /** The packet bytes; a DELAY rule keeps a copy so the packet can be released later. */
  readonly packet?: Uint8Array;
  /** How many times this packet was already released from DELAY (default 0). */
  readonly delayed?: number;
}

/** Output of plugins for the controller: a delayed packet awaits a verdict. */
export interface ServiceEvent {
  /** Event type. */
  readonly type: "resolve-request";
  /** The id to pass to `delayVerdict`. */
  readonly id: number;
  /** The prefix of the rule that delayed the packet. */
  readonly prefix: ServicePrefix;
  /** The full serviceID of the packet (32 bytes, a copy). */
  readonly serviceId: Uint8Array;
  /** When the packet was queued (µs). */
  readonly now: number;
}

/** A packet released from DELAY; re-resolve it with `req.delayed = delayed`. */
export interface ReleasedPacket {
  /** Its delay id. */
  readonly id: number;
  /** The bytes given at queueing (empty when the request carried none). */
  readonly packet: Uint8Array;
  /** Times released so far, including this one. */
  readonly delayed: number;
}

/**
 * A resolution strategy for target sets. `resolve` runs once per SYN; it must
 * never throw on request data and must only return targets of the set it was
 * given (an empty set gives drop "no-target"). The optional methods let
 * stateful plugins (DELAY) take timeouts, emit events and release packets;
 * the service table fans its own `poll*`/`handle*` out to them.
 *
 * @example A custom plugin: always the first target
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * import { DROP_NO_TARGET, ServiceTable, SeededRandom } from "@serval/sal";
 * import type { ActionPlugin, TargetSet } from "@serval/sal";
 *
 * const first = () => (): ActionPlugin => ({
 *   name: "@serval/plugin-first",
 *   resolve: (_now: number, set: TargetSet) => set.targets[0]?.verdict ?? DROP_NO_TARGET,
 * });
 * const table = new ServiceTable({ random: new SeededRandom(1), plugins: [first()] });
 * const p = ServicePrefix.parse("web.example/16");
 * table.addTarget(p, { type: "demux", listener: 1, plugin: "@serval/plugin-first" });
 * table.addTarget(p, { type: "demux", listener: 2 });
 * const v = table.resolve(0, ServiceId.parse("web.example").bytes, 0, { flowKey: 5, packetLen: 1 }, "local");
 * assertEquals(v.kind === "demux" && v.target.listener, 1);
 * ```
 */
export interface ActionPlugin {
  /** `"@serval/plugin-<name>"`. */
  readonly name: string;
  /**
   * Resolves one packet against a set.
   *
   * @param now Monotonic time in µs.
   * @param set The set to choose from.
   * @param req The request.
   * @param key Bytes holding the packet's serviceID (32 bytes at `keyOff`).
   * @param keyOff Offset of the serviceID in `key`.
   * @returns The verdict.
   */
  resolve(now: number, set: TargetSet, req: ResolveRequest, key: Uint8Array, keyOff: number): Verdict;
  /** Earliest time (µs) `handleTimeout` must run, or `undefined`. */
  pollTimeout?(): number | undefined;
  /** Processes expired timers. */
  handleTimeout?(now: number): void;
  /** Next event for the controller, or `undefined`. */
  pollEvent?(): ServiceEvent | undefined;
  /** Next packet released by a verdict, or `undefined`. */
  pollReleased?(): ReleasedPacket | undefined;
  /** Applies a controller verdict to a held packet; `false` when the id is unknown. */
  verdict?(now: number, id: number, action: "release" | "drop"): boolean;
}

/** The services the table lends a plugin. */
export interface PluginComponents {
  /** Randomness (plugins never draw their own). */
  readonly random: RandomSource;
}

/** What a plugin package exports a factory for: `name(init)` returns one of these. */
export type ActionPluginFactory = (components: PluginComponents) => ActionPlugin;

/**
 * Drop "no-target": the set was empty. Shared, frozen.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DROP_NO_TARGET, { kind: "drop", reason: "no-target" });
 * ```
 */
export const DROP_NO_TARGET: Verdict = Object.freeze({ kind: "drop", reason: "no-target" });
/**
 * Drop "drop-rule": a DROP rule matched. Shared, frozen.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DROP_RULE, { kind: "drop", reason: "drop-rule" });
 * ```
 */
export const DROP_RULE: Verdict = Object.freeze({ kind: "drop", reason: "drop-rule" });
/**
 * Drop "delay-full": the DELAY queue is full. Shared, frozen.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DROP_DELAY_FULL, { kind: "drop", reason: "delay-full" });
 * ```
 */
export const DROP_DELAY_FULL: Verdict = Object.freeze({ kind: "drop", reason: "delay-full" });
/**
 * Drop "delay-loop": a released packet hit DELAY again. Shared, frozen.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DROP_DELAY_LOOP, { kind: "drop", reason: "delay-loop" });
 * ```
 */
export const DROP_DELAY_LOOP: Verdict = Object.freeze({ kind: "drop", reason: "delay-loop" });
/**
 * No rule matched. Shared, frozen.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(NO_MATCH, { kind: "no-match" });
 * ```
 */
export const NO_MATCH: Verdict = Object.freeze({ kind: "no-match" });

/**
 * Picks the target whose cumulative weight first exceeds
 * `floor(u32 · totalWeight / 2^32)`: a target is chosen with probability
 * weight / totalWeight (facts §4.4). Allocation: none.
 *
 * @param set The set (may be empty).
 * @param u32 A uniform u32 (random draw or flow hash).
 * @returns The chosen target's verdict, or drop "no-target" for an empty set.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServicePrefix } from "@serval/wire";
 * const t = (w: number) => ({ type: "demux", weight: w, listener: w, locator: undefined,
 *   counters: { packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 } }) as any;
 * const a = t(1), b = t(3);
 * a.verdict = { kind: "demux", target: a };
 * b.verdict = { kind: "demux", target: b };
 * const set = { prefix: ServicePrefix.DEFAULT, targets: [a, b], totalWeight: 4 } as unknown as TargetSet;
 * assertEquals(pickWeighted(set, 0), a.verdict);
 * assertEquals(pickWeighted(set, 0x40000000), b.verdict);
 * ```
 */
export function pickWeighted(set: TargetSet, u32: number): Verdict {
  const targets = set.targets;
  const n = targets.length;
  if (n === 0 || !(set.totalWeight > 0)) return DROP_NO_TARGET;
  const sample = Math.floor(((u32 >>> 0) * set.totalWeight) / 4294967296);
  let cum = 0;
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    cum += t.weight;
    if (cum > sample) return t.verdict;
  }
  return targets[n - 1]!.verdict;
}

/**
 * Counts a packet as dropped on a target (if any), its entry and the table.
 *
 * @param set The set the packet resolved against.
 * @param target The target charged, or `undefined`.
 * @param bytes Packet length.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const c = () => ({ packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 });
 * const set = { entryCounters: c(), tableCounters: c() } as unknown as TargetSet;
 * countDropped(set, undefined, 60);
 * assertEquals(set.tableCounters.bytesDropped, 60);
 * ```
 */
export function countDropped(set: TargetSet, target: Target | undefined, bytes: number): void {
  if (target !== undefined) bumpCounters(target.counters, false, bytes);
  bumpCounters(set.entryCounters, false, bytes);
  bumpCounters(set.tableCounters, false, bytes);
}

/**
 * Adds one packet of `bytes` to resolved or dropped counters (a negative or
 * non-finite length counts as 0 bytes).
 *
 * @param c The counters.
 * @param resolved `true` for resolved, `false` for dropped.
 * @param bytes Packet length.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const c = { packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 };
 * bumpCounters(c, true, 60);
 * assertEquals([c.packetsResolved, c.bytesResolved], [1, 60]);
 * ```
 */
export function bumpCounters(c: ServiceCounters, resolved: boolean, bytes: number): void {
  const b = bytes > 0 && Number.isFinite(bytes) ? bytes : 0;
  if (resolved) {
    c.packetsResolved++;
    c.bytesResolved += b;
  } else {
    c.packetsDropped++;
    c.bytesDropped += b;
  }
}

/**
 * The service table: rules keyed by serviceID prefix, resolved by
 * longest-prefix match and action plugins (facts §4).
 *
 * @module
 */

import { LpmTrie } from "@serval/lpm";
import type { Locator, ServicePrefix } from "@serval/wire";
import type {
  ActionPlugin,
  ActionPluginFactory,
  ReleasedPacket,
  ResolveRequest,
  ServiceCounters,
  ServiceEvent,
  Target,
  TargetSet,
  TargetType,
  Verdict,
} from "./action_plugin.ts";
import { bumpCounters, DROP_NO_TARGET, NO_MATCH } from "./action_plugin.ts";
import type { RandomSource } from "./random_source.ts";
import { DELAY_PLUGIN, delay } from "./plugins/delay.ts";
import { DEMUX_PLUGIN, demux } from "./plugins/demux.ts";
import { DROP_PLUGIN, drop } from "./plugins/drop.ts";
import { FORWARD_PLUGIN, forward } from "./plugins/forward.ts";

/**
 * Priority of a target added without one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DEFAULT_PRIORITY, 0);
 * ```
 */
export const DEFAULT_PRIORITY = 0;
/**
 * Weight of a target added without one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DEFAULT_WEIGHT, 1);
 * ```
 */
export const DEFAULT_WEIGHT = 1;

/**
 * Which target a call means. Identity (facts §4.2): a forward target by its
 * locator (address and port), a demux target by its listener, delay and drop
 * by their type. Identities are unique within an entry (across priorities).
 */
export type TargetIdentity =
  | { readonly type: "forward"; readonly locator: Locator }
  | { readonly type: "demux"; readonly listener: number }
  | { readonly type: "delay" }
  | { readonly type: "drop" };

/** A target to add: its identity plus priority, weight and plugin. */
export type TargetSpec = TargetIdentity & {
  /** Priority of the set to join (integer 0..2^32−1, default 0). */
  readonly priority?: number;
  /** Weight (integer 1..65535, default 1). */
  readonly weight?: number;
  /**
   * Name of a registered plugin that resolves the set (forward/demux sets
   * only). Default: the built-in for the type of the set's first target.
   */
  readonly plugin?: string;
};

/** Changes for {@linkcode ServiceTable.modifyTarget}. */
export interface TargetChange {
  /** New weight (1..65535). */
  readonly weight?: number;
  /** New priority: the target moves to that priority's set. */
  readonly priority?: number;
}

/** All rules for one prefix. */
export interface ServiceEntry {
  /** The prefix. */
  readonly prefix: ServicePrefix;
  /** Target sets, highest priority first; never empty. */
  readonly sets: readonly TargetSet[];
  /** Counters of every resolution that matched this entry. */
  readonly counters: ServiceCounters;
}

/** Table-wide counters. No-match lookups count as dropped. */
export interface TableCounters extends ServiceCounters {
  /** Resolutions that matched no entry. */
  noMatch: number;
}

/** Options of {@linkcode ServiceTable}. */
export interface ServiceTableInit {
  /** Randomness lent to plugins. */
  readonly random: RandomSource;
  /**
   * Plugin factories to register in addition to the built-ins
   * (`@serval/plugin-forward`, `-demux`, `-delay`, `-drop`). A factory whose
   * plugin has a built-in's name replaces it (e.g. `delay({ capacity: 8 })`).
   */
  readonly plugins?: readonly ActionPluginFactory[];
}

/** Resolution mode: "local" for end hosts (demux only, facts §3.2), "any" for routers. */
export type ResolveMode = "local" | "any";

const KEY_BYTES = 32;

function zero(): ServiceCounters {
  return { packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 };
}

class TargetImpl implements Target {
  readonly type: TargetType;
  weight: number;
  readonly locator: Locator | undefined;
  readonly listener: number | undefined;
  readonly counters: ServiceCounters = zero();
  readonly verdict: Verdict;

  constructor(type: TargetType, weight: number, locator: Locator | undefined, listener: number | undefined) {
    this.type = type;
    this.weight = weight;
    this.locator = locator;
    this.listener = listener;
    this.verdict = type === "forward" || type === "demux"
      ? { kind: type, target: this }
      : type === "drop"
      ? { kind: "drop", reason: "drop-rule" }
      : DROP_NO_TARGET;
  }
}

class SetImpl implements TargetSet {
  readonly prefix: ServicePrefix;
  readonly priority: number;
  readonly plugin: ActionPlugin;
  /** Whether the plugin was named explicitly (kept for the local view). */
  readonly named: boolean;
  targets: TargetImpl[] = [];
  totalWeight = 0;
  version = 0;
  readonly entryCounters: ServiceCounters;
  readonly tableCounters: ServiceCounters;

  constructor(
    prefix: ServicePrefix,
    priority: number,
    plugin: ActionPlugin,
    named: boolean,
    entryCounters: ServiceCounters,
    tableCounters: ServiceCounters,
  ) {
    this.prefix = prefix;
    this.priority = priority;
    this.plugin = plugin;
    this.named = named;
    this.entryCounters = entryCounters;
    this.tableCounters = tableCounters;
  }
}

class EntryImpl implements ServiceEntry {
  readonly prefix: ServicePrefix;
  sets: SetImpl[] = [];
  readonly counters: ServiceCounters = zero();
  /** The set "local" mode resolves: demux targets of the highest set holding one. */
  local: SetImpl | undefined;

  constructor(prefix: ServicePrefix) {
    this.prefix = prefix;
  }
}

function sameLocator(a: Locator, b: Locator): boolean {
  if (a.port !== b.port || a.address.length !== b.address.length) return false;
  for (let i = 0; i < a.address.length; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

function matches(t: Target, id: TargetIdentity): boolean {
  if (t.type !== id.type) return false;
  if (id.type === "forward") return sameLocator(t.locator!, id.locator);
  if (id.type === "demux") return t.listener === id.listener;
  return true;
}

function describe(id: TargetIdentity): string {
  if (id.type === "forward") {
    const l = id.locator;
    const a = l.address.length === 4 ? Array.from(l.address).join(".") : Array.from(l.address, (b) => b.toString(16).padStart(2, "0")).join("");
    return `forward ${a}:${l.port}`;
  }
  if (id.type === "demux") return `demux listener ${id.listener}`;
  return id.type;
}

const TYPES: readonly string[] = ["forward", "demux", "delay", "drop"];

/**
 * The service table. Rules live in an {@linkcode LpmTrie} keyed by prefix;
 * each entry holds target sets ordered by priority, and each set is resolved
 * by an {@linkcode ActionPlugin}.
 *
 * **Rules.**
 * - forward targets need a locator (4- or 16-byte address, port 0..65535);
 *   other types must not have one; demux targets need a listener number.
 * - Adding a target equal (by identity) to one already in the entry throws.
 * - At one priority, a set holds either one DROP target, or one DELAY
 *   target, or forward/demux targets: adding anything else to such a
 *   priority throws. (The 2014 code refused any addition to an entry holding
 *   DROP or DELAY; other priorities are allowed here, since only the highest
 *   set resolves.)
 * - The default service is prefix 0 (`ServicePrefix.DEFAULT`).
 *
 * **Resolution.** "any": longest match, highest-priority set, its plugin
 * decides. "local": the longest matching entry that holds a demux target;
 * only the demux targets of its highest set holding any are considered.
 * Counters (target, entry, table) are updated for every verdict; delayed
 * packets count as resolved on the DELAY target, and as dropped too if they
 * later time out or are dropped by verdict.
 *
 * @example Forward by longest prefix
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * import { ServiceTable, SeededRandom } from "@serval/sal";
 * const table = new ServiceTable({ random: new SeededRandom(1) });
 * const router = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
 * table.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: router });
 * table.addTarget(ServicePrefix.parse("web.example/16"), { type: "demux", listener: 7 });
 * const key = ServiceId.parse("web.example").bytes;
 * const v = table.resolve(0, key, 0, { flowKey: 1, packetLen: 60 }, "any");
 * assertEquals(v.kind === "demux" && v.target.listener, 7);
 * const w = table.resolve(0, ServiceId.parse("other").bytes, 0, { flowKey: 1, packetLen: 60 }, "any");
 * assertEquals(w.kind === "forward" && w.target.locator!.port, 0);
 * ```
 */
export class ServiceTable {
  readonly #trie = new LpmTrie<EntryImpl>();
  readonly #plugins = new Map<string, ActionPlugin>();
  readonly #counters: TableCounters = { ...zero(), noMatch: 0 };
  #version = 0;
  #found: EntryImpl | undefined;
  readonly #visitLocal = (e: EntryImpl): boolean => {
    if (e.local === undefined) return true;
    this.#found = e;
    return false;
  };

  /**
   * @param init Randomness and extra plugins.
   * @throws {RangeError} When two extra plugins share a name.
   */
  constructor(init: ServiceTableInit) {
    const components = { random: init.random };
    for (const f of [forward(), demux(), delay(), drop()]) {
      const p = f(components);
      this.#plugins.set(p.name, p);
    }
    const extra = new Set<string>();
    for (const f of init.plugins ?? []) {
      const p = f(components);
      if (extra.has(p.name)) {
        throw new RangeError(`Cannot register plugin "${p.name}": a plugin with that name is already registered`);
      }
      extra.add(p.name);
      this.#plugins.set(p.name, p);
    }
  }

  /**
   * The registered plugin with this name.
   *
   * @param name E.g. `"@serval/plugin-forward"`.
   * @returns The plugin, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * assertEquals(t.plugin("@serval/plugin-drop")?.name, "@serval/plugin-drop");
   * ```
   */
  plugin(name: string): ActionPlugin | undefined {
    return this.#plugins.get(name);
  }

  /**
   * Number of entries (prefixes with at least one target).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * assertEquals(new ServiceTable({ random: new SeededRandom(1) }).size, 0);
   * ```
   */
  get size(): number {
    return this.#trie.size;
  }

  /**
   * Table-wide counters (live object; do not modify).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * assertEquals(new ServiceTable({ random: new SeededRandom(1) }).counters.noMatch, 0);
   * ```
   */
  get counters(): Readonly<TableCounters> {
    return this.#counters;
  }

  /**
   * Adds a target to the set of its priority in the entry of `prefix`,
   * creating the set and entry as needed.
   *
   * @param prefix The rule's prefix.
   * @param spec The target.
   * @returns The new target.
   * @throws {TypeError} On a missing/forbidden locator or listener, or an unknown type.
   * @throws {RangeError} On a bad weight/priority, an equal target, a
   *   DROP/DELAY conflict at that priority, an unknown plugin or a plugin
   *   different from the set's.
   *
   * @example
   * ```ts
   * import { assertEquals, assertThrows } from "@std/assert";
   * import { ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * const p = ServicePrefix.parse("web.example/16");
   * t.addTarget(p, { type: "demux", listener: 1, weight: 2 });
   * assertEquals(t.get(p)!.sets[0]!.totalWeight, 2);
   * assertThrows(() => t.addTarget(p, { type: "demux", listener: 2, weight: 0 }), RangeError);
   * assertThrows(() => t.addTarget(p, { type: "drop" }), RangeError);
   * ```
   */
  addTarget(prefix: ServicePrefix, spec: TargetSpec): Target {
    const what = `Cannot add target to "${prefix}"`;
    const target = this.#makeTarget(what, spec);
    const priority = checkPriority(what, spec.priority ?? DEFAULT_PRIORITY);
    let pluginName = spec.plugin;
    if (pluginName !== undefined) {
      if (target.type === "delay" || target.type === "drop") {
        throw new RangeError(`${what}: plugin "${pluginName}" given for a ${target.type} target, plugins apply to forward and demux sets only`);
      }
      if (!this.#plugins.has(pluginName)) {
        throw new RangeError(`${what}: plugin "${pluginName}" is not registered`);
      }
    }
    const entry = this.#trie.get(prefix.id.bytes, prefix.bits);
    if (entry !== undefined) {
      for (const s of entry.sets) {
        for (const t of s.targets) {
          if (matches(t, spec)) {
            throw new RangeError(`${what}: ${describe(spec)} already exists at priority ${s.priority}`);
          }
        }
      }
    }
    const set = entry?.sets.find((s) => s.priority === priority);
    if (set !== undefined) {
      this.#checkJoin(what, set, target.type);
      if (pluginName !== undefined && set.plugin.name !== pluginName) {
        throw new RangeError(`${what}: plugin "${pluginName}" differs, the set at priority ${priority} uses "${set.plugin.name}"`);
      }
    }
    // Validation done: mutate.
    const e = entry ?? new EntryImpl(prefix);
    if (entry === undefined) this.#trie.insert(prefix.id.bytes, prefix.bits, e);
    let s = set;
    if (s === undefined) {
      const named = pluginName !== undefined;
      pluginName ??= builtinFor(target.type);
      s = new SetImpl(prefix, priority, this.#plugins.get(pluginName)!, named, e.counters, this.#counters);
      e.sets.push(s);
      e.sets.sort((a, b) => b.priority - a.priority);
    }
    s.targets.push(target);
    this.#changed(e, s);
    return target;
  }

  /**
   * Removes a target. Removing the last target of a set removes the set;
   * removing the last set removes the entry.
   *
   * @param prefix The rule's prefix.
   * @param identity Which target.
   * @returns Whether a target was removed.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.addTarget(ServicePrefix.DEFAULT, { type: "drop" });
   * assertEquals(t.removeTarget(ServicePrefix.DEFAULT, { type: "drop" }), true);
   * assertEquals(t.size, 0);
   * ```
   */
  removeTarget(prefix: ServicePrefix, identity: TargetIdentity): boolean {
    const entry = this.#trie.get(prefix.id.bytes, prefix.bits);
    if (entry === undefined) return false;
    for (const s of entry.sets) {
      const i = s.targets.findIndex((t) => matches(t, identity));
      if (i < 0) continue;
      s.targets.splice(i, 1);
      this.#changed(entry, s);
      return true;
    }
    return false;
  }

  /**
   * Changes a target's weight and/or priority. A priority change moves the
   * target (keeping its counters) to the set of the new priority, under the
   * same rules as {@linkcode ServiceTable.addTarget}.
   *
   * @param prefix The rule's prefix.
   * @param identity Which target.
   * @param change New weight and/or priority.
   * @returns Whether the target exists (and was changed).
   * @throws {RangeError} On a bad weight/priority or a DROP/DELAY conflict;
   *   the table is then unchanged.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.addTarget(ServicePrefix.DEFAULT, { type: "demux", listener: 3 });
   * t.modifyTarget(ServicePrefix.DEFAULT, { type: "demux", listener: 3 }, { weight: 5, priority: 9 });
   * const s = t.get(ServicePrefix.DEFAULT)!.sets[0]!;
   * assertEquals([s.priority, s.totalWeight], [9, 5]);
   * ```
   */
  modifyTarget(prefix: ServicePrefix, identity: TargetIdentity, change: TargetChange): boolean {
    const what = `Cannot modify target of "${prefix}"`;
    const entry = this.#trie.get(prefix.id.bytes, prefix.bits);
    if (entry === undefined) return false;
    let from: SetImpl | undefined;
    let target: TargetImpl | undefined;
    for (const s of entry.sets) {
      target = s.targets.find((t) => matches(t, identity));
      if (target !== undefined) {
        from = s;
        break;
      }
    }
    if (from === undefined || target === undefined) return false;
    const weight = change.weight === undefined ? target.weight : checkWeight(what, change.weight);
    const priority = change.priority === undefined ? from.priority : checkPriority(what, change.priority);
    let to = from;
    if (priority !== from.priority) {
      const existing = entry.sets.find((s) => s.priority === priority);
      if (existing !== undefined) this.#checkJoin(what, existing, target.type);
      if (existing !== undefined) to = existing;
      else {
        const named = from.named && (target.type === "forward" || target.type === "demux");
        const plugin = named ? from.plugin : this.#plugins.get(builtinFor(target.type))!;
        to = new SetImpl(prefix, priority, plugin, named, entry.counters, this.#counters);
        entry.sets.push(to);
        entry.sets.sort((a, b) => b.priority - a.priority);
      }
      from.targets.splice(from.targets.indexOf(target), 1);
      to.targets.push(target);
    }
    target.weight = weight;
    this.#changed(entry, from);
    if (to !== from) this.#changed(entry, to);
    return true;
  }

  /**
   * Removes every demux target of a listener (a socket closing).
   *
   * @param listener The listener id.
   * @returns The prefixes it was removed from.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.addTarget(ServicePrefix.parse("a/8"), { type: "demux", listener: 4 });
   * t.addTarget(ServicePrefix.parse("b/8"), { type: "demux", listener: 4 });
   * assertEquals(t.removeListener(4).length, 2);
   * assertEquals(t.size, 0);
   * ```
   */
  removeListener(listener: number): ServicePrefix[] {
    const prefixes: ServicePrefix[] = [];
    for (const e of [...this.entries()]) {
      if (this.removeTarget(e.prefix, { type: "demux", listener })) prefixes.push(e.prefix);
    }
    return prefixes;
  }

  /**
   * The entry of exactly this prefix.
   *
   * @param prefix The prefix.
   * @returns The entry, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.addTarget(ServicePrefix.parse("a/8"), { type: "drop" });
   * assertEquals(t.get(ServicePrefix.parse("a/16")), undefined);
   * assertEquals(t.get(ServicePrefix.parse("a/8"))!.sets.length, 1);
   * ```
   */
  get(prefix: ServicePrefix): ServiceEntry | undefined {
    return this.#trie.get(prefix.id.bytes, prefix.bits);
  }

  /**
   * Every entry, in trie order (unspecified but stable while unmodified).
   *
   * @returns An iterator over entries.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.addTarget(ServicePrefix.DEFAULT, { type: "drop" });
   * assertEquals([...t.entries()].map((e) => e.prefix.toString()), ["default"]);
   * ```
   */
  *entries(): IterableIterator<ServiceEntry> {
    for (const [, , e] of this.#trie.entries()) yield e;
  }

  /**
   * Resolves a packet's serviceID. Never throws on request data: a key with
   * fewer than 32 bytes after `keyOff` gives "no-match".
   *
   * **Performance.** Allocation: none for forward/demux/drop/no-match
   * verdicts with the built-ins (verdicts are preallocated); a delay verdict
   * allocates the held copy, the event and the verdict.
   *
   * @param now Monotonic time in µs.
   * @param key Bytes holding the serviceID.
   * @param keyOff Offset of the 32-byte serviceID in `key`.
   * @param req Flow hash, length, packet bytes, times delayed.
   * @param mode "local" (end host: demux targets only) or "any" (router).
   * @returns The verdict.
   *
   * @example Local mode skips entries without a listener
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceId, ServicePrefix } from "@serval/wire";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.addTarget(ServicePrefix.parse("web.example/8"), { type: "demux", listener: 1 });
   * t.addTarget(ServicePrefix.parse("web.example/16"), { type: "drop" });
   * const key = ServiceId.parse("web.example").bytes;
   * assertEquals(t.resolve(0, key, 0, { flowKey: 0, packetLen: 1 }, "any").kind, "drop");
   * assertEquals(t.resolve(0, key, 0, { flowKey: 0, packetLen: 1 }, "local").kind, "demux");
   * ```
   */
  resolve(now: number, key: Uint8Array, keyOff: number, req: ResolveRequest, mode: ResolveMode): Verdict {
    const counters = this.#counters;
    const bytes = req.packetLen;
    if (!(key instanceof Uint8Array) || keyOff >>> 0 !== keyOff || keyOff + KEY_BYTES > key.length) {
      counters.noMatch++;
      bumpCounters(counters, false, bytes);
      return NO_MATCH;
    }
    let entry: EntryImpl | undefined;
    let set: SetImpl | undefined;
    if (mode === "local") {
      this.#found = undefined;
      this.#trie.forEachMatch(key, keyOff, this.#visitLocal);
      entry = this.#found as EntryImpl | undefined;
      this.#found = undefined;
      set = entry?.local;
    } else {
      entry = this.#trie.longestMatch(key, keyOff);
      set = entry?.sets[0];
    }
    if (entry === undefined || set === undefined) {
      counters.noMatch++;
      bumpCounters(counters, false, bytes);
      return NO_MATCH;
    }
    let v: Verdict;
    try {
      v = set.plugin.resolve(now, set, req, key, keyOff);
    } catch {
      // A plugin bug must not turn packet data into an exception.
      v = DROP_NO_TARGET;
    }
    let charged: Target | undefined;
    let resolved = true;
    switch (v.kind) {
      case "forward":
      case "demux":
        charged = v.target;
        break;
      case "delay":
        charged = firstOfType(set, "delay");
        break;
      case "drop":
        resolved = false;
        charged = v.reason === "drop-rule" ? firstOfType(set, "drop") : v.reason === "no-target" ? undefined : firstOfType(set, "delay");
        break;
      default:
        resolved = false;
    }
    if (charged !== undefined) bumpCounters(charged.counters, resolved, bytes);
    bumpCounters(entry.counters, resolved, bytes);
    bumpCounters(counters, resolved, bytes);
    return v;
  }

  /**
   * Earliest time (µs) {@linkcode ServiceTable.handleTimeout} must run, over all plugins.
   *
   * @returns The deadline, or `undefined` when nothing waits.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * assertEquals(new ServiceTable({ random: new SeededRandom(1) }).pollTimeout(), undefined);
   * ```
   */
  pollTimeout(): number | undefined {
    let min: number | undefined;
    for (const p of this.#plugins.values()) {
      const t = p.pollTimeout?.();
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  /**
   * Runs every plugin's expired timers (e.g. drops timed-out delayed packets).
   *
   * @param now Monotonic time in µs.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * const t = new ServiceTable({ random: new SeededRandom(1) });
   * t.handleTimeout(5);
   * assertEquals(t.pollTimeout(), undefined);
   * ```
   */
  handleTimeout(now: number): void {
    for (const p of this.#plugins.values()) p.handleTimeout?.(now);
  }

  /**
   * The next plugin event (a delayed packet's "resolve-request").
   *
   * @returns The event, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * assertEquals(new ServiceTable({ random: new SeededRandom(1) }).pollEvent(), undefined);
   * ```
   */
  pollEvent(): ServiceEvent | undefined {
    for (const p of this.#plugins.values()) {
      const e = p.pollEvent?.();
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /**
   * The next packet released from DELAY; resolve it again with
   * `req.delayed = released.delayed`.
   *
   * @returns The packet, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * assertEquals(new ServiceTable({ random: new SeededRandom(1) }).pollReleased(), undefined);
   * ```
   */
  pollReleased(): ReleasedPacket | undefined {
    for (const p of this.#plugins.values()) {
      const r = p.pollReleased?.();
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /**
   * Applies a controller verdict to a delayed packet. Unknown ids are ignored.
   *
   * @param now Monotonic time in µs.
   * @param id The id from the event.
   * @param action "release" or "drop".
   * @returns Whether a held packet had this id.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceTable, SeededRandom } from "@serval/sal";
   * assertEquals(new ServiceTable({ random: new SeededRandom(1) }).delayVerdict(0, 42, "drop"), false);
   * ```
   */
  delayVerdict(now: number, id: number, action: "release" | "drop"): boolean {
    for (const p of this.#plugins.values()) if (p.verdict?.(now, id, action)) return true;
    return false;
  }

  #makeTarget(what: string, spec: TargetSpec): TargetImpl {
    const type = spec.type;
    if (!TYPES.includes(type)) {
      throw new TypeError(`${what}: type is "${String(type)}", must be one of "forward", "demux", "delay", "drop"`);
    }
    const weight = checkWeight(what, spec.weight ?? DEFAULT_WEIGHT);
    const s = spec as { locator?: Locator; listener?: number };
    let locator: Locator | undefined;
    if (type === "forward") {
      const l = s.locator;
      if (l === undefined || !(l.address instanceof Uint8Array)) {
        throw new TypeError(`${what}: a forward target needs a locator`);
      }
      if (l.address.length !== 4 && l.address.length !== 16) {
        throw new RangeError(`${what}: locator address is ${l.address.length} bytes, must be 4 or 16`);
      }
      if (!Number.isInteger(l.port) || l.port < 0 || l.port > 65535) {
        throw new RangeError(`${what}: locator port is ${l.port}, must be an integer in 0..65535`);
      }
      locator = Object.freeze({ address: l.address.slice(), port: l.port });
    } else if (s.locator !== undefined) {
      throw new TypeError(`${what}: a ${type} target must not have a locator`);
    }
    let listener: number | undefined;
    if (type === "demux") {
      if (typeof s.listener !== "number" || Number.isNaN(s.listener)) {
        throw new TypeError(`${what}: a demux target needs a listener number, got ${String(s.listener)}`);
      }
      listener = s.listener;
    } else if (s.listener !== undefined) {
      throw new TypeError(`${what}: a ${type} target must not have a listener`);
    }
    return new TargetImpl(type, weight, locator, listener);
  }

  #checkJoin(what: string, set: SetImpl, type: TargetType): void {
    const exclusive = (t: TargetType) => t === "drop" || t === "delay";
    const held = set.targets[0]?.type;
    if (held === undefined) return;
    if (exclusive(type) || exclusive(held)) {
      throw new RangeError(`${what}: priority ${set.priority} holds a ${held} target, a ${type} target cannot share it (DROP and DELAY stand alone at their priority)`);
    }
  }

  /** Bumps the set's version, drops empty sets/entries and recomputes the local view. */
  #changed(entry: EntryImpl, set: SetImpl): void {
    set.version = ++this.#version;
    let w = 0;
    for (const t of set.targets) w += t.weight;
    set.totalWeight = w;
    if (set.targets.length === 0) entry.sets.splice(entry.sets.indexOf(set), 1);
    if (entry.sets.length === 0) {
      this.#trie.remove(entry.prefix.id.bytes, entry.prefix.bits);
      entry.local = undefined;
      return;
    }
    entry.local = undefined;
    for (const s of entry.sets) {
      const dm = s.targets.filter((t) => t.type === "demux");
      if (dm.length === 0) continue;
      if (dm.length === s.targets.length && (s.named || s.plugin.name === DEMUX_PLUGIN)) {
        entry.local = s;
      } else {
        // A view of the demux targets only, resolved by the named plugin or DEMUX.
        const plugin = s.named ? s.plugin : this.#plugins.get(DEMUX_PLUGIN)!;
        const view = new SetImpl(entry.prefix, s.priority, plugin, s.named, entry.counters, this.#counters);
        view.targets = dm;
        view.totalWeight = dm.reduce((a, t) => a + t.weight, 0);
        view.version = set.version;
        entry.local = view;
      }
      break;
    }
  }
}

function builtinFor(type: TargetType): string {
  return type === "forward" ? FORWARD_PLUGIN : type === "demux" ? DEMUX_PLUGIN : type === "delay" ? DELAY_PLUGIN : DROP_PLUGIN;
}

function firstOfType(set: TargetSet, type: TargetType): Target | undefined {
  for (const t of set.targets) if (t.type === type) return t;
  return undefined;
}

function checkWeight(what: string, weight: number): number {
  if (!Number.isInteger(weight) || weight < 1 || weight > 65535) {
    throw new RangeError(`${what}: weight is ${weight}, must be an integer in 1..65535`);
  }
  return weight;
}

function checkPriority(what: string, priority: number): number {
  if (!Number.isInteger(priority) || priority < 0 || priority > 0xffffffff) {
    throw new RangeError(`${what}: priority is ${priority}, must be an integer in 0..4294967295`);
  }
  return priority;
}

/**
 * The built-in DELAY plugin: a bounded queue of packets waiting for a
 * controller verdict, with a per-packet timeout (facts §4.6, minus the bugs
 * of §10.6: packets from the network are held too, entries time out, and a
 * released packet that hits DELAY again is dropped instead of looping).
 *
 * @module
 */

import type {
  ActionPlugin,
  ActionPluginFactory,
  ReleasedPacket,
  ResolveRequest,
  ServiceEvent,
  Target,
  TargetSet,
  Verdict,
} from "../action_plugin.ts";
import { countDropped, DROP_DELAY_FULL, DROP_DELAY_LOOP, DROP_NO_TARGET } from "../action_plugin.ts";

/**
 * Name of the built-in DELAY plugin.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DELAY_PLUGIN, "@serval/plugin-delay");
 * ```
 */
export const DELAY_PLUGIN = "@serval/plugin-delay";

/**
 * Default queue capacity (`DELAY_QUEUE_MAX_DEFAULT`, facts §4.6).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DELAY_CAPACITY_DEFAULT, 1024);
 * ```
 */
export const DELAY_CAPACITY_DEFAULT = 1024;
/**
 * Default time a packet may wait for a verdict: 1 s, in µs.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DELAY_TIMEOUT_DEFAULT, 1_000_000);
 * ```
 */
export const DELAY_TIMEOUT_DEFAULT = 1_000_000;

/** Options of {@linkcode delay}. */
export interface DelayInit {
  /** Maximum packets held at once (integer ≥ 1, default 1024). */
  readonly capacity?: number;
  /** µs a packet waits before it is dropped (integer ≥ 1, default 1 s). */
  readonly timeout?: number;
}

interface Held {
  readonly id: number;
  readonly packet: Uint8Array;
  readonly delayed: number;
  readonly deadline: number;
  readonly set: TargetSet;
  readonly target: Target | undefined;
  readonly bytes: number;
}

/**
 * DELAY: holds the packet under a fresh id and emits a "resolve-request"
 * event. The controller answers with `verdict(now, id, "release" | "drop")`;
 * released packets come out of `pollReleased()` with `delayed` incremented,
 * and the caller resolves them again with `req.delayed` set to it.
 *
 * **Details.** A request with `delayed > 0` that hits DELAY again gets drop
 * "delay-loop"; a full queue gives drop "delay-full"; a packet that waits
 * longer than `timeout` is dropped and counted as dropped on its target, entry
 * and table. Unknown ids are ignored. A request without `packet` is held with
 * an empty copy (the caller then keeps the bytes itself, keyed by the id).
 *
 * @param init Capacity and timeout.
 * @returns A factory (needs no components).
 * @throws {RangeError} When an option is not a positive integer.
 *
 * @example Hold, then release
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServicePrefix, ServiceId } from "@serval/wire";
 * import { ServiceTable, SeededRandom } from "@serval/sal";
 * const table = new ServiceTable({ random: new SeededRandom(1) });
 * const p = ServicePrefix.parse("web.example/16");
 * table.addTarget(p, { type: "delay" });
 * const key = ServiceId.parse("web.example").bytes;
 * const v = table.resolve(0, key, 0, { flowKey: 1, packetLen: 3, packet: new Uint8Array([1, 2, 3]) }, "any");
 * assertEquals(v.kind, "delay");
 * const ev = table.pollEvent()!;
 * table.delayVerdict(10, ev.id, "release");
 * assertEquals(table.pollReleased()!.delayed, 1);
 * ```
 */
export function delay(init: DelayInit = {}): ActionPluginFactory {
  const capacity = init.capacity ?? DELAY_CAPACITY_DEFAULT;
  const timeout = init.timeout ?? DELAY_TIMEOUT_DEFAULT;
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`Cannot create delay plugin: capacity is ${capacity}, must be an integer >= 1`);
  }
  if (!Number.isInteger(timeout) || timeout < 1) {
    throw new RangeError(`Cannot create delay plugin: timeout is ${timeout}, must be an integer >= 1 (µs)`);
  }
  return (): ActionPlugin => new DelayPlugin(capacity, timeout);
}

class DelayPlugin implements ActionPlugin {
  readonly name = DELAY_PLUGIN;
  readonly #capacity: number;
  readonly #timeout: number;
  /** Insertion order = deadline order (one timeout for all, `now` monotonic). */
  readonly #held = new Map<number, Held>();
  #events: ServiceEvent[] = [];
  #released: ReleasedPacket[] = [];
  #nextId = 1;

  constructor(capacity: number, timeout: number) {
    this.#capacity = capacity;
    this.#timeout = timeout;
  }

  resolve(now: number, set: TargetSet, req: ResolveRequest, key: Uint8Array, keyOff: number): Verdict {
    const targets = set.targets;
    if (targets.length === 0) return DROP_NO_TARGET;
    if ((req.delayed ?? 0) > 0) return DROP_DELAY_LOOP;
    if (this.#held.size >= this.#capacity) return DROP_DELAY_FULL;
    let target: Target | undefined;
    for (const t of targets) if (t.type === "delay") target = t;
    const id = this.#nextId;
    this.#nextId = id >= 0xffffffff ? 1 : id + 1;
    const packet = req.packet instanceof Uint8Array ? req.packet.slice() : new Uint8Array(0);
    this.#held.set(id, {
      id,
      packet,
      delayed: 0,
      deadline: now + this.#timeout,
      set,
      target,
      bytes: req.packetLen,
    });
    // Bounded like the queue: a controller that never polls cannot grow memory.
    if (this.#events.length >= this.#capacity) this.#events.shift();
    this.#events.push({ type: "resolve-request", id, prefix: set.prefix, serviceId: key.slice(keyOff, keyOff + 32), now });
    return { kind: "delay", id };
  }

  pollTimeout(): number | undefined {
    for (const h of this.#held.values()) return h.deadline;
    return undefined;
  }

  handleTimeout(now: number): void {
    for (const h of this.#held.values()) {
      if (h.deadline > now) break;
      this.#held.delete(h.id);
      countDropped(h.set, h.target, h.bytes);
    }
  }

  pollEvent(): ServiceEvent | undefined {
    return this.#events.shift();
  }

  pollReleased(): ReleasedPacket | undefined {
    return this.#released.shift();
  }

  verdict(_now: number, id: number, action: "release" | "drop"): boolean {
    const h = this.#held.get(id);
    if (h === undefined) return false;
    this.#held.delete(id);
    if (action === "release") this.#released.push({ id, packet: h.packet, delayed: h.delayed + 1 });
    else countDropped(h.set, h.target, h.bytes);
    return true;
  }
}

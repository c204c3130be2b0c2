/**
 * The flow table: flowID → flow state, with random, non-repeating flowIDs.
 *
 * The 2012 stack handed out flowIDs from one host-wide counter (facts §1.4),
 * which made them sequential and predictable (facts §10.2): an off-path
 * attacker could guess the flowID of a live flow. Here every flowID is drawn
 * from an injected {@linkcode RandomSource}, is never 0 ({@linkcode FLOW_ID_NONE}),
 * is never held by two live flows, and can be quarantined after release so a
 * stale packet for an old flow does not land in a new one.
 *
 * @module
 */

import { FLOW_ID_NONE, type FlowId } from "@serval/wire";
import type { RandomSource } from "./random_source.ts";

/**
 * The default {@linkcode FlowTableOptions.capacity}: 2^20 live flows.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(FLOW_TABLE_DEFAULT_CAPACITY, 2 ** 20);
 * ```
 */
export const FLOW_TABLE_DEFAULT_CAPACITY = 1_048_576;

/** How many draws {@linkcode FlowTable.allocate} makes before it gives up. */
const MAX_DRAWS = 32;

/**
 * Construction options of a {@linkcode FlowTable}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * const options: FlowTableOptions = { random: new SeededRandom(1), capacity: 64, quarantineUs: 2_000_000 };
 * assertEquals(new FlowTable(options).capacity, 64);
 * ```
 */
export interface FlowTableOptions {
  /** Where flowIDs come from. Inject the OS CSPRNG in production, {@linkcode SeededRandom} in tests. */
  readonly random: RandomSource;
  /** Maximum number of live flows, an integer in 1..2^31. Default {@linkcode FLOW_TABLE_DEFAULT_CAPACITY}. */
  readonly capacity?: number;
  /**
   * Quarantine applied by {@linkcode FlowTable.release} when the caller gives
   * no explicit deadline, in microseconds after `now`. Default 0 (none).
   */
  readonly quarantineUs?: number;
  /**
   * Maximum number of quarantined flowIDs remembered at once, an integer
   * >= 0. When full, the oldest release is forgotten first. Default: `capacity`.
   */
  readonly quarantineCapacity?: number;
}

function checkCount(name: string, n: number, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`Cannot create flow table: ${name} is ${n}, must be an integer in ${min}..${max}`);
  }
  return n;
}

/**
 * Maps flowIDs to flows and allocates fresh flowIDs at random.
 *
 * **Details**
 * - A flowID is a uniform draw from 1..2^32-1 that is neither live nor
 *   quarantined; a collision simply draws again.
 * - Quarantine is time based: `release(id, now, untilUs)` keeps `id` out of
 *   {@linkcode FlowTable.allocate} while `now < untilUs`. It is bounded by
 *   `quarantineCapacity`: when that many IDs are quarantined, the oldest
 *   release is forgotten early. Expired entries are pruned lazily, a few per
 *   allocation, so memory stays within `capacity + quarantineCapacity` entries.
 * - `now` is a monotonic microsecond count supplied by the caller; the table
 *   reads no clock.
 *
 * **Performance** `get`, `has`, `release` and `allocate` are O(1) amortized.
 * `allocate` draws one u32 per attempt; with at most 2^21 of 2^32 IDs taken,
 * a retry happens less than once in 2000 allocations.
 *
 * @typeParam F The flow state stored per flowID.
 *
 * @example Allocate, look up, release with quarantine
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 *
 * const flows = new FlowTable<string>({ random: new SeededRandom(1), capacity: 4 });
 * const id = flows.allocate(0, "client flow");
 * assertEquals(id !== 0, true);
 * assertEquals(flows.get(id), "client flow");
 * assertEquals(flows.release(id, 10, 1_000), true);
 * assertEquals(flows.has(id), false);
 * assertEquals(flows.isQuarantined(id, 500), true);
 * assertEquals(flows.isQuarantined(id, 1_000), false);
 * ```
 */
export class FlowTable<F> {
  readonly #random: RandomSource;
  readonly #capacity: number;
  readonly #quarantineUs: number;
  readonly #quarantineCapacity: number;
  readonly #live = new Map<FlowId, F>();
  /** flowID → quarantine deadline (µs), in release order. */
  readonly #quarantine = new Map<FlowId, number>();

  /**
   * @param options The random source, capacity and quarantine settings.
   * @throws {RangeError} When a count is out of range.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * assertEquals(new FlowTable({ random: new SeededRandom(1) }).capacity, 1_048_576);
   * ```
   */
  constructor(options: FlowTableOptions) {
    this.#random = options.random;
    this.#capacity = checkCount("capacity", options.capacity ?? FLOW_TABLE_DEFAULT_CAPACITY, 1, 2 ** 31);
    this.#quarantineUs = options.quarantineUs ?? 0;
    if (!(this.#quarantineUs >= 0) || !Number.isFinite(this.#quarantineUs)) {
      throw new RangeError(
        `Cannot create flow table: quarantineUs is ${this.#quarantineUs}, must be a finite number >= 0`,
      );
    }
    this.#quarantineCapacity = checkCount(
      "quarantineCapacity",
      options.quarantineCapacity ?? this.#capacity,
      0,
      2 ** 31,
    );
  }

  /**
   * The maximum number of live flows.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * assertEquals(new FlowTable({ random: new SeededRandom(1), capacity: 8 }).capacity, 8);
   * ```
   */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * The number of live flows.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<number>({ random: new SeededRandom(1) });
   * t.allocate(0, 1);
   * assertEquals(t.size, 1);
   * ```
   */
  get size(): number {
    return this.#live.size;
  }

  /**
   * The number of flowIDs remembered in quarantine (some may have expired
   * but not yet been pruned).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<number>({ random: new SeededRandom(1), quarantineUs: 100 });
   * t.release(t.allocate(0, 1), 0);
   * assertEquals(t.quarantineSize, 1);
   * ```
   */
  get quarantineSize(): number {
    return this.#quarantine.size;
  }

  /**
   * Stores `value` under a fresh random flowID.
   *
   * @param now The current time in monotonic microseconds (for quarantine).
   * @param value The flow state.
   * @returns The new flowID: non-zero, not live, not quarantined at `now`.
   * @throws {RangeError} When the table is full, or when the random source
   *   yields no free flowID in 32 draws (a broken source).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<string>({ random: new SeededRandom(2), capacity: 1 });
   * const id = t.allocate(0, "a");
   * assertEquals(t.get(id), "a");
   * ```
   */
  allocate(now: number, value: F): FlowId {
    if (this.#live.size >= this.#capacity) {
      throw new RangeError(`Cannot allocate flowID: table is full (${this.#capacity} flows)`);
    }
    this.#prune(now, 2);
    for (let i = 0; i < MAX_DRAWS; i++) {
      const id = this.#random.nextU32();
      if (id === FLOW_ID_NONE || this.#live.has(id)) continue;
      const until = this.#quarantine.get(id);
      if (until !== undefined) {
        if (now < until) continue;
        this.#quarantine.delete(id);
      }
      this.#live.set(id, value);
      return id;
    }
    throw new RangeError(`Cannot allocate flowID: no free flowID in ${MAX_DRAWS} random draws (broken random source?)`);
  }

  /**
   * The flow stored under `id`.
   *
   * @param id The flowID.
   * @returns The flow, or `undefined` when `id` is not live.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * assertEquals(new FlowTable({ random: new SeededRandom(1) }).get(5), undefined);
   * ```
   */
  get(id: FlowId): F | undefined {
    return this.#live.get(id);
  }

  /**
   * Whether `id` names a live flow.
   *
   * @param id The flowID.
   * @returns `true` when live.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<number>({ random: new SeededRandom(1) });
   * assertEquals(t.has(t.allocate(0, 1)), true);
   * ```
   */
  has(id: FlowId): boolean {
    return this.#live.has(id);
  }

  /**
   * Whether `id` is quarantined at `now` (released, deadline not reached).
   *
   * @param id The flowID.
   * @param now The current time in monotonic microseconds.
   * @returns `true` when {@linkcode FlowTable.allocate} would skip `id` at `now`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<number>({ random: new SeededRandom(1) });
   * const id = t.allocate(0, 1);
   * t.release(id, 0, 50);
   * assertEquals([t.isQuarantined(id, 49), t.isQuarantined(id, 50)], [true, false]);
   * ```
   */
  isQuarantined(id: FlowId, now: number): boolean {
    const until = this.#quarantine.get(id);
    return until !== undefined && now < until;
  }

  /**
   * Removes the flow `id` and quarantines its flowID until `quarantineUntilUs`.
   *
   * @param id The flowID.
   * @param now The current time in monotonic microseconds.
   * @param quarantineUntilUs Keep `id` from being allocated again while
   *   `now < quarantineUntilUs`. Default: `now + quarantineUs` from the options.
   * @returns `true` when `id` was live (nothing happens otherwise).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<number>({ random: new SeededRandom(1) });
   * const id = t.allocate(0, 1);
   * assertEquals([t.release(id, 0), t.release(id, 0)], [true, false]);
   * ```
   */
  release(id: FlowId, now: number, quarantineUntilUs?: number): boolean {
    if (!this.#live.delete(id)) return false;
    const until = quarantineUntilUs ?? now + this.#quarantineUs;
    if (until > now && this.#quarantineCapacity > 0) {
      this.#quarantine.delete(id);
      if (this.#quarantine.size >= this.#quarantineCapacity) {
        // Bounded memory: forget the oldest release first.
        this.#quarantine.delete(this.#quarantine.keys().next().value!);
      }
      this.#quarantine.set(id, until);
    }
    return true;
  }

  /**
   * The live flows as `[flowID, flow]` pairs, in allocation order.
   *
   * @returns An iterator; do not allocate or release while iterating.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<string>({ random: new SeededRandom(1) });
   * t.allocate(0, "a");
   * t.allocate(0, "b");
   * assertEquals([...t.entries()].map(([, f]) => f), ["a", "b"]);
   * ```
   */
  entries(): IterableIterator<[FlowId, F]> {
    return this.#live.entries();
  }

  /**
   * Removes every flow and forgets the quarantine (for a stack reset).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@serval/sal";
   * const t = new FlowTable<number>({ random: new SeededRandom(1), quarantineUs: 10 });
   * t.release(t.allocate(0, 1), 0);
   * t.allocate(0, 2);
   * t.clear();
   * assertEquals([t.size, t.quarantineSize], [0, 0]);
   * ```
   */
  clear(): void {
    this.#live.clear();
    this.#quarantine.clear();
  }

  /** Drops up to `budget` expired quarantine entries from the front. */
  #prune(now: number, budget: number): void {
    for (const [id, until] of this.#quarantine) {
      if (budget-- <= 0) return;
      if (now >= until) this.#quarantine.delete(id);
    }
  }
}

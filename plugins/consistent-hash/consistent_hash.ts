/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016) as a service table
 * action plugin.
 *
 * @module
 */

import type { ActionPlugin, ActionPluginFactory, ResolveRequest, Target, TargetSet, Verdict } from "@serval/sal";
import { DROP_NO_TARGET } from "@serval/sal";

/**
 * The plugin's name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(CONSISTENT_HASH_PLUGIN, "@serval/plugin-consistent-hash");
 * ```
 */
export const CONSISTENT_HASH_PLUGIN = "@serval/plugin-consistent-hash";

/**
 * Default lookup table size (a prime).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(MAGLEV_TABLE_SIZE_DEFAULT, 65537);
 * ```
 */
export const MAGLEV_TABLE_SIZE_DEFAULT = 65537;

/** Options of {@linkcode consistentHash}. */
export interface ConsistentHashInit {
  /** Lookup table size: a prime in 3..16777213 (default 65537); ≳ 100 × targets keeps balance. */
  readonly tableSize?: number;
}

interface Lookup {
  readonly version: number;
  readonly targets: readonly Target[];
  readonly table: Uint32Array;
}

/**
 * Consistent hashing: each target gets a permutation of the lookup table
 * from two hashes of its identity (locator or listener); the table is filled
 * by letting targets take turns claiming their next preferred free slot, a
 * target of weight w taking w / max-weight turns per round. A flow maps to
 * `table[flowKey mod size]`, so adding or removing one of N targets remaps
 * about 1/N of the flows. The table is rebuilt when the set's version
 * changes.
 *
 * **Performance.** Allocation: none per resolution; a rebuild allocates the
 * table (4 · size bytes) and costs O(size · log size).
 *
 * @param init Table size.
 * @returns A factory (needs no components).
 * @throws {RangeError} When the table size is not a prime in range.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * const plugin = consistentHash({ tableSize: 251 })({ random: new SeededRandom(1) });
 * assertEquals(plugin.name, "@serval/plugin-consistent-hash");
 * assertThrows(() => consistentHash({ tableSize: 100 }), RangeError);
 * ```
 */
export function consistentHash(init: ConsistentHashInit = {}): ActionPluginFactory {
  const size = init.tableSize ?? MAGLEV_TABLE_SIZE_DEFAULT;
  if (!Number.isInteger(size) || size < 3 || size > 16777213 || !isPrime(size)) {
    throw new RangeError(`Cannot create consistent-hash plugin: table size is ${size}, must be a prime in 3..16777213`);
  }
  return (): ActionPlugin => {
    const cache = new WeakMap<TargetSet, Lookup>();
    return {
      name: CONSISTENT_HASH_PLUGIN,
      resolve(_now: number, set: TargetSet, req: ResolveRequest): Verdict {
        if (set.targets.length === 0) return DROP_NO_TARGET;
        let l = cache.get(set);
        if (l === undefined || l.version !== set.version || l.targets.length !== set.targets.length) {
          l = { version: set.version, targets: set.targets.slice(), table: populate(set.targets, size) };
          cache.set(set, l);
        }
        const key = typeof req.flowKey === "number" ? req.flowKey >>> 0 : 0;
        return l.targets[l.table[key % size]!]!.verdict;
      },
    };
  };
}

/**
 * Builds a Maglev lookup table: entry i holds the index of a target.
 *
 * @param targets The targets (non-empty).
 * @param size A prime table size.
 * @returns The table.
 *
 * @example Equal weights give equal shares
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const t = (listener: number) => ({ type: "demux", weight: 1, listener }) as any;
 * const table = populate([t(1), t(2)], 101);
 * const ones = table.filter((i) => i === 0).length;
 * assertEquals(ones === 50 || ones === 51, true);
 * ```
 */
export function populate(targets: readonly Target[], size: number): Uint32Array {
  const n = targets.length;
  const table = new Uint32Array(size).fill(0xffffffff);
  const pos = new Float64Array(n);
  const skip = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxW = 0;
  for (const t of targets) maxW = Math.max(maxW, t.weight);
  for (let i = 0; i < n; i++) {
    const id = identity(targets[i]!);
    pos[i] = hash(id, 0x811c9dc5) % size;
    skip[i] = (hash(id, 0x9747b28c) % (size - 1)) + 1;
  }
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      credit[i]! += targets[i]!.weight / maxW;
      while (credit[i]! >= 1 && filled < size) {
        credit[i]! -= 1;
        let c = pos[i]!;
        while (table[c] !== 0xffffffff) c = (c + skip[i]!) % size;
        table[c] = i;
        pos[i] = (c + skip[i]!) % size;
        filled++;
      }
    }
  }
  return table;
}

function identity(t: Target): string {
  if (t.type === "forward" && t.locator !== undefined) return `f${t.locator.address.join(".")}:${t.locator.port}`;
  if (t.type === "demux") return `d${t.listener}`;
  return t.type;
}

/** FNV-1a with a seed, finished with a murmur3 mix. */
function hash(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function isPrime(n: number): boolean {
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

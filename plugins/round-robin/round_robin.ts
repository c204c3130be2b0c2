/**
 * Smooth weighted round robin (the nginx algorithm) as a service table
 * action plugin.
 *
 * @module
 */

import type { ActionPlugin, ActionPluginFactory, TargetSet, Verdict } from "@serval/sal";
import { DROP_NO_TARGET } from "@serval/sal";

/**
 * The plugin's name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ROUND_ROBIN_PLUGIN, "@serval/plugin-round-robin");
 * ```
 */
export const ROUND_ROBIN_PLUGIN = "@serval/plugin-round-robin";

interface State {
  version: number;
  count: number;
  current: Float64Array;
}

/**
 * Smooth weighted round robin: on each pick every target's current weight
 * grows by its weight, the largest wins and loses the total. Over any
 * window of `totalWeight` picks each target is chosen exactly `weight` times,
 * interleaved (weights 5,1,1 give a a b a c a a). Deterministic; the state
 * restarts when the set changes.
 *
 * **Performance.** Allocation: none per resolution (one array per set change).
 *
 * @param _init No options.
 * @returns A factory (needs no components).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * assertEquals(roundRobin()({ random: new SeededRandom(1) }).name, "@serval/plugin-round-robin");
 * ```
 */
export function roundRobin(_init: Record<string, never> = {}): ActionPluginFactory {
  return (): ActionPlugin => {
    const states = new WeakMap<TargetSet, State>();
    return {
      name: ROUND_ROBIN_PLUGIN,
      resolve(_now: number, set: TargetSet): Verdict {
        const targets = set.targets;
        const n = targets.length;
        if (n === 0) return DROP_NO_TARGET;
        let s = states.get(set);
        if (s === undefined || s.version !== set.version || s.count !== n) {
          s = { version: set.version, count: n, current: new Float64Array(n) };
          states.set(set, s);
        }
        const cur = s.current;
        let total = 0;
        let best = 0;
        for (let i = 0; i < n; i++) {
          const w = targets[i]!.weight;
          total += w;
          cur[i] = cur[i]! + w;
          if (cur[i]! > cur[best]!) best = i;
        }
        cur[best] = cur[best]! - total;
        return targets[best]!.verdict;
      },
    };
  };
}

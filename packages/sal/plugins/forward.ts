/**
 * The built-in FORWARD plugin: weighted random selection (facts §4.4).
 *
 * @module
 */

import type { ActionPlugin, ActionPluginFactory, PluginComponents, TargetSet, Verdict } from "../action_plugin.ts";
import { pickWeighted } from "../action_plugin.ts";

/**
 * Name of the built-in FORWARD plugin.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(FORWARD_PLUGIN, "@serval/plugin-forward");
 * ```
 */
export const FORWARD_PLUGIN = "@serval/plugin-forward";

/**
 * FORWARD: draws a uniform 32-bit fraction, scales it by the sum of weights
 * and takes the first target whose cumulative weight reaches the sample, so
 * each target is chosen with probability weight / sum. Allocation: none.
 *
 * @param _init No options.
 * @returns A factory taking `{ random }`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * const plugin = forward()({ random: new SeededRandom(1) });
 * assertEquals(plugin.name, "@serval/plugin-forward");
 * ```
 */
export function forward(_init: Record<string, never> = {}): ActionPluginFactory {
  return (components: PluginComponents): ActionPlugin => {
    const random = components.random;
    return {
      name: FORWARD_PLUGIN,
      resolve(_now: number, set: TargetSet): Verdict {
        if (set.targets.length === 0) return pickWeighted(set, 0);
        return pickWeighted(set, random.nextU32());
      },
    };
  };
}

/**
 * The built-in DROP plugin.
 *
 * @module
 */

import type { ActionPlugin, ActionPluginFactory, TargetSet, Verdict } from "../action_plugin.ts";
import { DROP_NO_TARGET, DROP_RULE } from "../action_plugin.ts";

/**
 * Name of the built-in DROP plugin.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DROP_PLUGIN, "@serval/plugin-drop");
 * ```
 */
export const DROP_PLUGIN = "@serval/plugin-drop";

/**
 * DROP: every packet is dropped with reason "drop-rule" (an empty set gives
 * "no-target"). Allocation: none.
 *
 * @param _init No options.
 * @returns A factory (needs no components).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * assertEquals(drop()({ random: new SeededRandom(1) }).name, "@serval/plugin-drop");
 * ```
 */
export function drop(_init: Record<string, never> = {}): ActionPluginFactory {
  return (): ActionPlugin => ({
    name: DROP_PLUGIN,
    resolve(_now: number, set: TargetSet): Verdict {
      return set.targets.length === 0 ? DROP_NO_TARGET : DROP_RULE;
    },
  });
}

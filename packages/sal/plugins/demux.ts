/**
 * The built-in DEMUX plugin: deterministic weighted choice of a local
 * listener by flow hash.
 *
 * @module
 */

import type { ActionPlugin, ActionPluginFactory, ResolveRequest, TargetSet, Verdict } from "../action_plugin.ts";
import { pickWeighted } from "../action_plugin.ts";

/**
 * Name of the built-in DEMUX plugin.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(DEMUX_PLUGIN, "@serval/plugin-demux");
 * ```
 */
export const DEMUX_PLUGIN = "@serval/plugin-demux";

/**
 * DEMUX: picks a listener with probability weight / sum, using
 * `req.flowKey` as the sample so every packet of a flow reaches the same
 * listener (like `SO_REUSEPORT`). Allocation: none.
 *
 * @param _init No options.
 * @returns A factory (needs no components).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * assertEquals(demux()({ random: new SeededRandom(1) }).name, "@serval/plugin-demux");
 * ```
 */
export function demux(_init: Record<string, never> = {}): ActionPluginFactory {
  return (): ActionPlugin => ({
    name: DEMUX_PLUGIN,
    resolve(_now: number, set: TargetSet, req: ResolveRequest): Verdict {
      return pickWeighted(set, typeof req.flowKey === "number" ? req.flowKey : 0);
    },
  });
}

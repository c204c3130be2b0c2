/**
 * The layers every preset runs on its node besides the node itself (the
 * management socket, the application socket): one line per layer, so that
 * features land here without touching the preset command.
 *
 * @module
 */

import type { NodeExtraLayer } from "@serval/runtime";
import type { PresetExit, PresetRole } from "./preset_command.ts";

/**
 * The extra layers of a preset of `role`.
 *
 * @param role The node's role.
 * @returns Layers built after the node starts and released before it stops.
 *
 * @example
 * ```ts
 * import { presetLayers } from "@serval/cli";
 * console.assert(Array.isArray(presetLayers("host")));
 * ```
 */
export function presetLayers(role: PresetRole): NodeExtraLayer<PresetExit>[] {
  const layers: NodeExtraLayer<PresetExit>[] = [];
  void role;
  return layers;
}

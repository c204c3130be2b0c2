/**
 * The layers every preset runs on its node besides the node itself (the
 * management socket, the application socket): one line per layer, so that
 * features land here without touching the preset command.
 *
 * @module
 */

import { Layer } from "effect";
import { appSocketLayer } from "@serval/client";
import { managementLayer } from "@serval/management";
import type { NodeExtraLayer } from "@serval/runtime";
import { fail, type PresetExit, type PresetRole } from "./preset_command.ts";

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
  // A layer that cannot start (its socket taken by another daemon, a run
  // directory that is not ours) ends the preset with one line and exit 1.
  const orExit = (e: { readonly message: string }) => Layer.effectDiscard(fail(1, `serval ${role}: ${e.message}`));
  return [
    appSocketLayer({ onReady: (path) => console.log(`serval ${role}: applications at ${path}`) }).pipe(Layer.catchTag("AppSocketError", orExit)),
    managementLayer({ onReady: (path) => console.log(`serval ${role}: management at ${path}`) }).pipe(Layer.catchTag("ManagementStartError", orExit)),
  ];
}

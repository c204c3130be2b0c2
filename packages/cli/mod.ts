/**
 * The `serval` command's building blocks: subcommands built with
 * `effect/cli`, and the demo. The executable is `bin/serval.js`.
 *
 * @example
 * ```ts
 * import { foundationDemo } from "@serval/cli";
 * const lines = foundationDemo();
 * ```
 *
 * @module
 */

export { demoCommand } from "./demo_command.ts";
export { foundationDemo } from "./foundation_demo.ts";
export { describeServiceText, idCommand } from "./id_command.ts";
export { adhocCommand, fail, hostCommand, PresetExit, presetFlags, reportPrinter, routerCommand, runPreset } from "./preset_command.ts";
export type { FormatOptions, PresetFlags, PresetRole } from "./preset_command.ts";
export { presetLayers } from "./preset_layers.ts";

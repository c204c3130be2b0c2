/**
 * The `serval` command's building blocks: subcommands built with
 * `effect/cli`, and the demo. The executable is `bin/serval.js`.
 *
 * @example
 * ```ts
 * import { locatorLabel } from "@serval/cli";
 * locatorLabel({ address: new Uint8Array([198, 18, 0, 1]), port: 0 }); // "198.18.0.1"
 * ```
 *
 * @module
 */

export { connectCommand, listenCommand, runConnect, runListen } from "./app_command.ts";
export type { AppCommandOptions, AppStdio } from "./app_command.ts";
export { demoCommand } from "./demo_command.ts";
export { netnsDemoWorld, netnsUnavailable } from "./demo_netns.ts";
export { DemoAborted, runDemoScenario } from "./demo_scenario.ts";
export type { DemoResult, DemoScenarioOptions } from "./demo_scenario.ts";
export { udpDemoWorld } from "./demo_udp.ts";
export { DEMO_SERVICE, DEMO_WEIGHTS, locatorLabel, within } from "./demo_world.ts";
export type { DemoReplica, DemoWorld } from "./demo_world.ts";
export { describeServiceText, idCommand } from "./id_command.ts";
export { adhocCommand, fail, hostCommand, PresetExit, presetFlags, reportPrinter, routerCommand, runPreset } from "./preset_command.ts";
export type { FormatOptions, PresetFlags, PresetRole } from "./preset_command.ts";
export { presetLayers } from "./preset_layers.ts";
export { callDaemon, humanBytes, isTerminal, jsonFlag, managementPath, paint, progress, runDirFlag, shortPlugin, shortPrefix, table, withDaemon } from "./manage_common.ts";
export { parseServiceWords, serviceCommand, serviceLines } from "./service_command.ts";
export { flowCommand, flowLines } from "./flow_command.ts";
export { statsCommand, statsLines } from "./stats_command.ts";
export { migrateCommand } from "./migrate_command.ts";
export { leaseCommand, leaseLines, routerLines, withRouterLs } from "./router_command.ts";
export { translateCommand } from "./translate_command.ts";

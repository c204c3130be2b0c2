/**
 * `@serval/plugin-round-robin`: a smooth weighted round-robin action plugin
 * for the Serval service table (deterministic, interleaved).
 *
 * Pure: performs no I/O, reads no clock, draws no randomness.
 *
 * @example Weights 2:1 over three resolutions
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * import { ServiceTable, SeededRandom } from "@serval/sal";
 * import { roundRobin } from "@serval/plugin-round-robin";
 *
 * const table = new ServiceTable({ random: new SeededRandom(1), plugins: [roundRobin()] });
 * const p = ServicePrefix.parse("web.example/16");
 * table.addTarget(p, { type: "demux", listener: 1, weight: 2, plugin: "@serval/plugin-round-robin" });
 * table.addTarget(p, { type: "demux", listener: 2, weight: 1, plugin: "@serval/plugin-round-robin" });
 * const key = ServiceId.parse("web.example").bytes;
 * const picks = [0, 1, 2].map(() => {
 *   const v = table.resolve(0, key, 0, { flowKey: 0, packetLen: 1 }, "any");
 *   return v.kind === "demux" ? v.target.listener : -1;
 * });
 * assertEquals(picks, [1, 2, 1]);
 * ```
 *
 * @module
 */

export * from "./round_robin.ts";

/**
 * `@serval/plugin-consistent-hash`: a Maglev consistent-hashing action plugin
 * for the Serval service table. Flows (by `flowKey`) stick to targets, and
 * adding or removing one of N targets remaps about 1/N of them.
 *
 * Pure: performs no I/O, reads no clock, draws no randomness.
 *
 * @example Register and use it for a set
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * import { ServiceTable, SeededRandom } from "@serval/sal";
 * import { consistentHash } from "@serval/plugin-consistent-hash";
 *
 * const table = new ServiceTable({ random: new SeededRandom(1), plugins: [consistentHash()] });
 * const p = ServicePrefix.parse("web.example/16");
 * for (const listener of [1, 2, 3]) {
 *   table.addTarget(p, { type: "demux", listener, plugin: "@serval/plugin-consistent-hash" });
 * }
 * const key = ServiceId.parse("web.example").bytes;
 * const a = table.resolve(0, key, 0, { flowKey: 12345, packetLen: 60 }, "local");
 * const b = table.resolve(1, key, 0, { flowKey: 12345, packetLen: 60 }, "local");
 * assertEquals(a, b);
 * ```
 *
 * @module
 */

export * from "./consistent_hash.ts";

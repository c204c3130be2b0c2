/**
 * The Serval Service Access Layer: the flow table (random, quarantined
 * flowIDs), the service table with action plugins and the SAL state machine.
 *
 * Pure: performs no I/O, reads no clock, starts no timer and draws no
 * randomness of its own: time is an argument (`now`, monotonic
 * microseconds) and randomness comes from an injected {@linkcode RandomSource}.
 *
 * @example Allocate a flowID with a seeded source
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FlowTable, SeededRandom } from "@serval/sal";
 *
 * const flows = new FlowTable<string>({ random: new SeededRandom(7) });
 * const id = flows.allocate(0, "flow");
 * assertEquals(flows.get(id), "flow");
 * flows.release(id, 0);
 * assertEquals(flows.size, 0);
 * ```
 *
 * @module
 */

export * from "./random_source.ts";
export * from "./flow_table.ts";
export * from "./action_plugin.ts";
export * from "./service_table.ts";
export * from "./plugins/forward.ts";
export * from "./plugins/demux.ts";
export * from "./plugins/delay.ts";
export * from "./plugins/drop.ts";
export * from "./rto_estimator.ts";
export * from "./sal_flow.ts";
export * from "./flow_transport.ts";
export * from "./echo_transport.ts";
export * from "./sal_host.ts";

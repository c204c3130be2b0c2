/**
 * The deterministic network simulator for Serval scenarios: {@linkcode SimNet}
 * (virtual clock, seeded PRNG, event heap), {@linkcode SimSegment} (latency,
 * bandwidth, MTU, loss, duplication, reordering, corruption, partitions), the
 * {@linkcode SimNode} contract and the {@linkcode expectIdle} leak check.
 *
 * Test infrastructure: deterministic like the pure packages (virtual time
 * only, randomness only from `SeededRandom`).
 *
 * @module
 */

export { SimNet, type SimNetOptions } from "./sim_net.ts";
export type { SimAddress, SimNode, SimTransmit } from "./sim_node.ts";
export {
  DEFAULT_LINK_PARAMS,
  type LinkDirection,
  type LinkParams,
  type SegmentMember,
  type SegmentStats,
  type SimDropReason,
  SimSegment,
} from "./sim_segment.ts";
export { expectIdle } from "./testing.ts";

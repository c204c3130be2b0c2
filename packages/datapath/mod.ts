/**
 * The Serval datapath contract: {@linkcode PacketBatch} (packets and their
 * locators in typed arrays), the {@linkcode Datapath} interface that the
 * packet, UDP and in-memory datapaths implement, and their events and stats.
 *
 * Pure: performs no I/O.
 *
 * @example A batch carries SAL packets with their locators
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BATCH_BROADCAST, PacketBatch } from "@serval/datapath";
 * const b = new PacketBatch(64);
 * b.push(new Uint8Array(40), 0, 40, undefined, { address: new Uint8Array(4).fill(255), port: 54325 }, 2, BATCH_BROADCAST);
 * assertEquals(b.count, 1);
 * assertEquals(b.flags[0]! & BATCH_BROADCAST, BATCH_BROADCAST);
 * ```
 *
 * @module
 */

export { ADDR_SLOT, BATCH_BROADCAST, PacketBatch } from "./packet_batch.ts";
export { Wakeup } from "./wakeup.ts";
export type { Datapath, DatapathEvent, DatapathKind, DatapathStats, LocalAddress } from "./datapath.ts";
export { MemoryDatapath, MemoryNetwork } from "./memory_datapath.ts";
export type { MemoryAttachOptions } from "./memory_datapath.ts";

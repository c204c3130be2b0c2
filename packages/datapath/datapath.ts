/**
 * The one contract every datapath implements: the packet datapath (AF_PACKET
 * through bun:ffi), the UDP datapath (SAL inside UDP) and the in-memory
 * datapath of tests and the simulator. A driver runs the pure stack against it
 * batch by batch:
 *
 * ```text
 * loop: await dp.wait()            // idle until packets, events or close
 *       dp.receive(rx)             // fill a PacketBatch, no per-packet allocation
 *       host.handlePacket(...)     // pure stack, synchronous
 *       dp.send(tx)                // framing, next hop and transmit
 *       dp.pollEvent()             // interface/address changes → migration
 * ```
 *
 * `send` and `receive` never throw on bad packets or unreachable destinations:
 * they drop and count with a reason in `stats().drops`.
 *
 * @module
 */

import type { PacketBatch } from "./packet_batch.ts";

/** Which implementation this is. */
export type DatapathKind = "packet" | "udp" | "memory";

/** An address of ours on one interface. */
export interface LocalAddress {
  /** Interface index. */
  readonly ifindex: number;
  /** Interface name (`eth0`, `veth-a`, …). */
  readonly ifname: string;
  /** 4 or 16 bytes. */
  readonly address: Uint8Array;
  /** Prefix length of the subnet. */
  readonly prefixLen: number;
  /** UDP port (0 on the packet datapath). */
  readonly port: number;
}

/** A change the stack must know about (migration needs them). */
export type DatapathEvent =
  | { readonly type: "address-added"; readonly address: LocalAddress }
  | { readonly type: "address-removed"; readonly address: LocalAddress }
  | { readonly type: "link-up"; readonly ifindex: number; readonly ifname: string }
  | { readonly type: "link-down"; readonly ifindex: number; readonly ifname: string };

/** Counters of a datapath. */
export interface DatapathStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
  /** Dropped packets by reason (`no-route`, `no-neighbour`, `bad-ip-header`, `ring-full`, …). */
  readonly drops: ReadonlyMap<string, number>;
}

/**
 * A datapath: moves SAL packets between the stack and the network.
 *
 * Lifetime: created open by its factory; {@linkcode Datapath.close} releases
 * every socket, ring, Worker and timer it holds and resolves a pending
 * {@linkcode Datapath.wait}.
 */
export interface Datapath {
  /** Implementation. */
  readonly kind: DatapathKind;
  /** Our usable addresses now (updated as events arrive). */
  localAddresses(): readonly LocalAddress[];
  /**
   * Moves received packets into `batch` (after `batch.count`, up to its
   * capacity) with their source and destination locators, interface and
   * broadcast flag. Never blocks.
   *
   * @returns Packets added.
   */
  receive(batch: PacketBatch): number;
  /**
   * Sends packets `0..batch.count` of `batch`. A packet whose `flags` has
   * BATCH_BROADCAST goes to the link broadcast of `ifindex` (or of every
   * interface when 0). The batch may be reused when this returns.
   *
   * @returns Packets handed to the network (the rest were dropped and counted).
   */
  send(batch: PacketBatch): number;
  /** Next pending interface/address event. */
  pollEvent(): DatapathEvent | undefined;
  /**
   * Resolves when packets or events may be waiting, or the datapath closed.
   * May resolve spuriously; `receive` then returns 0.
   */
  wait(): Promise<void>;
  /** Counters. */
  stats(): DatapathStats;
  /** Releases everything; idempotent. */
  close(): Promise<void>;
}

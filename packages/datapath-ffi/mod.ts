/**
 * The Serval packet datapath: SAL packets as Ethernet + IPv4 (protocol 144)
 * or IPv6 (next header 144) frames through AF_PACKET sockets with TPACKET_V3
 * (or, for the lowest latency, TPACKET_V2) RX rings and batched `sendmmsg` transmit, via bun:ffi. Next hops and MACs
 * come from the kernel's routing and neighbour tables (rtnetlink), so kernel
 * IP routers forward our packets; raw protocol-144 sockets that accept nothing
 * keep the kernel from answering with ICMP protocol-unreachable. A Worker
 * blocks in poll(2) and wakes {@linkcode PacketDatapath.wait}.
 *
 * Bun only, and root only (CAP_NET_RAW + CAP_NET_ADMIN). The frame, netlink,
 * BPF and ring helpers are pure and exported for tests and tools.
 *
 * @example Send a packet from one namespace to another (root only)
 * ```ts ignore
 * import { openPacketDatapath } from "@serval/datapath-ffi";
 * import { PacketBatch } from "@serval/datapath";
 * const a = await openPacketDatapath({ netns: "ns-a" });
 * const b = await openPacketDatapath({ netns: "ns-b" });
 * const tx = new PacketBatch(1);
 * tx.push(new Uint8Array(12), 0, 12, undefined, { address: new Uint8Array([198, 18, 0, 2]), port: 0 });
 * a.send(tx);
 * const rx = new PacketBatch(64);
 * while (b.receive(rx) === 0) await b.wait();
 * await a.close();
 * await b.close();
 * ```
 *
 * @module
 */

export { dropAllFilter, runBpf, servalFrameFilter } from "./bpf.ts";
export { errnoName } from "./errno.ts";
export {
  classifyFrame,
  DEFAULT_TTL,
  ETH_LEN,
  forwardIpv4Frame,
  IPV4_FRAME_HEADER_LEN,
  IPV6_FRAME_HEADER_LEN,
  RxFrame,
  writeIpv4Frame,
  writeIpv6Frame,
} from "./frame.ts";
export type { FrameVerdict } from "./frame.ts";
export { inNetns } from "./in_netns.ts";
export {
  ipv4Broadcast,
  ipv4Key,
  LocalAddressTable,
  MATCH_BROADCAST,
  MATCH_NONE,
  MATCH_UNICAST,
} from "./local_address_table.ts";
export {
  decodeAddr,
  decodeError,
  decodeLink,
  decodeNeigh,
  decodeRoute,
  encodeDump,
  encodeGetNeigh,
  encodeGetRoute,
  encodeManagedNeigh,
  RTM_GETADDR,
  RTM_GETLINK,
  splitMessages,
} from "./netlink.ts";
export type { AddrInfo, LinkInfo, NeighInfo, NlMessage, RouteInfo } from "./netlink.ts";
export {
  NEIGHBOUR_QUEUE_MAX,
  Neighbour,
  NextHopCache,
  Route,
  ROUTE_LOCAL,
  ROUTE_NONE,
  ROUTE_NOT_ATTACHED,
  ROUTE_OK,
} from "./next_hop_cache.ts";
export type { KernelTables, QueuedPacket } from "./next_hop_cache.ts";
export { openPacketDatapath, PacketDatapath } from "./packet_datapath.ts";
export type { PacketDatapathOptions } from "./packet_datapath.ts";
export { PacketDatapathError } from "./packet_datapath_error.ts";
export { RxRing, TP_STATUS_USER, writeSyntheticBlock } from "./rx_ring.ts";
export type { RxRingReader } from "./rx_ring.ts";
export { RxRingV2, V2_RELEASE_BATCH, writeSyntheticFrameV2 } from "./rx_ring_v2.ts";

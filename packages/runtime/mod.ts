/**
 * The impure side of Serval: the UDP datapath, {@linkcode ServalNode} (the
 * driver that runs the pure stack over a datapath batch by batch), the
 * application API ({@linkcode ServalApi}: streams and datagrams by service),
 * node configuration validated with Schema, and the Effect layers the
 * `serval host|router|adhoc` presets are made of.
 *
 * Uses `node:*` and, on Bun, `Bun.udpSocket`: not for the pure packages.
 *
 * @example Send one SAL packet between two loopback UDP datapaths
 * ```ts
 * import { PacketBatch } from "@serval/datapath";
 * import { openUdpDatapath } from "@serval/runtime";
 * const a = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const b = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
 * const tx = new PacketBatch(1);
 * tx.push(new Uint8Array(12), 0, 12, undefined, { address: new Uint8Array([127, 0, 0, 1]), port: b.port });
 * a.send(tx); // => 1
 * await b.wait();
 * b.receive(new PacketBatch(8)); // => 1
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */

export { CryptoRandom } from "./crypto_random.ts";
export { describeSchemaIssue, showValue } from "./describe_schema_issue.ts";
export { DatagramSocket, describeCloseReason, ServalApi, ServiceListener } from "./serval_api.ts";
export type { ConnectionOptions, Datagram, ServiceLike } from "./serval_api.ts";
export { ConnectError, connectScoped, datagramScoped, listenScoped } from "./scoped_api.ts";
export { ServalNode } from "./serval_node.ts";
export { NodeAddresses } from "./node_addresses.ts";
export { checkRunDir, ensureRunDir, RunDirError } from "./run_dir.ts";
export type { AddressChange } from "./node_addresses.ts";
export { MultiDatapath } from "./multi_datapath.ts";
export { StreamConnection } from "./stream_connection.ts";
export { warmUp } from "./warm_up.ts";
export type { WarmUpOptions, WarmUpResult } from "./warm_up.ts";
export type { NodeStats, ServalNodeOptions } from "./serval_node.ts";
export { openUdpDatapath, UDP_MAX_PAYLOAD, UdpDatapath } from "./udp_datapath.ts";
export type { UdpDatapathOptions } from "./udp_datapath.ts";
export type { UdpBackend } from "./_udp_socket.ts";
export { ConfigError, DatapathError, DEFAULT_PORT, defaultRunDir, loadConfig, NodeConfig, openDatapath, parseConfig, parseRouter, serveEcho, toNodeOptions } from "./config.ts";
export type { NodeConfigInput, NodeOptionsExtras } from "./config.ts";
export { DatapathLive, NodeLive, nodeLayer, NodeReporter, RunningNode, runNode, ServalConfig, ServalDatapath } from "./layers.ts";
export type { NodeExtraLayer, NodeReport } from "./layers.ts";

/**
 * Serval TCP and datagrams over SAL flows: the pieces of the stream
 * transport (congestion control, the SACK scoreboard, send and receive
 * buffers). Pure: performs no I/O, reads no clock, starts no timer; time is
 * an argument in microseconds.
 *
 * @example Sequence numbers compare wrap-safe
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { seqLt } from "@serval/wire";
 * assertEquals(seqLt(0xffffff00, 5), true);
 * ```
 *
 * @module
 */

export * from "./congestion_control.ts";
export * from "./new_reno.ts";
export * from "./cubic.ts";
export { SendBuffer } from "./send_buffer.ts";
export { ReceiveBuffer, type ReceiveResult } from "./receive_buffer.ts";
export { type NextSegKind, SackScoreboard, type SackScoreboardOptions } from "./sack_scoreboard.ts";
export {
  type DatagramCounters,
  type DatagramDropReason,
  DatagramTransport,
  type DatagramTransportOptions,
} from "./datagram_transport.ts";
export * from "./stream_transport.ts";

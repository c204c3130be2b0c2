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


/**
 * The trivial transport that proves the {@linkcode FlowTransport} contract:
 * datagrams in the UDP layout after the SAL header (ports 0, facts §2.5),
 * no reliability. A server end sends back every payload it receives; a
 * client end sends what it is given and collects what comes back.
 *
 * @module
 */

import { readU16, SAL_PROTO_UDP, UDP_HEADER_LEN, writeU16 } from "@serval/wire";
import type { FlowTransport, HandshakeKind } from "./flow_transport.ts";

/**
 * An echo transport end.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const server = new EchoTransport("server");
 * const seg = new Uint8Array([0, 0, 0, 0, 0, 11, 0, 0, 1, 2, 3]);
 * server.handleSegment(0, seg, 0, seg.length);
 * const out = new Uint8Array(64);
 * assertEquals(server.pollSegment(0, out, 0, 64), 11);
 * assertEquals([...out.subarray(8, 11)], [1, 2, 3]);
 * ```
 */
export class EchoTransport implements FlowTransport {
  /** Datagrams, UDP layout. */
  readonly protocol = SAL_PROTO_UDP;
  /** Payloads waiting to be sent. */
  readonly #queue: Uint8Array[] = [];
  /** Bytes received (client) or echoed (server), for tests. */
  readonly received: Uint8Array[] = [];
  /** What happened to this end, in order, for tests. */
  readonly log: string[] = [];
  #frozen = false;

  /**
   * @param role `server` echoes; `client` sends and collects.
   */
  constructor(readonly role: "client" | "server") {}

  /** Queues a payload to send (client). */
  write(data: Uint8Array): void {
    this.#queue.push(data.slice());
  }

  /** The received payloads joined. */
  receivedBytes(): Uint8Array {
    const n = this.received.reduce((s, b) => s + b.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const b of this.received) {
      out.set(b, o);
      o += b.length;
    }
    return out;
  }

  writeHandshake(_now: number, kind: HandshakeKind, buf: Uint8Array, off: number, max: number): number {
    if (max < UDP_HEADER_LEN) return 0;
    // An empty UDP header rides in each handshake packet (facts §2.4).
    buf.fill(0, off, off + UDP_HEADER_LEN);
    writeU16(buf, off + 4, UDP_HEADER_LEN);
    this.log.push(`tx-${kind}`);
    return UDP_HEADER_LEN;
  }

  handleHandshake(_now: number, kind: HandshakeKind, _buf: Uint8Array, _off: number, _len: number): void {
    this.log.push(`rx-${kind}`);
  }

  connected(_now: number): void {
    this.log.push("connected");
  }

  handleSegment(_now: number, buf: Uint8Array, off: number, len: number): void {
    if (len < UDP_HEADER_LEN || readU16(buf, off + 4) !== len) return;
    const payload = buf.slice(off + UDP_HEADER_LEN, off + len);
    if (payload.length === 0) return; // an empty datagram that is not a FIN is dropped (facts §2.5)
    this.received.push(payload);
    if (this.role === "server") this.#queue.push(payload);
  }

  pollSegment(_now: number, buf: Uint8Array, off: number, max: number): number {
    if (this.#frozen) return 0;
    const p = this.#queue[0];
    if (!p || max <= UDP_HEADER_LEN) return 0;
    const take = Math.min(p.length, max - UDP_HEADER_LEN);
    buf.fill(0, off, off + UDP_HEADER_LEN);
    writeU16(buf, off + 4, UDP_HEADER_LEN + take);
    buf.set(p.subarray(0, take), off + UDP_HEADER_LEN);
    if (take === p.length) this.#queue.shift();
    else this.#queue[0] = p.subarray(take);
    return UDP_HEADER_LEN + take;
  }

  freeze(_now: number): void {
    this.#frozen = true;
    this.log.push("freeze");
  }

  resume(_now: number): void {
    this.#frozen = false;
    this.log.push("resume");
  }

  peerClosed(_now: number): void {
    this.log.push("peer-closed");
  }

  shutdown(_now: number): void {
    this.log.push("shutdown");
  }

  get finished(): boolean {
    return this.#queue.length === 0;
  }

  closed(_now: number, reason: string): void {
    this.#queue.length = 0;
    this.log.push(`closed:${reason}`);
  }

  pollTimeout(): number | undefined {
    return undefined;
  }

  handleTimeout(_now: number): void {}
}

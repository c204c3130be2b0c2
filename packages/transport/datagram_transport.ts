/**
 * Connected datagrams over a SAL flow (Serval UDP, facts §2.5, §3.9): after
 * the SAL three-way handshake (each handshake packet carries an empty 8-byte
 * UDP header), every data packet is the base SAL header followed by a UDP
 * header with both ports 0, the length, and a checksum over the IP
 * pseudo-header with protocol 17 (filled and verified by the host, since it
 * covers addresses that change on migration), then the payload. No
 * reliability, no ordering: one `send` is one packet.
 *
 * Memory is bounded at both ends: the send queue (backpressure: `send`
 * refuses what does not fit) and the receive queue (overflow drops the
 * newest datagram and counts it).
 *
 * Pure: performs no I/O, reads no clock, starts no timer.
 *
 * @module
 */

import { readU16, SAL_HEADER_LEN, SAL_PROTO_UDP, UDP_HEADER_LEN, writeU16 } from "@serval/wire";
import type { FlowTransport, HandshakeKind } from "@serval/sal";

/**
 * Why a {@linkcode DatagramTransport} dropped (or refused) a datagram.
 *
 * - `too-big`: `send` of more than `maxPayload` bytes, or a queued datagram
 *   that does not fit the segment room the host offers (a host MTU smaller
 *   than the transport's);
 * - `queue-full`: `send` refused for lack of room in the send queue, or a
 *   received datagram dropped for lack of room in the receive queue;
 * - `bad-length`: a received segment shorter than the UDP header, or whose
 *   length field is not the segment length;
 * - `empty`: a received zero-length datagram (not a FIN, facts §2.5), or a
 *   `send` of zero bytes;
 * - `after-eof`: a datagram received after the peer's FIN (EOF stays EOF).
 *
 * @example Every reason has a counter
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const t = new DatagramTransport();
 * const reasons: DatagramDropReason[] = ["too-big", "queue-full", "bad-length", "empty", "after-eof"];
 * assertEquals(reasons.map((r) => t.counters.dropped[r]), [0, 0, 0, 0, 0]);
 * ```
 */
export type DatagramDropReason = "too-big" | "queue-full" | "bad-length" | "empty" | "after-eof";

/**
 * Counters of a {@linkcode DatagramTransport} (a snapshot).
 *
 * @example A fresh transport
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const c: DatagramCounters = new DatagramTransport().counters;
 * assertEquals([c.sent, c.received], [0, 0]);
 * ```
 */
export interface DatagramCounters {
  /** Datagrams handed to the SAL (written by `pollSegment`). */
  readonly sent: number;
  /** Datagrams accepted into the receive queue. */
  readonly received: number;
  /** Datagrams dropped or refused, by reason. */
  readonly dropped: Readonly<Record<DatagramDropReason, number>>;
}

/**
 * Options of a {@linkcode DatagramTransport}.
 *
 * @example Small queues
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const opts: DatagramTransportOptions = { sendQueueCount: 2, receiveQueueBytes: 4096 };
 * assertEquals(new DatagramTransport(opts).maxPayload, 1460);
 * ```
 */
export interface DatagramTransportOptions {
  /**
   * Largest SAL packet (SAL header + UDP header + payload), as the host's
   * `mtu` option: default 1480 (1500 minus 20 bytes of IPv4). 21..65535.
   */
  readonly mtu?: number;
  /** Datagrams the send queue holds at most (default 64, at least 1). */
  readonly sendQueueCount?: number;
  /** Payload bytes the send queue holds at most (default 65536, at least 1). */
  readonly sendQueueBytes?: number;
  /** Datagrams the receive queue holds at most (default 64, at least 1). */
  readonly receiveQueueCount?: number;
  /** Payload bytes the receive queue holds at most (default 65536, at least 1). */
  readonly receiveQueueBytes?: number;
}

const DEFAULT_MTU = 1480;
const DEFAULT_COUNT = 64;
const DEFAULT_BYTES = 65536;

/** A bounded FIFO of payloads, counting datagrams and bytes. */
class Fifo {
  #items: Uint8Array[] = [];
  #head = 0;
  bytes = 0;

  constructor(readonly maxCount: number, readonly maxBytes: number) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Whether `n` more bytes fit; an empty queue takes any one datagram (no livelock). */
  fits(n: number): boolean {
    const len = this.length;
    return len === 0 || (len < this.maxCount && this.bytes + n <= this.maxBytes);
  }

  push(p: Uint8Array): void {
    this.#items.push(p);
    this.bytes += p.length;
  }

  peek(): Uint8Array | undefined {
    return this.#items[this.#head];
  }

  shift(): Uint8Array | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const p = this.#items[this.#head]!;
    this.#items[this.#head++] = EMPTY;
    this.bytes -= p.length;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 32 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return p;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.bytes = 0;
  }
}

const EMPTY = new Uint8Array(0);

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Cannot create DatagramTransport: ${name} must be an integer in ${min}..${max}, got ${v}`);
  }
  return v;
}

/**
 * One end of a connected datagram flow: give it to `SalHost.connect` (client)
 * or return it from a listener's transport factory (server).
 *
 * **Sending** ({@linkcode DatagramTransport.send}): the payload is copied into
 * the bounded send queue and goes out when the host next drains the flow
 * (`SalHost.flush`). The rule:
 * - a payload of 0 or more than {@linkcode DatagramTransport.maxPayload}
 *   bytes can never be sent: counted (`empty`, `too-big`) and a
 *   `RangeError` is thrown (a caller bug; retrying cannot help);
 * - otherwise `false` when it cannot be queued now: the queue is full
 *   (count or bytes; counted `queue-full`, retry once the queue drains:
 *   backpressure), or the end is shut down or closed (not counted);
 * - otherwise `true`.
 * An empty queue always takes one datagram, so a byte bound below
 * `maxPayload` limits but never blocks.
 *
 * **Receiving** ({@linkcode DatagramTransport.receive}): the oldest datagram,
 * or `undefined`; {@linkcode DatagramTransport.eof} tells when none will
 * follow (the peer's SAL FIN arrived and the queue is empty).
 *
 * **Migration**: while frozen nothing is sent; the queue is kept and goes
 * out on resume. **Close**: `shutdown` stops `send`; the end is
 * {@linkcode DatagramTransport.finished} (the SAL FIN may go) once the send
 * queue is empty; `closed` releases both queues.
 *
 * **Allocation**: one copy of each payload (on `send`, on receipt).
 *
 * @example Two ends back to back, without a host
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const a = new DatagramTransport(), b = new DatagramTransport();
 * assertEquals(a.send(new Uint8Array([1, 2, 3])), true);
 * const seg = new Uint8Array(1468);
 * const n = a.pollSegment(0, seg, 0, seg.length);
 * assertEquals(n, 11);
 * b.handleSegment(0, seg, 0, n);
 * assertEquals([...b.receive()!], [1, 2, 3]);
 * assertEquals(b.receive(), undefined);
 * b.peerClosed(0);
 * assertEquals(b.eof, true);
 * ```
 */
export class DatagramTransport implements FlowTransport {
  /** Datagrams, UDP layout (SAL protocol 17). */
  readonly protocol: number = SAL_PROTO_UDP;
  /** Largest payload of one datagram: `mtu` − SAL header (12) − UDP header (8). */
  readonly maxPayload: number;
  readonly #tx: Fifo;
  readonly #rx: Fifo;
  #sent = 0;
  #received = 0;
  readonly #dropped: Record<DatagramDropReason, number> = {
    "too-big": 0,
    "queue-full": 0,
    "bad-length": 0,
    empty: 0,
    "after-eof": 0,
  };
  #frozen = false;
  #peerClosed = false;
  #shutdown = false;
  #closeReason: string | undefined = undefined;

  /**
   * @param opts MTU and queue bounds.
   * @throws {RangeError} When an option is not an integer in its range.
   *
   * @example A 576-byte MTU
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new DatagramTransport({ mtu: 576 }).maxPayload, 556);
   * ```
   */
  constructor(opts: DatagramTransportOptions = {}) {
    const mtu = checkInt("mtu", opts.mtu ?? DEFAULT_MTU, SAL_HEADER_LEN + UDP_HEADER_LEN + 1, 0xffff);
    // mtu <= 65535, so the UDP length field (16 bits) always holds 8 + maxPayload.
    this.maxPayload = mtu - SAL_HEADER_LEN - UDP_HEADER_LEN;
    const big = 0x7fffffff;
    this.#tx = new Fifo(
      checkInt("sendQueueCount", opts.sendQueueCount ?? DEFAULT_COUNT, 1, big),
      checkInt("sendQueueBytes", opts.sendQueueBytes ?? DEFAULT_BYTES, 1, big),
    );
    this.#rx = new Fifo(
      checkInt("receiveQueueCount", opts.receiveQueueCount ?? DEFAULT_COUNT, 1, big),
      checkInt("receiveQueueBytes", opts.receiveQueueBytes ?? DEFAULT_BYTES, 1, big),
    );
  }

  // --- application -----------------------------------------------------------

  /**
   * Queues one datagram (copied). See the class documentation for the rule.
   *
   * @param payload 1..{@linkcode DatagramTransport.maxPayload} bytes.
   * @returns `true` when queued; `false` when the send queue is full or the
   *   end is shut down or closed.
   * @throws {RangeError} When the payload is empty or larger than `maxPayload`.
   *
   * @example Backpressure
   * ```ts
   * import { assertEquals, assertThrows } from "@std/assert";
   * const t = new DatagramTransport({ sendQueueCount: 1 });
   * assertEquals(t.send(new Uint8Array([1])), true);
   * assertEquals(t.send(new Uint8Array([2])), false);
   * assertEquals(t.counters.dropped["queue-full"], 1);
   * assertThrows(() => t.send(new Uint8Array(t.maxPayload + 1)), RangeError);
   * ```
   */
  send(payload: Uint8Array): boolean {
    if (payload.length === 0) {
      this.#dropped.empty++;
      throw new RangeError("Cannot send datagram: it is empty (the peer drops empty datagrams)");
    }
    if (payload.length > this.maxPayload) {
      this.#dropped["too-big"]++;
      throw new RangeError(`Cannot send datagram: ${payload.length} bytes, at most ${this.maxPayload} fit in one packet`);
    }
    if (this.#shutdown || this.#closeReason !== undefined) return false;
    if (!this.#tx.fits(payload.length)) {
      this.#dropped["queue-full"]++;
      return false;
    }
    this.#tx.push(payload.slice());
    return true;
  }

  /**
   * Whether {@linkcode DatagramTransport.send} would take `n` bytes now.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const t = new DatagramTransport({ sendQueueBytes: 10 });
   * t.send(new Uint8Array(6));
   * assertEquals([t.canSend(4), t.canSend(5)], [true, false]);
   * ```
   */
  canSend(n: number): boolean {
    return n >= 1 && n <= this.maxPayload && !this.#shutdown && this.#closeReason === undefined && this.#tx.fits(n);
  }

  /**
   * Takes the oldest received datagram.
   *
   * @returns Its payload (owned by the caller), or `undefined` when none waits.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const t = new DatagramTransport();
   * t.handleSegment(0, new Uint8Array([0, 0, 0, 0, 0, 9, 0, 0, 42]), 0, 9);
   * assertEquals([...t.receive()!], [42]);
   * assertEquals(t.receive(), undefined);
   * ```
   */
  receive(): Uint8Array | undefined {
    return this.#rx.shift();
  }

  /**
   * No datagram will be received any more: the peer closed and the receive
   * queue is empty (or the flow is closed).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const t = new DatagramTransport();
   * assertEquals(t.eof, false);
   * t.peerClosed(0);
   * assertEquals(t.eof, true);
   * ```
   */
  get eof(): boolean {
    return (this.#peerClosed || this.#closeReason !== undefined) && this.#rx.length === 0;
  }

  /**
   * Datagrams waiting in the send queue.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const t = new DatagramTransport();
   * t.send(new Uint8Array(3));
   * assertEquals([t.sendQueued, t.sendQueuedBytes], [1, 3]);
   * ```
   */
  get sendQueued(): number {
    return this.#tx.length;
  }

  /** Payload bytes waiting in the send queue. */
  get sendQueuedBytes(): number {
    return this.#tx.bytes;
  }

  /**
   * Datagrams waiting in the receive queue.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const t = new DatagramTransport();
   * t.handleSegment(0, new Uint8Array([0, 0, 0, 0, 0, 10, 0, 0, 1, 2]), 0, 10);
   * assertEquals([t.receiveQueued, t.receiveQueuedBytes], [1, 2]);
   * ```
   */
  get receiveQueued(): number {
    return this.#rx.length;
  }

  /** Payload bytes waiting in the receive queue. */
  get receiveQueuedBytes(): number {
    return this.#rx.bytes;
  }

  /**
   * A snapshot of the counters.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const t = new DatagramTransport();
   * t.handleSegment(0, new Uint8Array([0, 0, 0, 0, 0, 8, 0, 0]), 0, 8);
   * assertEquals(t.counters.dropped.empty, 1);
   * ```
   */
  get counters(): DatagramCounters {
    return { sent: this.#sent, received: this.#received, dropped: { ...this.#dropped } };
  }

  /** Sending is suspended by a migration. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Why the flow ended, once it has (`closed` was called), else `undefined`. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  // --- FlowTransport -----------------------------------------------------------

  /** Writes the empty UDP header that rides in each handshake packet (facts §2.4). */
  writeHandshake(_now: number, _kind: HandshakeKind, buf: Uint8Array, off: number, max: number): number {
    if (max < UDP_HEADER_LEN) return 0;
    buf.fill(0, off, off + UDP_HEADER_LEN);
    writeU16(buf, off + 4, UDP_HEADER_LEN);
    return UDP_HEADER_LEN;
  }

  /** The handshake's UDP header carries nothing. */
  handleHandshake(_now: number, _kind: HandshakeKind, _buf: Uint8Array, _off: number, _len: number): void {}

  /** Nothing to do: queued datagrams go out at the host's next drain. */
  connected(_now: number): void {}

  /** Takes one received datagram (checksum already verified by the host). */
  handleSegment(_now: number, buf: Uint8Array, off: number, len: number): void {
    if (this.#closeReason !== undefined) return;
    if (len < UDP_HEADER_LEN || readU16(buf, off + 4) !== len) {
      this.#dropped["bad-length"]++;
      return;
    }
    const n = len - UDP_HEADER_LEN;
    if (n === 0) {
      this.#dropped.empty++; // facts §2.5
      return;
    }
    if (this.#peerClosed) {
      this.#dropped["after-eof"]++;
      return;
    }
    if (!this.#rx.fits(n)) {
      this.#dropped["queue-full"]++; // drop the newest
      return;
    }
    this.#rx.push(buf.slice(off + UDP_HEADER_LEN, off + len));
    this.#received++;
  }

  /** Writes the next queued datagram (UDP header, ports 0, checksum 0 for the host to fill). */
  pollSegment(_now: number, buf: Uint8Array, off: number, max: number): number {
    if (this.#frozen) return 0;
    for (let p = this.#tx.peek(); p; p = this.#tx.peek()) {
      this.#tx.shift();
      if (UDP_HEADER_LEN + p.length > max) {
        this.#dropped["too-big"]++; // the host offers less room than our MTU promised
        continue;
      }
      buf.fill(0, off, off + UDP_HEADER_LEN);
      writeU16(buf, off + 4, UDP_HEADER_LEN + p.length);
      buf.set(p, off + UDP_HEADER_LEN);
      this.#sent++;
      return UDP_HEADER_LEN + p.length;
    }
    return 0;
  }

  /** A migration started: hold the send queue. */
  freeze(_now: number): void {
    this.#frozen = true;
  }

  /** The migration finished: the held queue goes out at the host's next drain. */
  resume(_now: number): void {
    this.#frozen = false;
  }

  /** The peer's SAL FIN: end of file once the receive queue is read. */
  peerClosed(_now: number): void {
    this.#peerClosed = true;
  }

  /** The application closes: no more `send`; queued datagrams still go. */
  shutdown(_now: number): void {
    this.#shutdown = true;
  }

  /** The send queue is empty (so the SAL FIN may go out). */
  get finished(): boolean {
    return this.#tx.length === 0;
  }

  /** The flow ended: both queues are released; `send` returns false from now on. */
  closed(_now: number, reason: string): void {
    this.#closeReason = reason;
    this.#frozen = false;
    this.#tx.clear();
    this.#rx.clear();
  }

  /** No timers: always `undefined`. */
  pollTimeout(): number | undefined {
    return undefined;
  }

  /** No timers. */
  handleTimeout(_now: number): void {}
}

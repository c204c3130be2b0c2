/**
 * The sender's byte store of Serval TCP: a bounded ring holding the
 * unacknowledged and the not-yet-sent bytes of one stream, addressed by
 * 32-bit sequence numbers (wrap-safe, RFC 1982 serial arithmetic).
 *
 * @module
 */

import { seqAdd, seqDiff, seqGt, seqLe } from "@serval/wire";

const EMPTY = new Uint8Array(0);

/** Bytes allocated at first; the ring doubles from there up to the capacity. */
const INITIAL_SIZE = 16 * 1024;

/** The largest capacity: sequence distances must stay below 2^31. */
const MAX_CAPACITY = 0x7fffffff;

/**
 * A bounded byte ring over the sequence range `[sndUna, sndEnd)`:
 * {@link SendBuffer.write} appends at `sndEnd` (accepting only what fits —
 * backpressure), {@link SendBuffer.read} copies any part out for
 * (re)transmission, {@link SendBuffer.acknowledge} frees from `sndUna`.
 *
 * Allocation: one `Uint8Array(capacity)` at construction; none afterwards.
 *
 * @example Write, send, acknowledge
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const sb = new SendBuffer(8, 0xfffffffe);
 * assertEquals(sb.write(new Uint8Array([1, 2, 3, 4, 5])), 5);
 * const seg = new Uint8Array(3);
 * assertEquals(sb.read(0xffffffff, 3, seg, 0), 3);
 * assertEquals([...seg], [2, 3, 4]);
 * assertEquals(sb.acknowledge(1), 3);
 * assertEquals([sb.sndUna, sb.sndEnd, sb.length, sb.free], [1, 3, 2, 6]);
 * ```
 */
export class SendBuffer {
  #buf: Uint8Array; // the ring; grows (doubling) up to the capacity as data comes
  readonly #cap: number;
  readonly #initial: number;
  /** Ring index of the byte at `sndUna`. */
  #head = 0;
  #len = 0;
  #una: number;

  /**
   * Creates an empty buffer.
   *
   * @param capacity Bytes held at most, 1..2^31-1.
   * @param initialSeq Sequence number of the first byte written (u32), e.g. ISS + 1.
   * @param initialSize Bytes allocated at first (default 16 KiB); the ring doubles up to `capacity` as needed.
   * @throws {RangeError} When `capacity` or `initialSeq` is out of range.
   *
   * @example A buffer starting at sequence 100
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SendBuffer(1024, 100);
   * assertEquals([sb.sndUna, sb.sndEnd, sb.capacity], [100, 100, 1024]);
   * ```
   */
  constructor(capacity: number, initialSeq: number, initialSize = INITIAL_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(
        `Cannot create SendBuffer: capacity must be an integer in 1..${MAX_CAPACITY}, got ${capacity}`,
      );
    }
    if (!Number.isInteger(initialSeq) || initialSeq < 0 || initialSeq > 0xffffffff) {
      throw new RangeError(`Cannot create SendBuffer: initialSeq must be a u32, got ${initialSeq}`);
    }
    this.#cap = capacity;
    // Start small: a connection that never sends much never pays for (or
    // zeroes) its whole capacity — thousands of idle flows stay cheap.
    // Nothing until the first write: a flow that never sends pays nothing.
    this.#buf = EMPTY;
    this.#initial = Math.max(1, Math.min(capacity, initialSize));
    this.#una = initialSeq;
  }

  /** Bytes held at most. */
  get capacity(): number {
    return this.#cap;
  }

  /** Sequence number of the oldest unacknowledged byte (SND.UNA). */
  get sndUna(): number {
    return this.#una;
  }

  /** Sequence number after the last byte written. */
  get sndEnd(): number {
    return seqAdd(this.#una, this.#len);
  }

  /** Bytes held: unacknowledged plus unsent. */
  get length(): number {
    return this.#len;
  }

  /** Bytes {@link SendBuffer.write} can still accept. */
  get free(): number {
    return this.#cap - this.#len;
  }

  /**
   * Appends as many bytes of `data[off, off + len)` as fit.
   *
   * Allocation: none.
   *
   * @param data The bytes.
   * @param off First byte to take, default 0.
   * @param len Bytes offered, default the rest of `data`.
   * @returns Bytes accepted, `min(len, free)`; 0 when full (backpressure).
   * @throws {RangeError} When `[off, off + len)` is not inside `data`.
   *
   * @example Backpressure
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SendBuffer(4, 0);
   * assertEquals(sb.write(new Uint8Array(10), 2), 4);
   * assertEquals(sb.write(new Uint8Array(1)), 0);
   * ```
   */
  write(data: Uint8Array, off = 0, len: number = data.length - off): number {
    if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > data.length) {
      throw new RangeError(
        `Cannot write to SendBuffer: range [${off}, ${off + len}) is outside data of length ${data.length}`,
      );
    }
    const n = Math.min(len, this.#cap - this.#len);
    if (this.#len + n > this.#buf.length) this.#grow(this.#len + n);
    const buf = this.#buf, cap = buf.length;
    let w = this.#head + this.#len;
    if (w >= cap) w -= cap;
    const k1 = Math.min(n, cap - w);
    buf.set(data.subarray(off, off + k1), w);
    if (n > k1) buf.set(data.subarray(off + k1, off + n), 0);
    this.#len += n;
    return n;
  }

  /**
   * Copies up to `len` bytes starting at sequence `seq` into `out` for
   * (re)transmission; stops at `sndEnd`.
   *
   * Allocation: none.
   *
   * @param seq Sequence number of the first byte, in `[sndUna, sndEnd]`.
   * @param len Bytes wanted.
   * @param out Destination.
   * @param outOff Offset in `out`.
   * @returns Bytes copied, `min(len, sndEnd - seq)`.
   * @throws {RangeError} When `seq` is outside `[sndUna, sndEnd]` (already acknowledged or never written), or `out` is too short.
   *
   * @example Reading stops at sndEnd
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SendBuffer(16, 10);
   * sb.write(new Uint8Array([7, 8, 9]));
   * const out = new Uint8Array(8);
   * assertEquals(sb.read(11, 8, out, 0), 2);
   * assertEquals([...out.subarray(0, 2)], [8, 9]);
   * ```
   */
  read(seq: number, len: number, out: Uint8Array, outOff: number): number {
    const d = seqDiff(seq, this.#una);
    if (d < 0 || d > this.#len) {
      throw new RangeError(
        `Cannot read SendBuffer at sequence ${seq}: outside [${this.#una}, ${this.sndEnd}]`,
      );
    }
    if (!Number.isInteger(len) || !Number.isInteger(outOff) || len < 0 || outOff < 0) {
      throw new RangeError(
        `Cannot read SendBuffer: len and outOff must be non-negative integers, got ${len} and ${outOff}`,
      );
    }
    const n = Math.min(len, this.#len - d);
    if (outOff + n > out.length) {
      throw new RangeError(`Cannot read SendBuffer: ${n} bytes at offset ${outOff} exceed out of length ${out.length}`);
    }
    const buf = this.#buf, cap = buf.length;
    let r = this.#head + d;
    if (r >= cap) r -= cap;
    const k1 = Math.min(n, cap - r);
    out.set(buf.subarray(r, r + k1), outOff);
    if (n > k1) out.set(buf.subarray(0, n - k1), outOff + k1);
    return n;
  }

  /**
   * Frees the bytes before `ackSeq` (a cumulative ACK). An ACK at or before
   * `sndUna` (old or duplicate) or beyond `sndEnd` (acknowledging bytes never
   * written; RFC 9293 §3.10.7.4 ignores it) changes nothing.
   *
   * Allocation: none.
   *
   * @param ackSeq The acknowledgment number (u32).
   * @returns Bytes freed; 0 when the ACK was ignored.
   *
   * @example Old and too-new ACKs are ignored
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SendBuffer(16, 0);
   * sb.write(new Uint8Array(10));
   * assertEquals(sb.acknowledge(4), 4);
   * assertEquals(sb.acknowledge(2), 0);
   * assertEquals(sb.acknowledge(11), 0);
   * assertEquals(sb.sndUna, 4);
   * ```
   */
  acknowledge(ackSeq: number): number {
    if (seqLe(ackSeq, this.#una) || seqGt(ackSeq, this.sndEnd)) return 0;
    const n = seqDiff(ackSeq, this.#una);
    this.#head += n;
    if (this.#head >= this.#buf.length) this.#head -= this.#buf.length;
    this.#len -= n;
    this.#una = ackSeq >>> 0;
    if (this.#len === 0) this.#head = 0;
    return n;
  }

  /** Re-lays the ring out from 0 in a buffer of at least `need` bytes (doubling, at most the capacity). */
  #grow(need: number): void {
    let size = Math.max(this.#buf.length, this.#initial);
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, this.#cap));
    const old = this.#buf;
    const k1 = Math.min(this.#len, old.length - this.#head);
    next.set(old.subarray(this.#head, this.#head + k1), 0);
    if (this.#len > k1) next.set(old.subarray(0, this.#len - k1), k1);
    this.#buf = next;
    this.#head = 0;
  }
}

/**
 * The receiver's reassembly buffer of Serval TCP: segments arrive in any
 * order, duplicated or overlapping; the application reads the in-order bytes;
 * out-of-order ranges are reported as SACK blocks (RFC 2018).
 *
 * @module
 */

import type { TcpSackBlock } from "@serval/wire";
import { seqAdd, seqDiff, seqGe, seqLe, seqLt } from "@serval/wire";
import { SeqRanges } from "./_seq_ranges.ts";

const EMPTY = new Uint8Array(0);

/** Bytes allocated at first; the ring doubles from there up to the capacity. */
const INITIAL_SIZE = 16 * 1024;

/** The largest capacity: sequence distances must stay below 2^31. */
const MAX_CAPACITY = 0x7fffffff;

/**
 * What {@link ReceiveBuffer.insert} did with a segment:
 * - `"new"`: at least one byte not held before was stored (possibly advancing `rcvNxt`);
 * - `"duplicate"`: every in-window byte was already held, or all bytes are before `rcvNxt`;
 * - `"out-of-window"`: the segment starts at or beyond the right window edge; dropped;
 * - `"too-fragmented"`: it would open one out-of-order range more than `maxRanges`; dropped;
 * - `"empty"`: zero length; nothing to do.
 *
 * @example Check the outcome
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ReceiveBuffer } from "@serval/transport";
 * const rb = new ReceiveBuffer(8, 0);
 * const r: ReceiveResult = rb.insert(0, new Uint8Array(2), 0, 2);
 * assertEquals(r, "new");
 * ```
 */
export type ReceiveResult = "new" | "duplicate" | "out-of-window" | "too-fragmented" | "empty";

/**
 * A bounded reassembly ring. The window is `[rcvNxt, readSeq + capacity)`,
 * where `readSeq` is the next byte the application reads: its right edge
 * never moves left. Bytes already held are never overwritten — **the first
 * copy wins** (a conforming sender retransmits identical bytes anyway).
 * Out-of-order ranges live in a sorted interval list bounded by `maxRanges`.
 *
 * Allocation: the ring and the interval list at construction; `insert` and
 * `read` allocate nothing; `sackBlocks` allocates its result.
 *
 * @example Reassemble out of order
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const rb = new ReceiveBuffer(16, 0xfffffffe);
 * assertEquals(rb.insert(0, new Uint8Array([3, 4]), 0, 2), "new");
 * assertEquals(rb.sackBlocks(), [[0, 2]]);
 * assertEquals(rb.insert(0xfffffffe, new Uint8Array([1, 2]), 0, 2), "new");
 * assertEquals([rb.rcvNxt, rb.readable, rb.window], [2, 4, 12]);
 * const out = new Uint8Array(4);
 * assertEquals(rb.read(out, 0, 4), 4);
 * assertEquals([...out], [1, 2, 3, 4]);
 * ```
 */
export class ReceiveBuffer {
  #buf: Uint8Array; // the ring; grows (doubling) up to the capacity as data comes
  readonly #cap: number;
  readonly #initial: number;
  readonly #ranges: SeqRanges;
  /** Ring index of the byte at `#readSeq`. */
  #head = 0;
  #readSeq: number;
  #nxt: number;
  #stamp = 0;

  /**
   * Creates an empty buffer.
   *
   * @param capacity The receive window at most, in bytes, 1..2^31-1.
   * @param initialSeq Sequence number of the first data byte expected (IRS + 1), u32.
   * @param maxRanges Out-of-order ranges held at most, default 64.
   * @throws {RangeError} When an argument is out of range.
   *
   * @example An empty buffer advertises its capacity
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const rb = new ReceiveBuffer(65535, 1000);
   * assertEquals([rb.rcvNxt, rb.window, rb.readable], [1000, 65535, 0]);
   * ```
   */
  constructor(capacity: number, initialSeq: number, maxRanges = 64, initialSize = INITIAL_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(
        `Cannot create ReceiveBuffer: capacity must be an integer in 1..${MAX_CAPACITY}, got ${capacity}`,
      );
    }
    if (!Number.isInteger(initialSeq) || initialSeq < 0 || initialSeq > 0xffffffff) {
      throw new RangeError(`Cannot create ReceiveBuffer: initialSeq must be a u32, got ${initialSeq}`);
    }
    if (!Number.isInteger(maxRanges) || maxRanges < 1) {
      throw new RangeError(`Cannot create ReceiveBuffer: maxRanges must be a positive integer, got ${maxRanges}`);
    }
    this.#cap = capacity;
    // Start small: an idle connection never pays for (or zeroes) its window.
    // Nothing until the first byte arrives: a flow that never receives pays nothing.
    this.#buf = EMPTY;
    this.#initial = Math.max(1, Math.min(capacity, initialSize));
    // One spare slot: a segment at rcvNxt is added, then popped at once.
    this.#ranges = new SeqRanges(maxRanges + 1);
    this.#readSeq = initialSeq;
    this.#nxt = initialSeq;
  }

  /** The capacity in bytes. */
  get capacity(): number {
    return this.#cap;
  }

  /** The next in-order sequence number expected (RCV.NXT). */
  get rcvNxt(): number {
    return this.#nxt;
  }

  /** In-order bytes the application can read. */
  get readable(): number {
    return seqDiff(this.#nxt, this.#readSeq);
  }

  /** Free space to advertise (RCV.WND): `capacity - readable`, never negative. */
  get window(): number {
    return this.#cap - this.readable;
  }

  /** The number of out-of-order ranges held. */
  get rangeCount(): number {
    return this.#ranges.count;
  }

  /**
   * Stores segment `data[off, off + len)` starting at sequence `seq`. Bytes
   * before `rcvNxt` or at/after the right window edge are trimmed; bytes
   * already held are kept (first copy wins).
   *
   * Allocation: none.
   *
   * @param seq Sequence number of `data[off]` (u32).
   * @param data The segment's bytes.
   * @param off Offset of the payload in `data`.
   * @param len Payload length.
   * @returns What happened, see {@link ReceiveResult}.
   * @throws {RangeError} When `[off, off + len)` is not inside `data`.
   *
   * @example Duplicates and a segment beyond the window
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const rb = new ReceiveBuffer(4, 0);
   * const d = new Uint8Array([1, 2, 3, 4, 5, 6]);
   * assertEquals(rb.insert(0, d, 0, 2), "new");
   * assertEquals(rb.insert(0, d, 0, 2), "duplicate");
   * assertEquals(rb.insert(4, d, 4, 2), "out-of-window");
   * assertEquals(rb.insert(1, d, 1, 5), "new");
   * assertEquals(rb.rcvNxt, 4);
   * ```
   */
  insert(seq: number, data: Uint8Array, off: number, len: number): ReceiveResult {
    if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > data.length) {
      throw new RangeError(
        `Cannot insert into ReceiveBuffer: range [${off}, ${off + len}) is outside data of length ${data.length}`,
      );
    }
    if (len === 0) return "empty";
    let s = seq >>> 0;
    let e = seqAdd(s, len);
    const nxt = this.#nxt;
    const edge = seqAdd(this.#readSeq, this.#cap);
    if (seqLe(e, nxt)) return "duplicate";
    if (seqGe(s, edge)) return "out-of-window";
    if (seqLt(s, nxt)) {
      off += seqDiff(nxt, s);
      s = nxt;
    }
    if (seqLt(edge, e)) e = edge;
    const ranges = this.#ranges;
    if (s !== nxt && !ranges.canAdd(s, e, ranges.maxRanges - 1)) return "too-fragmented";

    // Copy only into the gaps between held ranges (first copy wins).
    let fresh = 0;
    let cur = s;
    const n = ranges.count;
    for (let i = 0; i < n && seqLt(cur, e); i++) {
      const rs = ranges.start(i), re = ranges.end(i);
      if (seqLe(re, cur)) continue;
      if (seqLe(e, rs)) break;
      if (seqLt(cur, rs)) {
        const k = seqDiff(rs, cur);
        this.#copyIn(cur, data, off + seqDiff(cur, s), k);
        fresh += k;
      }
      cur = re;
    }
    if (seqLt(cur, e)) {
      const k = seqDiff(e, cur);
      this.#copyIn(cur, data, off + seqDiff(cur, s), k);
      fresh += k;
    }

    ranges.add(s, e, ++this.#stamp);
    if (ranges.count > 0 && ranges.start(0) === nxt) {
      this.#nxt = ranges.end(0);
      ranges.shift();
    }
    return fresh > 0 ? "new" : "duplicate";
  }

  /**
   * Copies up to `max` in-order bytes to `out[off, ...)` and frees them,
   * opening the window.
   *
   * Allocation: none.
   *
   * @param out Destination.
   * @param off Offset in `out`.
   * @param max Bytes wanted at most.
   * @returns Bytes copied, `min(max, readable)`.
   * @throws {RangeError} When `out` cannot hold them.
   *
   * @example Partial read
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const rb = new ReceiveBuffer(8, 0);
   * rb.insert(0, new Uint8Array([1, 2, 3]), 0, 3);
   * const out = new Uint8Array(2);
   * assertEquals(rb.read(out, 0, 2), 2);
   * assertEquals([rb.readable, rb.window], [1, 7]);
   * ```
   */
  read(out: Uint8Array, off: number, max: number): number {
    if (!Number.isInteger(off) || !Number.isInteger(max) || off < 0 || max < 0) {
      throw new RangeError(
        `Cannot read ReceiveBuffer: off and max must be non-negative integers, got ${off} and ${max}`,
      );
    }
    const n = Math.min(max, this.readable);
    if (off + n > out.length) {
      throw new RangeError(`Cannot read ReceiveBuffer: ${n} bytes at offset ${off} exceed out of length ${out.length}`);
    }
    const buf = this.#buf, cap = buf.length;
    let r = this.#head;
    const k1 = Math.min(n, cap - r);
    out.set(buf.subarray(r, r + k1), off);
    if (n > k1) out.set(buf.subarray(0, n - k1), off + k1);
    r += n;
    if (r >= cap) r -= cap;
    this.#head = r;
    this.#readSeq = seqAdd(this.#readSeq, n);
    return n;
  }

  /**
   * The SACK blocks to send (RFC 2018 §4): the first holds the most recently
   * received segment, the rest follow most recently updated first (an
   * approximation of "most recently reported" that needs no send history).
   * Every block lies in `(rcvNxt, rcvNxt + capacity]`; blocks never overlap.
   *
   * Allocation: the result array and its blocks.
   *
   * @param max Blocks at most, default 4 (3 fit beside timestamps).
   * @returns `[left, right)` pairs, empty when nothing is out of order.
   *
   * @example Most recent first
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const rb = new ReceiveBuffer(100, 0);
   * rb.insert(10, new Uint8Array(5), 0, 5);
   * rb.insert(30, new Uint8Array(5), 0, 5);
   * rb.insert(20, new Uint8Array(5), 0, 5);
   * assertEquals(rb.sackBlocks(2), [[20, 25], [30, 35]]);
   * ```
   */
  sackBlocks(max = 4): readonly TcpSackBlock[] {
    const out: TcpSackBlock[] = [];
    const r = this.#ranges;
    const n = r.count;
    let bound = Infinity;
    while (out.length < max) {
      let best = -1;
      for (let i = 0; i < n; i++) {
        const st = r.stamp(i);
        if (st < bound && (best < 0 || st > r.stamp(best))) best = i;
      }
      if (best < 0) break;
      out.push([r.start(best), r.end(best)]);
      bound = r.stamp(best);
    }
    return out;
  }

  #copyIn(seq: number, data: Uint8Array, off: number, n: number): void {
    const at = seqDiff(seq, this.#readSeq);
    if (at + n > this.#buf.length) this.#grow(at + n);
    const buf = this.#buf, cap = buf.length;
    let w = this.#head + at;
    if (w >= cap) w -= cap;
    const k1 = Math.min(n, cap - w);
    buf.set(data.subarray(off, off + k1), w);
    if (n > k1) buf.set(data.subarray(off + k1, off + n), 0);
  }

  /** Re-lays the ring out from 0 in a buffer of at least `need` bytes (doubling, at most the capacity). */
  #grow(need: number): void {
    const old = this.#buf;
    let size = Math.max(this.#buf.length, this.#initial);
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, this.#cap));
    // Everything in the ring may hold data (out-of-order ranges too): keep it all, in sequence order.
    next.set(old.subarray(this.#head), 0);
    next.set(old.subarray(0, this.#head), old.length - this.#head);
    this.#buf = next;
    this.#head = 0;
  }
}

/**
 * A small sorted list of disjoint, non-adjacent half-open sequence ranges
 * `[start, end)` in 32-bit serial arithmetic, each with a numeric stamp (the
 * most recent update that touched it). Internal to `@serval/transport`: the
 * receive buffer's out-of-order list and the SACK scoreboard hold one.
 *
 * All ranges must lie within 2^31 of each other (any TCP window does).
 *
 * @module
 */

import { seqGe, seqLe, seqLt } from "@serval/wire";

/**
 * Sorted disjoint sequence ranges in preallocated typed arrays, bounded to
 * `maxRanges` entries; adjacent or overlapping ranges merge on insert.
 *
 * Allocation: three typed arrays at construction; none afterwards.
 *
 * @example Merge adjacent ranges
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r = new SeqRanges(4);
 * r.add(10, 20, 1);
 * r.add(20, 30, 2);
 * assertEquals([r.count, r.start(0), r.end(0), r.stamp(0)], [1, 10, 30, 2]);
 * ```
 */
export class SeqRanges {
  // Grown on demand up to `maxRanges`: most flows never hold a single range.
  #starts = new Uint32Array(0);
  #ends = new Uint32Array(0);
  #stamps = new Float64Array(0);
  readonly #max: number;
  #n = 0;

  /**
   * Creates an empty list.
   *
   * @param maxRanges The most ranges held, at least 1.
   * @throws {RangeError} When `maxRanges` is not a positive integer.
   */
  constructor(maxRanges: number) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1) {
      throw new RangeError(`Cannot create SeqRanges: maxRanges must be a positive integer, got ${maxRanges}`);
    }
    this.#max = maxRanges;
  }

  /** The number of ranges. */
  get count(): number {
    return this.#n;
  }

  /** The most ranges held. */
  get maxRanges(): number {
    return this.#max;
  }

  /**
   * The start of range `i` (0 = lowest).
   *
   * @param i The index, `0 <= i < count`.
   * @returns The first sequence number of the range.
   */
  start(i: number): number {
    return this.#starts[i]!;
  }

  /**
   * The end (exclusive) of range `i`.
   *
   * @param i The index, `0 <= i < count`.
   * @returns The sequence number after the range.
   */
  end(i: number): number {
    return this.#ends[i]!;
  }

  /**
   * The stamp of range `i` (the largest stamp merged into it).
   *
   * @param i The index, `0 <= i < count`.
   * @returns The stamp.
   */
  stamp(i: number): number {
    return this.#stamps[i]!;
  }

  /** Removes every range. */
  clear(): void {
    this.#n = 0;
  }

  /**
   * Whether `[s, e)` would fit: it overlaps or touches a range, or fewer
   * than `limit` ranges are held.
   *
   * @param s First sequence number.
   * @param e Sequence number after the last one.
   * @param limit The count to stay within, default `maxRanges`.
   * @returns `true` when {@link SeqRanges.add} would keep the count within `limit`.
   */
  canAdd(s: number, e: number, limit: number = this.#max): boolean {
    if (this.#n < limit) return true;
    const i = this.#firstEndingAtOrAfter(s);
    return i < this.#n && seqLe(this.#starts[i]!, e);
  }

  /**
   * Adds `[s, e)` (non-empty), merging with overlapping or adjacent ranges;
   * the merged range takes the largest stamp.
   *
   * @param s First sequence number.
   * @param e Sequence number after the last one.
   * @param stamp The stamp of this update.
   * @returns The index of the range now holding `[s, e)`, or -1 when the list is full and nothing changed.
   */
  add(s: number, e: number, stamp: number): number {
    const n = this.#n;
    if (n === this.#starts.length && n < this.#max) this.#grow();
    const starts = this.#starts, ends = this.#ends, stamps = this.#stamps;
    const i = this.#firstEndingAtOrAfter(s);
    let k = i;
    while (k < n && seqLe(starts[k]!, e)) k++;
    const j = k - 1;
    if (j < i) {
      if (n === this.#max) return -1;
      for (let m = n; m > i; m--) {
        starts[m] = starts[m - 1]!;
        ends[m] = ends[m - 1]!;
        stamps[m] = stamps[m - 1]!;
      }
      starts[i] = s;
      ends[i] = e;
      stamps[i] = stamp;
      this.#n = n + 1;
      return i;
    }
    let st = stamp;
    for (let m = i; m <= j; m++) if (stamps[m]! > st) st = stamps[m]!;
    if (seqLt(s, starts[i]!)) starts[i] = s;
    ends[i] = seqLt(ends[j]!, e) ? e : ends[j]!;
    stamps[i] = st;
    const gone = j - i;
    if (gone > 0) {
      for (let m = j + 1; m < n; m++) {
        starts[m - gone] = starts[m]!;
        ends[m - gone] = ends[m]!;
        stamps[m - gone] = stamps[m]!;
      }
      this.#n = n - gone;
    }
    return i;
  }

  /**
   * Drops everything before `seq`: ranges ending at or before it go, a range
   * straddling it is cut to start at it.
   *
   * @param seq The new lower bound.
   */
  trimBelow(seq: number): void {
    const n = this.#n;
    let k = 0;
    while (k < n && seqLe(this.#ends[k]!, seq)) k++;
    if (k > 0) {
      for (let m = k; m < n; m++) {
        this.#starts[m - k] = this.#starts[m]!;
        this.#ends[m - k] = this.#ends[m]!;
        this.#stamps[m - k] = this.#stamps[m]!;
      }
      this.#n = n - k;
    }
    if (this.#n > 0 && seqLt(this.#starts[0]!, seq)) this.#starts[0] = seq;
  }

  /**
   * Removes the lowest range.
   */
  shift(): void {
    if (this.#n > 0) this.trimBelow(this.#ends[0]!);
  }

  /**
   * The index of the range containing `seq`, or -1.
   *
   * @param seq A sequence number.
   * @returns The index or -1.
   */
  find(seq: number): number {
    for (let i = 0; i < this.#n; i++) {
      if (seqLt(seq, this.#starts[i]!)) return -1;
      if (seqLt(seq, this.#ends[i]!)) return i;
    }
    return -1;
  }

  #firstEndingAtOrAfter(s: number): number {
    let i = 0;
    while (i < this.#n && !seqGe(this.#ends[i]!, s)) i++;
    return i;
  }

  #grow(): void {
    const size = Math.min(this.#max, Math.max(8, this.#starts.length * 2));
    const starts = new Uint32Array(size), ends = new Uint32Array(size), stamps = new Float64Array(size);
    starts.set(this.#starts);
    ends.set(this.#ends);
    stamps.set(this.#stamps);
    this.#starts = starts;
    this.#ends = ends;
    this.#stamps = stamps;
  }
}

/**
 * The SACK scoreboard of Serval TCP's sender (RFC 6675): which bytes above
 * the cumulative ACK the receiver reports holding, and from that IsLost,
 * NextSeg and SetPipe for loss recovery.
 *
 * @module
 */

import type { TcpSackBlock } from "@serval/wire";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from "@serval/wire";
import { SeqRanges } from "./_seq_ranges.ts";

/**
 * What {@link SackScoreboard.nextSeg} chose (RFC 6675 §4 NextSeg):
 * - `"retransmit-lost"`: rule 1, retransmit the lost hole at `segSeq`;
 * - `"new-data"`: rule 2, send new data at `segSeq` (the caller's `sndNxt`);
 * - `"retransmit-unsacked"`: rule 3, retransmit the not-yet-lost hole at `segSeq`;
 * - `"rescue"`: rule 4, the rescue retransmission ending at the highest unSACKed byte;
 * - `"none"`: rule 5, nothing to send.
 *
 * @example A kind
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const k: NextSegKind = "none";
 * assertEquals(k, "none");
 * ```
 */
export type NextSegKind = "retransmit-lost" | "new-data" | "retransmit-unsacked" | "rescue" | "none";

/** Options of {@link SackScoreboard}. */
export interface SackScoreboardOptions {
  /** Sender maximum segment size (SMSS) in bytes, at least 1. */
  readonly mss: number;
  /** SND.UNA at the start (ISS + 1 for data), u32. */
  readonly initialSeq: number;
  /** DupThresh, default 3 (RFC 6675 §2). */
  readonly dupThresh?: number;
  /** SACKed ranges held at most, default 128; a block that would open one more is ignored (conservative: its bytes count as not SACKed). */
  readonly maxRanges?: number;
}

/**
 * The sender's view of what the receiver holds: HighACK (the cumulative
 * ACK), snd_max (HighData + 1) and a sorted list of disjoint SACKed ranges in
 * `[HighACK, snd_max)`, merged when adjacent.
 *
 * Conventions: `highRxt` arguments are *exclusive* — the sequence number
 * after the highest byte retransmitted in this recovery (start it at
 * HighACK); RFC 6675's `S1 <= HighRxt` reads as `S1 < highRxt`.
 *
 * Allocation: the interval list at construction; `update`, `isLost`, `pipe`
 * and `nextSeg` allocate nothing.
 *
 * @example RFC 6675: three SACKed segments above a hole mark it lost
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
 * sb.update(0, [[100, 400]], 500);
 * assertEquals(sb.isLost(0), true);
 * assertEquals(sb.pipe(), 100); // [400, 500) in flight; [0, 100) lost
 * assertEquals(sb.nextSeg(0, true), "retransmit-lost");
 * assertEquals([sb.segSeq, sb.segLen], [0, 100]);
 * ```
 */
export class SackScoreboard {
  readonly #mss: number;
  readonly #dupThresh: number;
  readonly #ranges: SeqRanges;
  #highAck: number;
  #sndMax: number;
  #dsack = false;
  #lostMark: number;
  #segSeq = 0;
  #segLen = 0;

  /**
   * Creates an empty scoreboard.
   *
   * @param options See {@link SackScoreboardOptions}.
   * @throws {RangeError} When an option is out of range.
   *
   * @example Empty
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 1460, initialSeq: 7 });
   * assertEquals([sb.highAck, sb.sndMax, sb.sackedBytes], [7, 7, 0]);
   * ```
   */
  constructor(options: SackScoreboardOptions) {
    const { mss, initialSeq, dupThresh = 3, maxRanges = 128 } = options;
    if (!Number.isInteger(mss) || mss < 1) {
      throw new RangeError(`Cannot create SackScoreboard: mss must be a positive integer, got ${mss}`);
    }
    if (!Number.isInteger(initialSeq) || initialSeq < 0 || initialSeq > 0xffffffff) {
      throw new RangeError(`Cannot create SackScoreboard: initialSeq must be a u32, got ${initialSeq}`);
    }
    if (!Number.isInteger(dupThresh) || dupThresh < 1) {
      throw new RangeError(`Cannot create SackScoreboard: dupThresh must be a positive integer, got ${dupThresh}`);
    }
    if (!Number.isInteger(maxRanges) || maxRanges < 1) {
      throw new RangeError(`Cannot create SackScoreboard: maxRanges must be a positive integer, got ${maxRanges}`);
    }
    this.#mss = mss;
    this.#dupThresh = dupThresh;
    this.#ranges = new SeqRanges(maxRanges);
    this.#highAck = initialSeq;
    this.#sndMax = initialSeq;
    this.#lostMark = initialSeq;
  }

  /** HighACK: the highest cumulative ACK seen (SND.UNA). */
  get highAck(): number {
    return this.#highAck;
  }

  /** The sequence number after the highest byte sent (HighData + 1). */
  get sndMax(): number {
    return this.#sndMax;
  }

  /** The sequence number after the highest SACKed byte, or `highAck` when nothing is SACKed. */
  get highSacked(): number {
    const r = this.#ranges;
    return r.count > 0 ? r.end(r.count - 1) : this.#highAck;
  }

  /** Bytes SACKed above `highAck`. */
  get sackedBytes(): number {
    const r = this.#ranges;
    let b = 0;
    for (let i = 0; i < r.count; i++) b += seqDiff(r.end(i), r.start(i));
    return b;
  }

  /** The number of disjoint SACKed ranges held. */
  get rangeCount(): number {
    return this.#ranges.count;
  }

  /** Whether the last {@link SackScoreboard.update} carried a D-SACK block (RFC 2883 §4). */
  get dsack(): boolean {
    return this.#dsack;
  }

  /** Start of the segment the last {@link SackScoreboard.nextSeg} chose. */
  get segSeq(): number {
    return this.#segSeq;
  }

  /** Length of that segment (at most MSS; 0 for `"none"`). For `"new-data"` it is MSS, to be clipped by the caller to what is available. */
  get segLen(): number {
    return this.#segLen;
  }

  /**
   * Processes an ACK: advances HighACK (an older ACK is ignored; an ACK
   * beyond `sndMax` is ignored entirely) and records the valid SACK blocks.
   * A block is ignored when inverted or empty, starting below HighACK, or
   * ending beyond `sndMax`. A first block starting below the ACK, or inside the
   * second block, is a D-SACK (see {@link SackScoreboard.dsack}).
   *
   * Allocation: none.
   *
   * @param cumAck The ACK's acknowledgment number (u32).
   * @param sackBlocks The ACK's SACK blocks, `[left, right)`.
   * @param sndMax The sequence number after the highest byte sent so far (it only moves forward).
   * @returns Bytes newly SACKed by this ACK (those newly cumulatively acknowledged are not counted).
   *
   * @example Invalid blocks are ignored
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 10, initialSeq: 0 });
   * assertEquals(sb.update(10, [[5, 8], [30, 20], [40, 60], [50, 60]], 50), 0);
   * assertEquals(sb.update(10, [[20, 30]], 50), 10);
   * assertEquals(sb.sackedBytes, 10);
   * ```
   */
  update(cumAck: number, sackBlocks: readonly TcpSackBlock[], sndMax: number): number {
    if (seqGt(sndMax, this.#sndMax)) this.#sndMax = sndMax >>> 0;
    this.#dsack = false;
    if (seqGt(cumAck, this.#sndMax)) return 0;
    const ranges = this.#ranges;
    if (seqGt(cumAck, this.#highAck)) {
      this.#highAck = cumAck >>> 0;
      ranges.trimBelow(this.#highAck);
      // Keep the loss mark inside the window: a stale one would compare as
      // ahead again once 2^31 bytes have passed.
      if (seqLt(this.#lostMark, this.#highAck)) this.#lostMark = this.#highAck;
    }
    const nb = sackBlocks.length;
    if (nb > 0) {
      const [l0, r0] = sackBlocks[0]!;
      if (seqLt(l0, cumAck)) this.#dsack = true;
      else if (nb > 1) {
        const [l1, r1] = sackBlocks[1]!;
        if (seqGe(l0, l1) && seqLe(r0, r1) && seqLt(l0, r0)) this.#dsack = true;
      }
    }
    const before = this.sackedBytes;
    const lo = this.#highAck, hi = this.#sndMax;
    for (let i = 0; i < nb; i++) {
      const [l, r] = sackBlocks[i]!;
      if (!seqLt(l, r) || seqLt(l, lo) || seqGt(r, hi)) continue;
      ranges.add(l >>> 0, r >>> 0, 0);
    }
    return this.sackedBytes - before;
  }

  /**
   * Whether byte `seq` is SACKed.
   *
   * @param seq A sequence number.
   * @returns `true` when a held range covers it.
   *
   * @example Range ends are exclusive
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 10, initialSeq: 0 });
   * sb.update(0, [[10, 20]], 30);
   * assertEquals([sb.isSacked(9), sb.isSacked(10), sb.isSacked(20)], [false, true, false]);
   * ```
   */
  isSacked(seq: number): boolean {
    return this.#ranges.find(seq) >= 0;
  }

  /**
   * Records that data up to `sndMax` has been sent, so that
   * {@link SackScoreboard.pipe} counts new data the moment it leaves (not
   * only once an ACK mentions it).
   *
   * @param sndMax The sequence number after the highest byte sent (it only moves forward).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
   * sb.sent(300);
   * assertEquals(sb.pipe(), 300);
   * ```
   */
  sent(sndMax: number): void {
    if (seqGt(sndMax, this.#sndMax)) this.#sndMax = sndMax >>> 0;
  }

  /**
   * Deems every unSACKed byte below `upTo` lost, whatever the SACKs above
   * it say: after a retransmission timeout everything outstanding and not
   * SACKed must be resent (as Linux's loss state does), while SACKed data is
   * not resent. The mark only moves forward; {@link SackScoreboard.reset}
   * clears it.
   *
   * @param upTo Sequence number after the last byte deemed lost (usually `sndMax`).
   *
   * @example The tail above the last SACK is lost too
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
   * sb.update(0, [[100, 200]], 400);
   * sb.markLost(400);
   * assertEquals([sb.isLost(0), sb.isLost(300)], [true, true]);
   * assertEquals(sb.pipe(), 0);
   * assertEquals(sb.nextSeg(100, true), "retransmit-lost");
   * assertEquals([sb.segSeq, sb.segLen], [200, 100]);
   * ```
   */
  markLost(upTo: number): void {
    if (seqGt(upTo, this.#lostMark)) this.#lostMark = upTo >>> 0;
  }

  /**
   * The end of the unSACKed run starting at `seq`: the start of the next
   * SACKed range above it, or `sndMax`.
   *
   * @param seq An unSACKed sequence number at or above HighACK.
   * @returns The sequence number where the run ends.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
   * sb.update(0, [[100, 200]], 400);
   * assertEquals([sb.holeEnd(0), sb.holeEnd(200)], [100, 400]);
   * ```
   */
  holeEnd(seq: number): number {
    const r = this.#ranges;
    for (let i = 0; i < r.count; i++) if (seqGt(r.start(i), seq)) return r.start(i);
    return this.#sndMax;
  }

  /**
   * RFC 6675 §4 IsLost(SeqNum): `true` when at least DupThresh discontiguous
   * SACKed runs lie (at least partly) above `seq`, or more than
   * `(DupThresh - 1) * SMSS` SACKed bytes have sequence numbers above `seq`.
   *
   * Allocation: none.
   *
   * @param seq The sequence number asked about.
   * @returns Whether it is deemed lost.
   *
   * @example Two full segments above are not enough; a third byte range is
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
   * sb.update(0, [[100, 300]], 1000);
   * assertEquals(sb.isLost(0), false);
   * sb.update(0, [[400, 401]], 1000);
   * assertEquals(sb.isLost(0), true);
   * ```
   */
  isLost(seq: number): boolean {
    if (seqLt(seq, this.#lostMark) && seqGe(seq, this.#highAck)) return true;
    const r = this.#ranges;
    let bytes = 0, runs = 0;
    for (let i = r.count - 1; i >= 0; i--) {
      const e = r.end(i);
      if (seqDiff(e, seq) <= 1) break;
      const s = r.start(i);
      bytes += seqGt(s, seq) ? seqDiff(e, s) : seqDiff(e, seq) - 1;
      runs++;
    }
    return runs >= this.#dupThresh || bytes > (this.#dupThresh - 1) * this.#mss;
  }

  /**
   * RFC 6675 §4 SetPipe: the bytes estimated in flight. Over every unSACKed
   * byte S1 in `[highAck, sndMax)`: +1 when not IsLost(S1), +1 when
   * retransmitted (`S1 < highRxt`).
   *
   * Allocation: none.
   *
   * @param highRxt Sequence number after the highest retransmitted byte; default `highAck` (nothing retransmitted).
   * @returns The pipe in bytes.
   *
   * @example A retransmitted lost segment counts once
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
   * sb.update(0, [[100, 400]], 500);
   * assertEquals(sb.pipe(100), 200);
   * ```
   */
  pipe(highRxt: number = this.#highAck): number {
    const r = this.#ranges;
    const k = (this.#dupThresh - 1) * this.#mss;
    const d = this.#dupThresh;
    let bytes = 0, runs = 0, pipe = 0;
    let top = this.#sndMax;
    for (let i = r.count - 1; i >= -1; i--) {
      const gapLo = i >= 0 ? r.end(i) : this.#highAck;
      const len = seqDiff(top, gapLo);
      if (len > 0) {
        // Every byte of a gap sees the same SACKed bytes above it.
        // Bytes below the loss mark are lost whatever lies above them.
        const marked = Math.min(len, Math.max(0, seqDiff(this.#lostMark, gapLo)));
        if (!(runs >= d || bytes > k)) pipe += len - marked;
        if (seqGt(highRxt, gapLo)) pipe += Math.min(len, seqDiff(highRxt, gapLo));
      }
      if (i >= 0) {
        bytes += seqDiff(r.end(i), r.start(i));
        runs++;
        top = r.start(i);
      }
    }
    return pipe;
  }

  /**
   * RFC 6675 §4 NextSeg: what to send next. Rule 1: the first unSACKed byte
   * S2 at or after `max(highRxt, highAck)` and below the highest SACKed byte
   * that IsLost — retransmit from it. Rule 2: else, when `canSendNew`, new
   * data at `sndNxt`. Rule 3: else that S2 even though not lost. Rule 4: else,
   * when `rescueAllowed`, the rescue retransmission: up to SMSS unSACKed bytes
   * ending at the highest unSACKed byte below `sndMax`. Rule 5: else nothing.
   * The segment is `[segSeq, segSeq + segLen)`, clipped to the hole and to MSS.
   *
   * Rule 4's bookkeeping stays with the caller: pass `rescueAllowed` when
   * RescueRxt is undefined or below HighACK, and after `"rescue"` set
   * RescueRxt = RecoveryPoint (HighRxt is not updated).
   *
   * Allocation: none.
   *
   * @param highRxt Sequence number after the highest byte retransmitted in this recovery.
   * @param canSendNew Whether unsent data is available and the receive window allows it.
   * @param sndNxt Where new data starts, default `sndMax`.
   * @param rescueAllowed Whether rule 4 (rescue retransmission) may apply, default `false`.
   * @returns The rule applied; read {@link SackScoreboard.segSeq} and {@link SackScoreboard.segLen}.
   *
   * @example Rule 3 when no new data may go
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
   * sb.update(0, [[100, 200]], 300);
   * assertEquals(sb.nextSeg(0, true), "new-data");
   * assertEquals(sb.segSeq, 300);
   * assertEquals(sb.nextSeg(0, false), "retransmit-unsacked");
   * assertEquals([sb.segSeq, sb.segLen], [0, 100]);
   * ```
   */
  nextSeg(highRxt: number, canSendNew: boolean, sndNxt: number = this.#sndMax, rescueAllowed = false): NextSegKind {
    const r = this.#ranges;
    const n = r.count;
    let cur = seqGt(highRxt, this.#highAck) ? highRxt >>> 0 : this.#highAck;
    let hole = false;
    let holeEnd = 0;
    for (let i = 0; i < n; i++) {
      if (seqLe(r.end(i), cur)) continue;
      if (seqLt(cur, r.start(i))) {
        hole = true;
        holeEnd = r.start(i);
        break;
      }
      cur = r.end(i);
    }
    if (!hole && seqLt(cur, this.#lostMark) && seqLt(cur, this.#sndMax)) {
      hole = true;
      holeEnd = seqLt(this.#lostMark, this.#sndMax) ? this.#lostMark : this.#sndMax;
    }
    if (hole && this.isLost(cur)) {
      this.#segSeq = cur;
      this.#segLen = Math.min(this.#mss, seqDiff(holeEnd, cur));
      return "retransmit-lost";
    }
    if (canSendNew) {
      this.#segSeq = sndNxt >>> 0;
      this.#segLen = this.#mss;
      return "new-data";
    }
    if (hole) {
      this.#segSeq = cur;
      this.#segLen = Math.min(this.#mss, seqDiff(holeEnd, cur));
      return "retransmit-unsacked";
    }
    if (rescueAllowed) {
      // The gap holding the highest unSACKed byte: above the top range, else below it.
      let gapLo = n > 0 ? r.end(n - 1) : this.#highAck;
      let gapHi = this.#sndMax;
      for (let i = n - 1; i >= 0 && seqDiff(gapHi, gapLo) <= 0; i--) {
        gapHi = r.start(i);
        gapLo = i > 0 ? r.end(i - 1) : this.#highAck;
      }
      const len = seqDiff(gapHi, gapLo);
      if (len > 0) {
        const k = Math.min(this.#mss, len);
        this.#segSeq = seqAdd(gapHi, -k);
        this.#segLen = k;
        return "rescue";
      }
    }
    this.#segSeq = this.#highAck;
    this.#segLen = 0;
    return "none";
  }

  /**
   * Forgets all SACK information (RFC 2018 §8: after a retransmission
   * timeout the sender turns off its SACKed bits, the receiver may have
   * reneged), keeping HighACK and `sndMax`; with `initialSeq`, starts over at
   * that sequence number instead.
   *
   * @param initialSeq A new SND.UNA and `sndMax` (u32), for reuse on a new connection.
   * @throws {RangeError} When `initialSeq` is not a u32.
   *
   * @example After an RTO
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const sb = new SackScoreboard({ mss: 10, initialSeq: 0 });
   * sb.update(0, [[10, 20]], 30);
   * sb.reset();
   * assertEquals([sb.sackedBytes, sb.highAck, sb.sndMax], [0, 0, 30]);
   * ```
   */
  reset(initialSeq?: number): void {
    this.#ranges.clear();
    this.#dsack = false;
    this.#lostMark = this.#highAck;
    if (initialSeq !== undefined) {
      if (!Number.isInteger(initialSeq) || initialSeq < 0 || initialSeq > 0xffffffff) {
        throw new RangeError(`Cannot reset SackScoreboard: initialSeq must be a u32, got ${initialSeq}`);
      }
      this.#highAck = initialSeq;
      this.#sndMax = initialSeq;
      this.#lostMark = initialSeq;
    }
  }
}

/**
 * {@linkcode RexmitLog}: the retransmissions of one loss recovery with their
 * send times, so that a lost retransmission is found by time (the idea of
 * RACK, RFC 8985) instead of waiting for the RTO. RFC 6675 alone cannot see
 * a retransmission that is lost again: its hole simply stays open.
 *
 * @module
 */

import { seqGt, seqLe, seqLt } from "@serval/wire";

const EMPTY_U32 = new Uint32Array(0);
const EMPTY_F64 = new Float64Array(0);
const EMPTY_U8 = new Uint8Array(0);

/** What the log needs to know about the receiver's state. */
export interface Delivered {
  /** Whether byte `seq` is SACKed. */
  isSacked(seq: number): boolean;
}

/**
 * Retransmitted segments `[seq, end)` sent at `time`, in typed arrays
 * (no allocation after construction). When full, further retransmissions
 * are not tracked (the RTO still covers them).
 *
 * @example A retransmission not delivered one RTT and a reordering window later is lost
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RexmitLog } from "./_rexmit_log.ts";
 * const log = new RexmitLog(8);
 * log.add(100, 200, 1000);
 * log.add(300, 400, 1500);
 * const sacked = { isSacked: (s: number) => s >= 300 && s < 400 };
 * assertEquals(log.reap(100, sacked, 1600, 1000), 0); // not yet due
 * assertEquals(log.reap(100, sacked, 2500, 1000), 1); // [100, 200) is lost
 * assertEquals(log.nextLost(), 100);
 * assertEquals(log.lostBytes, 100);
 * ```
 */
export class RexmitLog {
  // Allocated at the first retransmission: most flows never lose a packet,
  // and a connection that only connects must stay cheap.
  #seq = EMPTY_U32;
  #end = EMPTY_U32;
  #time = EMPTY_F64;
  #lost = EMPTY_U8;
  readonly #capacity: number;
  #count = 0;
  #lostBytes = 0;

  /** @param capacity Most retransmissions tracked at once. */
  constructor(capacity = 1024) {
    this.#capacity = capacity;
  }

  /** Retransmissions tracked. */
  get size(): number {
    return this.#count;
  }

  /** Bytes of tracked retransmissions deemed lost and not yet sent again. */
  get lostBytes(): number {
    return this.#lostBytes;
  }

  /** Records a retransmission of `[seq, end)` at `now`; a segment already tracked gets the new time. */
  add(seq: number, end: number, now: number): void {
    for (let i = 0; i < this.#count; i++) {
      if (this.#seq[i] === seq >>> 0) {
        if (this.#lost[i]) this.#lostBytes -= this.#end[i]! - this.#seq[i]! >>> 0;
        this.#end[i] = end;
        this.#time[i] = now;
        this.#lost[i] = 0;
        return;
      }
    }
    if (this.#count === this.#seq.length) {
      if (this.#seq.length === this.#capacity) return;
      this.#seq = new Uint32Array(this.#capacity);
      this.#end = new Uint32Array(this.#capacity);
      this.#time = new Float64Array(this.#capacity);
      this.#lost = new Uint8Array(this.#capacity);
    }
    const i = this.#count++;
    this.#seq[i] = seq;
    this.#end[i] = end;
    this.#time[i] = now;
    this.#lost[i] = 0;
  }

  /**
   * Forgets delivered retransmissions (below `una` or SACKed) and marks as
   * lost those still missing `wait` µs after they were sent.
   *
   * @returns Retransmissions newly deemed lost.
   */
  reap(una: number, sb: Delivered, now: number, wait: number): number {
    let n = 0, lost = 0;
    for (let i = 0; i < this.#count; i++) {
      const s = this.#seq[i]!, e = this.#end[i]!;
      if (seqLe(e, una) || (!seqLt(s, una) && sb.isSacked(s))) {
        if (this.#lost[i]) this.#lostBytes -= (e - s) >>> 0;
        continue;
      }
      if (!this.#lost[i] && this.#time[i]! + wait <= now) {
        this.#lost[i] = 1;
        this.#lostBytes += (e - s) >>> 0;
        lost++;
      }
      if (seqLt(s, una) && this.#lost[i]) this.#lostBytes -= (una - s) >>> 0;
      this.#seq[n] = seqLt(s, una) ? una >>> 0 : s;
      this.#end[n] = e;
      this.#time[n] = this.#time[i]!;
      this.#lost[n] = this.#lost[i]!;
      n++;
    }
    this.#count = n;
    return lost;
  }

  /** The start of the lowest lost retransmission to send again, or -1. */
  nextLost(): number {
    let best = -1;
    for (let i = 0; i < this.#count; i++) {
      if (this.#lost[i] && (best < 0 || seqGt(this.#seq[best]!, this.#seq[i]!))) best = i;
    }
    return best < 0 ? -1 : this.#seq[best]!;
  }

  /** The end of the tracked retransmission starting at `seq` (or `seq` when untracked). */
  endOf(seq: number): number {
    for (let i = 0; i < this.#count; i++) if (this.#seq[i] === seq >>> 0) return this.#end[i]!;
    return seq;
  }

  /** Forgets everything (recovery over, RTO, migration). */
  clear(): void {
    this.#count = 0;
    this.#lostBytes = 0;
  }
}

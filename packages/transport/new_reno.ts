/**
 * NewReno congestion control: RFC 5681 slow start and congestion avoidance
 * with RFC 3465 appropriate byte counting, the RFC 6928 initial window, and
 * the RFC 6582 window reduction.
 *
 * @module
 */

import { type CongestionControl, checkMss, initialWindow, isCwndLimited } from "./congestion_control.ts";

/** Options of a {@linkcode NewReno} controller. */
export interface NewRenoOptions {
  /** Initial window in bytes (default RFC 6928: min(10·MSS, max(2·MSS, 14600))). */
  readonly initialWindow?: number;
}

/**
 * The NewReno window rules (RFC 5681, RFC 3465, RFC 6582, RFC 6928).
 *
 * **Details**
 * - Slow start (`cwnd < ssthresh`): `cwnd += min(acked, L)` with L = 2·MSS
 *   (RFC 3465 §2.2).
 * - Congestion avoidance: bytes acked are counted; each time they reach
 *   `cwnd`, `cwnd += MSS` (RFC 3465 §2.1, RFC 5681 §3.1).
 * - Congestion event: `ssthresh = max(FlightSize/2, 2·MSS)`, `cwnd = ssthresh`
 *   (RFC 5681 eq. 4). The temporary inflation of RFC 6582 (+3 MSS, +1 MSS per
 *   duplicate ACK) is NOT applied here: it only lets the sender clock out new
 *   segments during recovery, which the sender does by its own pipe estimate
 *   (RFC 6675). The module reports the deflated window, i.e. the value RFC
 *   6582 leaves at recovery exit ("full deflation").
 * - Retransmission timeout: `ssthresh = max(FlightSize/2, 2·MSS)` (held
 *   constant on a repeated timeout before any new ACK, RFC 5681 §3.1),
 *   `cwnd = 1·MSS` (the loss window).
 * - Growth stops while in recovery and while not cwnd-limited
 *   ({@linkcode isCwndLimited}).
 *
 * @example Slow start, loss, congestion avoidance
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const cc = new NewReno(1000);
 * assertEquals(cc.cwnd, 10_000);
 * cc.onAck(0, 3000, 10_000, 10_000); // slow start, capped at L = 2 MSS
 * assertEquals(cc.cwnd, 12_000);
 * cc.onCongestionEvent(1, 12_000);
 * assertEquals([cc.ssthresh, cc.cwnd], [6000, 6000]);
 * ```
 */
export class NewReno implements CongestionControl {
  /** Always `"newreno"`. */
  readonly name = "newreno";
  /** Sender maximum segment size in bytes. */
  readonly mss: number;
  readonly #iw: number;
  #cwnd: number;
  #ssthresh = Infinity;
  #bytesAcked = 0;
  #inRecovery = false;
  #afterRto = false;

  /**
   * Creates a NewReno controller in slow start with the initial window.
   *
   * @param mss Sender maximum segment size in bytes.
   * @param opts Initial window override.
   * @throws {RangeError} When `mss` is not a positive integer or the initial
   *   window is below 1 MSS.
   */
  constructor(mss: number, opts: NewRenoOptions = {}) {
    this.mss = checkMss("NewReno", mss);
    const iw = opts.initialWindow ?? initialWindow(mss);
    if (!(Number.isFinite(iw) && iw >= mss)) {
      throw new RangeError(`Cannot create NewReno: initialWindow is ${iw}, must be at least mss (${mss})`);
    }
    this.#iw = iw;
    this.#cwnd = iw;
  }

  /** Congestion window in bytes. */
  get cwnd(): number {
    return this.#cwnd;
  }

  /** Slow-start threshold in bytes (`Infinity` before the first loss). */
  get ssthresh(): number {
    return this.#ssthresh;
  }

  /** `cwnd < ssthresh`. */
  get inSlowStart(): boolean {
    return this.#cwnd < this.#ssthresh;
  }

  /** Between a congestion event and {@linkcode NewReno.onRecoveryExit}. */
  get inRecovery(): boolean {
    return this.#inRecovery;
  }

  /**
   * Grows the window for newly acknowledged bytes.
   *
   * @param _now Monotonic time in microseconds (unused by NewReno).
   * @param ackedBytes Bytes newly acknowledged.
   * @param _rttUs RTT sample or -1 (unused by NewReno).
   * @param inflightBytes Bytes in flight when the ACK arrived, or -1.
   *
   * @example Congestion avoidance adds 1 MSS per window of ACKed bytes
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new NewReno(1000);
   * cc.onCongestionEvent(0, 8000); // ssthresh = cwnd = 4000
   * cc.onRecoveryExit(1);
   * for (let i = 0; i < 4; i++) cc.onAck(2, 1000, -1, 4000);
   * assertEquals(cc.cwnd, 5000);
   * ```
   */
  onAck(_now: number, ackedBytes: number, _rttUs: number, inflightBytes: number): void {
    if (!(ackedBytes > 0)) return;
    this.#afterRto = false;
    if (this.#inRecovery) return;
    const slowStart = this.inSlowStart;
    if (!isCwndLimited(this.#cwnd, inflightBytes, this.mss, slowStart)) return;
    if (slowStart) {
      this.#cwnd += Math.min(ackedBytes, 2 * this.mss);
      return;
    }
    this.#bytesAcked += ackedBytes;
    if (this.#bytesAcked >= this.#cwnd) {
      this.#bytesAcked -= this.#cwnd;
      this.#cwnd += this.mss;
    }
  }

  /**
   * Halves the window: `ssthresh = cwnd = max(FlightSize/2, 2·MSS)`; enters recovery.
   *
   * @param _now Monotonic time in microseconds.
   * @param inflightBytes FlightSize in bytes.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new NewReno(1000);
   * cc.onCongestionEvent(0, 3000);
   * assertEquals(cc.cwnd, 2000); // floor of 2 MSS
   * ```
   */
  onCongestionEvent(_now: number, inflightBytes: number): void {
    this.#ssthresh = this.#halfFlight(inflightBytes);
    this.#cwnd = this.#ssthresh;
    this.#bytesAcked = 0;
    this.#inRecovery = true;
  }

  /**
   * Leaves recovery; the window is already deflated to `ssthresh`.
   *
   * @param _now Monotonic time in microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new NewReno(1000);
   * cc.onCongestionEvent(0, 10_000);
   * cc.onRecoveryExit(1);
   * assertEquals(cc.inRecovery, false);
   * ```
   */
  onRecoveryExit(_now: number): void {
    this.#inRecovery = false;
  }

  /**
   * Collapses to the loss window of 1 MSS and sets `ssthresh` from FlightSize.
   *
   * @param _now Monotonic time in microseconds.
   * @param inflightBytes FlightSize in bytes.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new NewReno(1000);
   * cc.onRetransmitTimeout(0, 10_000);
   * assertEquals([cc.cwnd, cc.ssthresh], [1000, 5000]);
   * cc.onRetransmitTimeout(1, 1000); // repeated timeout: ssthresh held
   * assertEquals(cc.ssthresh, 5000);
   * ```
   */
  onRetransmitTimeout(_now: number, inflightBytes: number): void {
    if (!this.#afterRto) this.#ssthresh = this.#halfFlight(inflightBytes);
    this.#cwnd = this.mss;
    this.#bytesAcked = 0;
    this.#inRecovery = false;
    this.#afterRto = true;
  }

  /**
   * A path change: keeps `cwnd` and `ssthresh`, ends recovery, clears the byte counter.
   *
   * @param _now Monotonic time in microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new NewReno(1000);
   * cc.onPathChange(0);
   * assertEquals(cc.cwnd, 10_000);
   * ```
   */
  onPathChange(_now: number): void {
    this.#bytesAcked = 0;
    this.#inRecovery = false;
  }

  /**
   * Back to the initial window and an infinite `ssthresh`.
   *
   * @param _now Monotonic time in microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new NewReno(1000);
   * cc.onRetransmitTimeout(0, 5000);
   * cc.reset(1);
   * assertEquals([cc.cwnd, cc.ssthresh], [10_000, Infinity]);
   * ```
   */
  reset(_now: number): void {
    this.#cwnd = this.#iw;
    this.#ssthresh = Infinity;
    this.#bytesAcked = 0;
    this.#inRecovery = false;
    this.#afterRto = false;
  }

  #halfFlight(inflightBytes: number): number {
    return Math.max(Math.floor(Math.max(0, inflightBytes) / 2), 2 * this.mss);
  }
}

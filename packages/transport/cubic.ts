/**
 * CUBIC congestion control as RFC 9438 specifies it: the cubic window
 * function, the Reno-friendly region, fast convergence and the timeout rule.
 * Windows are kept in bytes; the RFC's formulas run in MSS units and seconds.
 *
 * @module
 */

import { type CongestionControl, checkMss, initialWindow, isCwndLimited } from "./congestion_control.ts";

/** Options of a {@linkcode Cubic} controller. */
export interface CubicOptions {
  /** The constant C of RFC 9438 §4.2, in MSS/s³ (default 0.4). */
  readonly c?: number;
  /** The multiplicative decrease factor β_cubic of RFC 9438 §4.6 (default 0.7). */
  readonly beta?: number;
  /** Fast convergence of RFC 9438 §4.7 (default `true`). */
  readonly fastConvergence?: boolean;
  /** Initial window in bytes (default RFC 6928). */
  readonly initialWindow?: number;
}

/**
 * K of RFC 9438 §4.2 (Figure 2): the time in seconds the cubic function takes
 * to grow from `cwndEpoch` back to `wMax`: cbrt((W_max − cwnd_epoch) / C).
 * Zero when `cwndEpoch ≥ wMax`.
 *
 * @param wMax W_max in MSS.
 * @param cwndEpoch The window at the start of the epoch, in MSS.
 * @param c The constant C (default 0.4).
 * @returns K in seconds.
 *
 * @example After a loss at W_max = 100 MSS: K = cbrt(100·0.3/0.4) = cbrt(75)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(cubicK(100, 70).toFixed(4), "4.2172");
 * ```
 */
export function cubicK(wMax: number, cwndEpoch: number, c = 0.4): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / c) : 0;
}

/**
 * W_cubic(t) of RFC 9438 §4.2 (Figure 1): C·(t − K)³ + W_max, in MSS.
 *
 * @param t Seconds since the start of the epoch.
 * @param k K in seconds ({@linkcode cubicK}).
 * @param wMax W_max in MSS.
 * @param c The constant C (default 0.4).
 * @returns The cubic window in MSS.
 *
 * @example At t = K the window is W_max again
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(cubicWindow(5, 5, 100), 100);
 * assertEquals(cubicWindow(0, 5, 100), 50);
 * ```
 */
export function cubicWindow(t: number, k: number, wMax: number, c = 0.4): number {
  return c * (t - k) ** 3 + wMax;
}

/**
 * CUBIC (RFC 9438), a {@linkcode CongestionControl} plug-in.
 *
 * **Details** (section numbers of RFC 9438)
 * - Slow start as NewReno: `cwnd += min(acked, 2·MSS)` (§4.10, RFC 3465).
 * - Epoch: starts at the first ACK in congestion avoidance, with
 *   `cwnd_epoch = cwnd`, `W_est = cwnd` and K = cbrt((W_max − cwnd_epoch)/C);
 *   when W_max is unknown or ≤ cwnd (first epoch, after a timeout, after a
 *   path change) K = 0 and W_max = cwnd (§4.8, §4.10).
 * - Per ACK in congestion avoidance, with t = now − epoch start (seconds):
 *   W_est += α·acked/cwnd (MSS units), α = 3(1−β)/(1+β) until W_est ≥
 *   cwnd_prior, then 1 (§4.3). If W_cubic(t) < W_est the flow is in the
 *   Reno-friendly region and cwnd = W_est. Otherwise (concave when cwnd <
 *   W_max, convex above) target = W_cubic(t + RTT) clamped to
 *   [cwnd, 1.5·cwnd] and cwnd += (target − cwnd)/cwnd per MSS acked (§4.4,
 *   §4.5). RTT is the minimum RTT sample (as Linux uses); 0 before any sample.
 * - Congestion event (§4.6, §4.7): `cwnd_prior = cwnd`; W_max = cwnd·(1+β)/2
 *   if cwnd < W_max and fast convergence is on, else cwnd; `ssthresh =
 *   max(FlightSize·β, 2·MSS)`, `cwnd = ssthresh`; the epoch ends.
 * - Timeout (§4.8): ssthresh as for a congestion event (held on a repeated
 *   timeout), cwnd = 1 MSS, and the next epoch uses K = 0.
 * - Growth stops in recovery and while not cwnd-limited; time spent
 *   application-limited is cut out of t (§5.8).
 * - Not implemented: spurious-congestion undo (§4.9), HyStart++.
 *
 * @example A loss at 100 MSS, then the window regrows
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const cc = new Cubic(1000);
 * for (let i = 0; i < 90; i++) cc.onAck(0, 1000, 10_000, -1);
 * assertEquals(cc.cwnd, 100_000);
 * cc.onCongestionEvent(0, 100_000);
 * assertEquals([cc.cwnd, cc.ssthresh, cc.wMax], [70_000, 70_000, 100_000]);
 * ```
 */
export class Cubic implements CongestionControl {
  /** Always `"cubic"`. */
  readonly name = "cubic";
  /** Sender maximum segment size in bytes. */
  readonly mss: number;
  readonly #c: number;
  readonly #beta: number;
  readonly #alpha: number;
  readonly #fastConvergence: boolean;
  readonly #iw: number;
  #cwnd: number;
  #ssthresh = Infinity;
  #wMax = 0; // bytes; 0 = unknown
  #cwndPrior = 0; // bytes
  #k = 0; // seconds
  #wEst = 0; // bytes
  #epochStart = -1; // µs; -1 = no epoch
  #minRtt = -1; // µs
  #inRecovery = false;
  #afterRto = false;
  #appLimitedSince = -1;

  /**
   * Creates a CUBIC controller in slow start with the initial window.
   *
   * @param mss Sender maximum segment size in bytes.
   * @param opts C, β, fast convergence and initial window.
   * @throws {RangeError} When `mss` is not a positive integer, β is not in
   *   (0, 1), C is not positive or the initial window is below 1 MSS.
   */
  constructor(mss: number, opts: CubicOptions = {}) {
    this.mss = checkMss("CUBIC", mss);
    const beta = opts.beta ?? 0.7;
    if (!(beta > 0 && beta < 1)) throw new RangeError(`Cannot create CUBIC: beta is ${beta}, must be in (0, 1)`);
    const c = opts.c ?? 0.4;
    if (!(c > 0 && Number.isFinite(c))) throw new RangeError(`Cannot create CUBIC: c is ${c}, must be positive`);
    const iw = opts.initialWindow ?? initialWindow(mss);
    if (!(Number.isFinite(iw) && iw >= mss)) {
      throw new RangeError(`Cannot create CUBIC: initialWindow is ${iw}, must be at least mss (${mss})`);
    }
    this.#beta = beta;
    this.#c = c;
    this.#alpha = (3 * (1 - beta)) / (1 + beta);
    this.#fastConvergence = opts.fastConvergence ?? true;
    this.#iw = iw;
    this.#cwnd = iw;
  }

  /** Congestion window in whole bytes. */
  get cwnd(): number {
    return Math.floor(this.#cwnd);
  }

  /** Slow-start threshold in bytes (`Infinity` before the first loss). */
  get ssthresh(): number {
    return this.#ssthresh;
  }

  /** `cwnd < ssthresh`. */
  get inSlowStart(): boolean {
    return this.#cwnd < this.#ssthresh;
  }

  /** Between a congestion event and {@linkcode Cubic.onRecoveryExit}. */
  get inRecovery(): boolean {
    return this.#inRecovery;
  }

  /** W_max in bytes (0 while unknown). */
  get wMax(): number {
    return this.#wMax;
  }

  /** K of the current epoch in seconds (0 without an epoch). */
  get k(): number {
    return this.#k;
  }

  /** W_est of the Reno-friendly region in bytes (current epoch). */
  get wEst(): number {
    return this.#wEst;
  }

  /** Minimum RTT sample in microseconds, or -1 before any. */
  get minRttUs(): number {
    return this.#minRtt;
  }

  /**
   * Grows the window for newly acknowledged bytes (§4.2–§4.5, §4.10).
   *
   * @param now Monotonic time in microseconds.
   * @param ackedBytes Bytes newly acknowledged.
   * @param rttUs RTT sample in microseconds, or -1.
   * @param inflightBytes Bytes in flight when the ACK arrived, or -1.
   *
   * @example Concave growth toward W_max
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new Cubic(1000, { initialWindow: 100_000 });
   * cc.onCongestionEvent(0, 100_000); // cwnd 70 MSS, W_max 100 MSS
   * cc.onRecoveryExit(0);
   * for (let t = 0; t < 4_000_000; t += 10_000) cc.onAck(t, 1000, 10_000, -1);
   * assertEquals(cc.cwnd > 70_000 && cc.cwnd < 100_000, true);
   * ```
   */
  onAck(now: number, ackedBytes: number, rttUs: number, inflightBytes: number): void {
    if (!(ackedBytes > 0)) return;
    this.#afterRto = false;
    if (rttUs > 0 && (this.#minRtt < 0 || rttUs < this.#minRtt)) this.#minRtt = rttUs;
    if (this.#inRecovery) return;
    const slowStart = this.inSlowStart;
    if (!isCwndLimited(this.#cwnd, inflightBytes, this.mss, slowStart)) {
      if (this.#appLimitedSince < 0) this.#appLimitedSince = now;
      return;
    }
    if (this.#appLimitedSince >= 0) {
      if (this.#epochStart >= 0) this.#epochStart += now - this.#appLimitedSince;
      this.#appLimitedSince = -1;
    }
    if (slowStart) {
      this.#cwnd += Math.min(ackedBytes, 2 * this.mss);
      return;
    }
    const mss = this.mss;
    if (this.#epochStart < 0) {
      this.#epochStart = now;
      this.#wEst = this.#cwnd;
      if (this.#wMax <= this.#cwnd) {
        this.#k = 0;
        this.#wMax = this.#cwnd;
      } else {
        this.#k = cubicK(this.#wMax / mss, this.#cwnd / mss, this.#c);
      }
    }
    const t = (now - this.#epochStart) / 1e6;
    const rtt = Math.max(0, this.#minRtt) / 1e6;
    const wMaxSeg = this.#wMax / mss;
    const cwndSeg = this.#cwnd / mss;
    const alpha = this.#wEst >= this.#cwndPrior ? 1 : this.#alpha;
    this.#wEst += (alpha * ackedBytes * mss) / this.#cwnd;
    if (cubicWindow(t, this.#k, wMaxSeg, this.#c) * mss < this.#wEst) {
      this.#cwnd = Math.max(this.#cwnd, this.#wEst); // Reno-friendly region
      return;
    }
    const w = cubicWindow(t + rtt, this.#k, wMaxSeg, this.#c);
    const target = Math.min(Math.max(w, cwndSeg), 1.5 * cwndSeg);
    this.#cwnd += ((target - cwndSeg) / cwndSeg) * ackedBytes;
  }

  /**
   * Multiplicative decrease with fast convergence (§4.6, §4.7); enters recovery.
   *
   * @param _now Monotonic time in microseconds.
   * @param inflightBytes FlightSize in bytes.
   *
   * @example Fast convergence: a second loss below W_max lowers W_max further
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new Cubic(1000, { initialWindow: 100_000 });
   * cc.onCongestionEvent(0, 100_000); // W_max = 100 MSS, cwnd = 70 MSS
   * cc.onCongestionEvent(1, 70_000);  // 70 < 100: W_max = 70·1.7/2 = 59.5 MSS
   * assertEquals([Math.round(cc.wMax), cc.cwnd], [59_500, 49_000]);
   * ```
   */
  onCongestionEvent(_now: number, inflightBytes: number): void {
    const cwnd = this.#cwnd;
    this.#cwndPrior = cwnd;
    this.#wMax = this.#fastConvergence && cwnd < this.#wMax ? (cwnd * (1 + this.#beta)) / 2 : cwnd;
    this.#ssthresh = this.#reduced(inflightBytes);
    this.#cwnd = this.#ssthresh;
    this.#endEpoch();
    this.#inRecovery = true;
  }

  /**
   * Leaves recovery; growth resumes with a new epoch.
   *
   * @param _now Monotonic time in microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new Cubic(1000);
   * cc.onCongestionEvent(0, 10_000);
   * cc.onRecoveryExit(1);
   * assertEquals(cc.inRecovery, false);
   * ```
   */
  onRecoveryExit(_now: number): void {
    this.#inRecovery = false;
  }

  /**
   * Timeout (§4.8): ssthresh = max(FlightSize·β, 2·MSS), cwnd = 1 MSS; the
   * next epoch starts with K = 0 and W_max = cwnd.
   *
   * @param _now Monotonic time in microseconds.
   * @param inflightBytes FlightSize in bytes.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new Cubic(1000);
   * cc.onRetransmitTimeout(0, 10_000);
   * assertEquals([cc.cwnd, cc.ssthresh, cc.inSlowStart], [1000, 7000, true]);
   * ```
   */
  onRetransmitTimeout(_now: number, inflightBytes: number): void {
    if (!this.#afterRto) {
      this.#ssthresh = this.#reduced(inflightBytes);
      this.#cwndPrior = this.#cwnd;
    }
    this.#wMax = 0;
    this.#cwnd = this.mss;
    this.#endEpoch();
    this.#inRecovery = false;
    this.#afterRto = true;
  }

  /**
   * A path change: keeps `cwnd` and `ssthresh`; forgets W_max and the
   * minimum RTT of the old path, ends the epoch and any recovery, so the
   * next epoch probes from the current window with K = 0 (as after a
   * timeout, but without collapsing the window).
   *
   * @param _now Monotonic time in microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new Cubic(1000);
   * cc.onAck(0, 1000, 50_000, -1);
   * cc.onPathChange(1);
   * assertEquals([cc.cwnd, cc.minRttUs, cc.wMax], [11_000, -1, 0]);
   * ```
   */
  onPathChange(_now: number): void {
    this.#wMax = 0;
    this.#cwndPrior = Math.min(this.#cwndPrior, this.#cwnd);
    this.#minRtt = -1;
    this.#endEpoch();
    this.#inRecovery = false;
  }

  /**
   * Back to the initial state.
   *
   * @param _now Monotonic time in microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cc = new Cubic(1000);
   * cc.onRetransmitTimeout(0, 50_000);
   * cc.reset(1);
   * assertEquals([cc.cwnd, cc.ssthresh, cc.wMax], [10_000, Infinity, 0]);
   * ```
   */
  reset(_now: number): void {
    this.#cwnd = this.#iw;
    this.#ssthresh = Infinity;
    this.#wMax = 0;
    this.#cwndPrior = 0;
    this.#minRtt = -1;
    this.#endEpoch();
    this.#inRecovery = false;
    this.#afterRto = false;
  }

  #reduced(inflightBytes: number): number {
    return Math.max(Math.round(Math.max(0, inflightBytes) * this.#beta), 2 * this.mss);
  }

  #endEpoch(): void {
    this.#epochStart = -1;
    this.#k = 0;
    this.#wEst = 0;
    this.#appLimitedSince = -1;
  }
}

/**
 * Retransmission timeout from round-trip samples: the Jacobson/Karels
 * estimator as RFC 6298 specifies it, in microseconds. The SAL uses it for
 * control packets (SYN, SYN-ACK, FIN, RSYN; facts §3.4) with the 2014 bounds
 * of 200 ms and 120 s and an initial 1 s (RFC 6298 §2.1; the 2014 code
 * started at 3 s).
 *
 * @module
 */

/** Options of an {@linkcode RtoEstimator}; all times in microseconds. */
export interface RtoOptions {
  /** Lower bound of the RTO (default 200 ms). */
  readonly minUs?: number;
  /** Upper bound of the RTO, also of any backed-off timeout (default 120 s). */
  readonly maxUs?: number;
  /** RTO before the first sample (default 1 s). */
  readonly initialUs?: number;
  /** Clock granularity G of RFC 6298 (default 1 ms). */
  readonly granularityUs?: number;
}

/**
 * RFC 6298 RTO estimation with exponential back-off.
 *
 * Feed it only samples of packets that were not retransmitted (Karn's
 * algorithm): the caller knows which those are.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const e = new RtoEstimator();
 * assertEquals(e.rtoUs, 1_000_000);
 * e.sample(100_000); // first sample: SRTT = R, RTTVAR = R/2, RTO = R + 4 RTTVAR = 300 ms
 * assertEquals(e.rtoUs, 300_000);
 * assertEquals(e.backedOffUs(2), 1_200_000);
 * ```
 */
export class RtoEstimator {
  readonly #min: number;
  readonly #max: number;
  readonly #initial: number;
  readonly #g: number;
  #srtt = -1;
  #rttvar = 0;
  #rto: number;

  /**
   * @param opts Bounds and initial value (microseconds).
   * @throws {RangeError} When the bounds are not ordered positive numbers.
   */
  constructor(opts: RtoOptions = {}) {
    this.#min = opts.minUs ?? 200_000;
    this.#max = opts.maxUs ?? 120_000_000;
    this.#initial = opts.initialUs ?? 1_000_000;
    this.#g = opts.granularityUs ?? 1_000;
    if (!(this.#min > 0 && this.#min <= this.#initial && this.#initial <= this.#max)) {
      throw new RangeError(
        `Cannot make RTO estimator: need 0 < min (${this.#min}) <= initial (${this.#initial}) <= max (${this.#max})`,
      );
    }
    this.#rto = this.#initial;
  }

  /** Smoothed RTT in microseconds, or -1 before the first sample. */
  get srttUs(): number {
    return this.#srtt;
  }

  /** RTT variation in microseconds. */
  get rttvarUs(): number {
    return this.#rttvar;
  }

  /** The current RTO in microseconds (bounded). */
  get rtoUs(): number {
    return this.#rto;
  }

  /**
   * Takes one round-trip sample (RFC 6298 §2.2–2.3).
   *
   * @param rttUs The measured round trip, microseconds (negative values are ignored).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const e = new RtoEstimator({ minUs: 1 , initialUs: 10, maxUs: 1e9 });
   * e.sample(400_000); e.sample(400_000);
   * assertEquals(e.srttUs, 400_000);
   * ```
   */
  sample(rttUs: number): void {
    if (!(rttUs >= 0)) return;
    if (this.#srtt < 0) {
      this.#srtt = rttUs;
      this.#rttvar = rttUs / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rttUs);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rttUs;
    }
    const rto = this.#srtt + Math.max(this.#g, 4 * this.#rttvar);
    this.#rto = Math.round(Math.min(this.#max, Math.max(this.#min, rto)));
  }

  /**
   * The timeout after `backoffs` consecutive expiries: RTO × 2^backoffs,
   * at most the maximum (RFC 6298 §5.5).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new RtoEstimator().backedOffUs(10), 120_000_000);
   * ```
   */
  backedOffUs(backoffs: number): number {
    return Math.min(this.#max, this.#rto * 2 ** Math.min(backoffs, 30));
  }

  /**
   * Forgets the samples (a flow that moved to a new path, facts §3.7).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const e = new RtoEstimator(); e.sample(5000); e.reset();
   * assertEquals(e.rtoUs, 1_000_000);
   * ```
   */
  reset(): void {
    this.#srtt = -1;
    this.#rttvar = 0;
    this.#rto = this.#initial;
  }
}

/**
 * The congestion-control plug-in interface of Serval TCP, and the helpers
 * that the plug-ins share. A plug-in is a pure state machine: the sender
 * feeds it ACKs, congestion events and timeouts with `now` in monotonic
 * microseconds, and reads {@linkcode CongestionControl.cwnd} back.
 *
 * **Migration** (facts: the 2014 code kept `snd_mig_last`): when a flow moves
 * to a new path the sender records a migration mark (the highest sequence
 * number sent on the old path) and calls
 * {@linkcode CongestionControl.onPathChange}. Losses of segments below the
 * mark were caused by the move, not by congestion, so the sender simply does
 * NOT call {@linkcode CongestionControl.onCongestionEvent} (nor
 * {@linkcode CongestionControl.onRetransmitTimeout}) for them; it only
 * retransmits. The plug-in never sees sequence numbers.
 *
 * @module
 */

/**
 * A congestion controller of one stream: windows in bytes, time in
 * microseconds. Implementations: {@linkcode NewReno} and {@linkcode Cubic}.
 *
 * **Details** — call protocol of the sender:
 * - `onAck` for every ACK that advances the cumulative ACK point or SACKs new
 *   data, with the newly acknowledged bytes. During recovery (between
 *   `onCongestionEvent` and `onRecoveryExit`) the window does not grow.
 * - `onCongestionEvent` at most once per window of data (fast retransmit, a
 *   SACK-detected loss, an ECN echo), and never for segments below the
 *   migration mark.
 * - `onRecoveryExit` when the ACK point passes the recovery point.
 * - `onRetransmitTimeout` when the RTO expires (again, not for segments below
 *   the migration mark).
 * - `onPathChange` when the flow migrates; `reset` for a fresh connection.
 *
 * @example Drive a controller through slow start
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { NewReno, type CongestionControl } from "@serval/transport";
 * const cc: CongestionControl = new NewReno(1000);
 * assertEquals(cc.cwnd, 10_000);
 * cc.onAck(0, 1000, 20_000, 10_000);
 * assertEquals(cc.cwnd, 11_000);
 * ```
 */
export interface CongestionControl {
  /** Name of the algorithm, e.g. `"cubic"`. */
  readonly name: string;
  /** Sender maximum segment size in bytes (SMSS). */
  readonly mss: number;
  /** Congestion window in whole bytes. */
  readonly cwnd: number;
  /** Slow-start threshold in bytes (`Infinity` until the first congestion event). */
  readonly ssthresh: number;
  /** Whether the window grows by slow start (`cwnd < ssthresh`). */
  readonly inSlowStart: boolean;
  /** Whether a congestion event is being recovered from (no growth). */
  readonly inRecovery: boolean;
  /**
   * Newly acknowledged data.
   *
   * @param now Monotonic time in microseconds.
   * @param ackedBytes Bytes newly acknowledged (cumulatively or by SACK).
   * @param rttUs A valid RTT sample in microseconds (Karn), or -1 for none.
   * @param inflightBytes Bytes in flight when the ACK arrived (including
   *   `ackedBytes`); used to hold the window when the application, not the
   *   window, limits the flow. Pass -1 when unknown (treated as limited).
   */
  onAck(now: number, ackedBytes: number, rttUs: number, inflightBytes: number): void;
  /**
   * A congestion event (loss by fast retransmit or SACK, ECN): reduce the
   * window and enter recovery. Call at most once per window of data.
   *
   * @param now Monotonic time in microseconds.
   * @param inflightBytes FlightSize when the loss was detected, in bytes.
   */
  onCongestionEvent(now: number, inflightBytes: number): void;
  /**
   * The recovery point was acknowledged: growth may resume.
   *
   * @param now Monotonic time in microseconds.
   */
  onRecoveryExit(now: number): void;
  /**
   * The retransmission timer expired: collapse to the loss window (1 MSS).
   *
   * @param now Monotonic time in microseconds.
   * @param inflightBytes FlightSize when the timer expired, in bytes.
   */
  onRetransmitTimeout(now: number, inflightBytes: number): void;
  /**
   * The flow moved to a new path. Both plug-ins keep `cwnd` and `ssthresh`
   * (a move is not congestion) but restart their growth state: any recovery
   * ends, and CUBIC starts a new epoch and forgets its minimum RTT. If the
   * new path is narrower, its first real loss (above the migration mark)
   * reduces the window as usual.
   *
   * @param now Monotonic time in microseconds.
   */
  onPathChange(now: number): void;
  /**
   * Back to the initial state (initial window, infinite ssthresh).
   *
   * @param now Monotonic time in microseconds.
   */
  reset(now: number): void;
}

/**
 * Makes a fresh controller for a stream with the given MSS.
 *
 * @example A factory picks the algorithm
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Cubic, type CongestionControlFactory } from "@serval/transport";
 * const make: CongestionControlFactory = (mss) => new Cubic(mss);
 * assertEquals(make(1460).name, "cubic");
 * ```
 */
export type CongestionControlFactory = (mss: number) => CongestionControl;

/**
 * The initial window of RFC 6928: min(10·MSS, max(2·MSS, 14600)) bytes.
 *
 * @param mss Sender maximum segment size in bytes.
 * @returns The initial congestion window in bytes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(initialWindow(1460), 14_600);
 * assertEquals(initialWindow(1000), 10_000);
 * assertEquals(initialWindow(9000), 18_000);
 * ```
 */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14_600));
}

/**
 * Whether the window, not the application, limits the flow, so that the
 * window may grow (RFC 7661's rule, in Linux's form): in slow start when at
 * least half the window is in flight, in congestion avoidance when the
 * window is within 3 MSS of full. A negative `inflightBytes` means unknown
 * and counts as limited.
 *
 * @param cwnd Congestion window in bytes.
 * @param inflightBytes Bytes in flight, or -1 when unknown.
 * @param mss Sender maximum segment size in bytes.
 * @param inSlowStart Whether the controller is in slow start.
 * @returns `true` when the window may grow.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(isCwndLimited(10_000, 10_000, 1000, false), true);
 * assertEquals(isCwndLimited(10_000, 2_000, 1000, false), false);
 * assertEquals(isCwndLimited(10_000, 6_000, 1000, true), true);
 * ```
 */
export function isCwndLimited(cwnd: number, inflightBytes: number, mss: number, inSlowStart: boolean): boolean {
  if (inflightBytes < 0) return true;
  return inSlowStart ? 2 * inflightBytes >= cwnd : inflightBytes + 3 * mss >= cwnd;
}

/**
 * Checks an MSS for a controller constructor.
 *
 * @param what The algorithm name for the message, e.g. `"CUBIC"`.
 * @param mss The value to check.
 * @returns `mss` when it is a positive safe integer.
 * @throws {RangeError} Otherwise: `Cannot create CUBIC: mss is 0, must be a positive integer`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * assertEquals(checkMss("NewReno", 1460), 1460);
 * assertThrows(() => checkMss("NewReno", 0), RangeError);
 * ```
 */
export function checkMss(what: string, mss: number): number {
  if (!(Number.isSafeInteger(mss) && mss > 0)) {
    throw new RangeError(`Cannot create ${what}: mss is ${mss}, must be a positive integer`);
  }
  return mss;
}

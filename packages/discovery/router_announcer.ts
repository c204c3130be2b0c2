/**
 * {@linkcode RouterAnnouncer}: a service router telling hosts on its links
 * that it exists: a `router-announce` by broadcast every interval, and at
 * once (unicast) to a host that solicits.
 *
 * @module
 */

import type { ControlMessage, Locator } from "@serval/wire";
import type { ControlTransmit } from "./control_transmit.ts";

/** Options of a {@linkcode RouterAnnouncer}; times in microseconds. */
export interface RouterAnnouncerOptions {
  /** Changes every time the router starts (drawn by the caller): hosts re-register when it changes. */
  readonly bootId: number;
  /** Our locators, announced (empty: hosts use the packet's source). */
  readonly locators?: readonly Locator[];
  /** Between announcements (default 1 s). */
  readonly intervalUs?: number;
  /** How long hosts may believe an announcement, ms (default 3 intervals). */
  readonly lifetimeMs?: number;
  /** Preference among routers: higher wins (default 0). */
  readonly priority?: number;
  /** Most solicitations answered per interval (default 64); more are ignored (a flood costs one interval's budget). */
  readonly maxAnswersPerInterval?: number;
}

/**
 * The announcing side of router discovery.
 *
 * @example Announce at start, answer a solicitation, say goodbye
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RouterAnnouncer } from "@serval/discovery";
 * const a = new RouterAnnouncer({ bootId: 42 });
 * a.start(0);
 * assertEquals(a.pollTransmit()?.to, "broadcast");
 * assertEquals(a.pollTimeout(), 1_000_000);
 * const host = { address: new Uint8Array([198, 18, 0, 9]), port: 0 };
 * a.handleMessage(10, { type: "router-solicit", seq: 1 }, host);
 * assertEquals(a.pollTransmit()?.to, host);
 * a.stop(20);
 * const bye = a.pollTransmit()!.message;
 * assertEquals(bye.type === "router-announce" ? bye.lifetimeMs : -1, 0);
 * assertEquals(a.pollTimeout(), undefined);
 * ```
 */
export class RouterAnnouncer {
  readonly #bootId: number;
  readonly #intervalUs: number;
  readonly #lifetimeMs: number;
  readonly #priority: number;
  readonly #maxAnswers: number;
  #locators: readonly Locator[];
  #out: ControlTransmit[] = [];
  #nextAt = -1;
  #answered = 0;
  #seq = 0;
  /** Solicitations ignored because of the per-interval budget. */
  ignoredSolicitations = 0;

  /**
   * @param opts Boot id, locators, timing, priority.
   * @throws {RangeError} On an interval or lifetime that is not positive.
   */
  constructor(opts: RouterAnnouncerOptions) {
    this.#bootId = opts.bootId >>> 0;
    this.#intervalUs = opts.intervalUs ?? 1_000_000;
    if (!(this.#intervalUs > 0)) throw new RangeError(`Cannot create announcer: interval is ${this.#intervalUs} µs, must be positive`);
    this.#lifetimeMs = opts.lifetimeMs ?? Math.ceil((3 * this.#intervalUs) / 1000);
    if (!(this.#lifetimeMs > 0)) throw new RangeError(`Cannot create announcer: lifetime is ${this.#lifetimeMs} ms, must be positive`);
    this.#priority = opts.priority ?? 0;
    this.#maxAnswers = opts.maxAnswersPerInterval ?? 64;
    this.#locators = opts.locators ?? [];
  }

  /** Starts announcing: one now, then every interval. */
  start(now: number): void {
    this.#announce("broadcast", this.#lifetimeMs);
    this.#nextAt = now + this.#intervalUs;
  }

  /** Changes the announced locators (an address came or went) and announces at once. */
  setLocators(now: number, locators: readonly Locator[]): void {
    this.#locators = locators;
    if (this.#nextAt >= 0) this.start(now);
  }

  /** Stops: a last announcement with lifetime 0 makes hosts forget us at once. */
  stop(_now: number): void {
    if (this.#nextAt < 0) return;
    this.#nextAt = -1;
    this.#announce("broadcast", 0);
  }

  /** A control message for us: solicitations are answered. */
  handleMessage(_now: number, msg: ControlMessage, from: Locator): void {
    if (msg.type !== "router-solicit" || this.#nextAt < 0) return;
    if (this.#answered >= this.#maxAnswers) {
      this.ignoredSolicitations++;
      return;
    }
    this.#answered++;
    this.#announce(from, this.#lifetimeMs);
  }

  /** Next message to send. */
  pollTransmit(): ControlTransmit | undefined {
    return this.#out.shift();
  }

  /** Next announcement time. */
  pollTimeout(): number | undefined {
    return this.#nextAt >= 0 ? this.#nextAt : undefined;
  }

  /** Sends the periodic announcement when due. */
  handleTimeout(now: number): void {
    if (this.#nextAt < 0 || now < this.#nextAt) return;
    this.#answered = 0;
    this.#announce("broadcast", this.#lifetimeMs);
    this.#nextAt = now + this.#intervalUs;
  }

  #announce(to: Locator | "broadcast", lifetimeMs: number): void {
    this.#seq = (this.#seq + 1) >>> 0;
    this.#out.push({
      to,
      message: {
        type: "router-announce",
        seq: this.#seq,
        lifetimeMs,
        bootId: this.#bootId,
        priority: this.#priority,
        locators: this.#locators,
      },
    });
  }
}

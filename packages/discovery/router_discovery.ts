/**
 * {@linkcode RouterDiscovery}: a host finding its service routers on its
 * own. It solicits by broadcast (with back-off) until a router answers,
 * believes each announcement for its lifetime, and reports routers coming,
 * going (announcements stopped, or a goodbye with lifetime 0) and
 * restarting (a new boot id: their registrations are gone).
 *
 * @module
 */

import type { ControlMessage, Locator } from "@serval/wire";
import { locatorKey } from "@serval/wire";
import type { ControlTransmit } from "./control_transmit.ts";

/** A router we know of. */
export interface KnownRouter {
  /** Map key: the announcement's source. */
  readonly key: string;
  /** Where to send to reach it: the source of its announcements. */
  readonly locator: Locator;
  /** The locators it announced. */
  readonly announced: readonly Locator[];
  readonly bootId: number;
  /** Higher wins. */
  readonly priority: number;
  /** When it was first heard (µs). */
  readonly since: number;
  /** When its last announcement runs out (µs). */
  readonly expiresAt: number;
}

/** What changed among our routers. */
export type DiscoveryEvent =
  | { readonly type: "router-up"; readonly router: KnownRouter }
  | { readonly type: "router-down"; readonly router: KnownRouter }
  | { readonly type: "router-restarted"; readonly router: KnownRouter }
  /** The same router (same boot) now announces another priority. */
  | { readonly type: "router-priority"; readonly router: KnownRouter };

/** Options of a {@linkcode RouterDiscovery}; times in microseconds. */
export interface RouterDiscoveryOptions {
  /** First solicitation retry (default 1 s), doubling up to `maxSolicitIntervalUs`. */
  readonly solicitIntervalUs?: number;
  /** Longest gap between solicitations while no router is known (default 16 s). */
  readonly maxSolicitIntervalUs?: number;
  /** Longest announcement lifetime believed, ms (default 60 000: a forged one cannot pin a router for weeks). */
  readonly maxLifetimeMs?: number;
  /** Most routers known at once (default 16): a flood of spoofed announcements cannot grow the list. */
  readonly maxRouters?: number;
}

/**
 * The host side of router discovery.
 *
 * @example A router appears, restarts, and says goodbye
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RouterDiscovery } from "@serval/discovery";
 * const d = new RouterDiscovery();
 * d.start(0);
 * assertEquals(d.pollTransmit()?.message.type, "router-solicit");
 * const r = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
 * const announce = (bootId: number, lifetimeMs: number) =>
 *   ({ type: "router-announce" as const, seq: 1, lifetimeMs, bootId, priority: 0, locators: [] });
 * d.handleMessage(5, announce(7, 3000), r);
 * assertEquals(d.pollEvent()?.type, "router-up");
 * assertEquals(d.primary()?.key, "198.18.0.1");
 * d.handleMessage(6, announce(8, 3000), r);
 * assertEquals(d.pollEvent()?.type, "router-restarted");
 * d.handleMessage(7, announce(8, 0), r);
 * assertEquals(d.pollEvent()?.type, "router-down");
 * assertEquals(d.routers().length, 0);
 * ```
 */
export class RouterDiscovery {
  readonly #firstUs: number;
  readonly #maxUs: number;
  readonly #maxLifetimeMs: number;
  readonly #maxRouters: number;
  readonly #routers = new Map<string, KnownRouter>();
  #out: ControlTransmit[] = [];
  #events: DiscoveryEvent[] = [];
  #solicitAt = -1;
  #solicitGap = 0;
  #seq = 0;

  /**
   * @param opts Solicitation timing.
   * @throws {RangeError} On intervals that are not positive.
   */
  constructor(opts: RouterDiscoveryOptions = {}) {
    this.#firstUs = opts.solicitIntervalUs ?? 1_000_000;
    this.#maxUs = opts.maxSolicitIntervalUs ?? 16_000_000;
    this.#maxLifetimeMs = opts.maxLifetimeMs ?? 60_000;
    this.#maxRouters = opts.maxRouters ?? 16;
    if (!(this.#firstUs > 0 && this.#maxUs >= this.#firstUs)) {
      throw new RangeError(`Cannot create router discovery: intervals ${this.#firstUs}/${this.#maxUs} µs, need 0 < first <= max`);
    }
  }

  /** Solicits now, and again (backing off) until a router is known. */
  start(now: number): void {
    this.#solicitGap = this.#firstUs;
    this.#solicit(now);
  }

  /** Stops soliciting and forgets every router (no events). */
  stop(): void {
    this.#solicitAt = -1;
    this.#routers.clear();
  }

  /** Known routers, best first (priority, then the longest known). */
  routers(): KnownRouter[] {
    return [...this.#routers.values()].sort((a, b) => b.priority - a.priority || a.since - b.since);
  }

  /** The best router, if any. */
  primary(): KnownRouter | undefined {
    return this.routers()[0];
  }

  /** A control message for us: announcements are used. */
  handleMessage(now: number, msg: ControlMessage, from: Locator): void {
    if (msg.type !== "router-announce") return;
    const key = locatorKey(from);
    const old = this.#routers.get(key);
    if (msg.lifetimeMs === 0) {
      if (old) {
        this.#routers.delete(key);
        this.#events.push({ type: "router-down", router: old });
        this.#afterLoss(now);
      }
      return;
    }
    if (!old && this.#routers.size >= this.#maxRouters) return;
    const r: KnownRouter = {
      key,
      locator: old?.locator ?? { address: from.address.slice(), port: from.port },
      announced: msg.locators,
      bootId: msg.bootId,
      priority: msg.priority,
      since: old?.since ?? now,
      expiresAt: now + Math.min(msg.lifetimeMs, this.#maxLifetimeMs) * 1000,
    };
    this.#routers.set(key, r);
    if (!old) this.#events.push({ type: "router-up", router: r });
    else if (old.bootId !== msg.bootId) this.#events.push({ type: "router-restarted", router: r });
    if (old && old.priority !== msg.priority) this.#events.push({ type: "router-priority", router: r });
    this.#solicitAt = -1;
  }

  /** Next message to send. */
  pollTransmit(): ControlTransmit | undefined {
    return this.#out.shift();
  }

  /** Next change. */
  pollEvent(): DiscoveryEvent | undefined {
    return this.#events.shift();
  }

  /** The next solicitation or expiry. */
  pollTimeout(): number | undefined {
    let t = this.#solicitAt >= 0 ? this.#solicitAt : Infinity;
    for (const r of this.#routers.values()) if (r.expiresAt < t) t = r.expiresAt;
    return t === Infinity ? undefined : t;
  }

  /** Expires silent routers; solicits when due. */
  handleTimeout(now: number): void {
    let lost = false;
    for (const [k, r] of this.#routers) {
      if (r.expiresAt <= now) {
        this.#routers.delete(k);
        this.#events.push({ type: "router-down", router: r });
        lost = true;
      }
    }
    if (lost) this.#afterLoss(now);
    if (this.#solicitAt >= 0 && now >= this.#solicitAt) {
      this.#solicitGap = Math.min(this.#solicitGap * 2, this.#maxUs);
      this.#solicit(now);
    }
  }

  /** With no router left, look for one again at once. */
  #afterLoss(now: number): void {
    if (this.#routers.size > 0 || this.#solicitGap === 0) return;
    this.#solicitGap = this.#firstUs;
    this.#solicit(now);
  }

  #solicit(now: number): void {
    this.#seq = (this.#seq + 1) >>> 0;
    this.#out.push({ to: "broadcast", message: { type: "router-solicit", seq: this.#seq } });
    this.#solicitAt = now + this.#solicitGap;
  }
}

/**
 * {@linkcode ServiceRegistrar}: a host's service controller towards its
 * routers. What the host serves (its listeners' prefixes) is registered at
 * every router as a lease, refreshed every interval, withdrawn at once when
 * the listener closes, and registered again at once when a router appears
 * or restarts, or our locators change.
 *
 * Lease arithmetic: with the defaults (refresh 0.8 s, lifetime 2.5 s) a
 * host that dies silently is forgotten by its routers 1.7–2.5 s later —
 * within 3 s with room for timer slack — and two lost refreshes in a row are
 * survived (the third comes at 2.4 s).
 *
 * @module
 */

import type { ControlMessage, Locator, ServiceEntry, ServicePrefix } from "@serval/wire";
import { locatorKey } from "@serval/wire";
import type { ControlTransmit } from "./control_transmit.ts";

/** Options of a {@linkcode ServiceRegistrar}; times in microseconds. */
export interface ServiceRegistrarOptions {
  /** Between refreshes (default 0.8 s). */
  readonly refreshUs?: number;
  /** Lease lifetime asked for, ms (default 2500). */
  readonly lifetimeMs?: number;
  /** Services per message (default 24, about 1 KB: one datagram). */
  readonly servicesPerMessage?: number;
}

/** What a router said about our registrations. */
export type RegistrarEvent =
  | { readonly type: "registered"; readonly router: Locator; readonly lifetimeMs: number }
  | { readonly type: "refused"; readonly router: Locator };

/**
 * The registering side of the service controller.
 *
 * @example Register, refresh, withdraw
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceRegistrar } from "@serval/discovery";
 * import { ServicePrefix } from "@serval/wire";
 * const reg = new ServiceRegistrar();
 * const router = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
 * reg.addRouter(0, router);
 * reg.bind(0, { prefix: ServicePrefix.parse("web.example/64"), priority: 0, weight: 2 });
 * const m = reg.pollTransmit()!.message;
 * assertEquals(m.type === "register" ? [m.services.length, m.lifetimeMs] : [], [1, 2500]);
 * assertEquals(reg.pollTimeout(), 800_000);
 * reg.unbind(5, ServicePrefix.parse("web.example/64"));
 * assertEquals(reg.pollTransmit()?.message.type, "unregister");
 * ```
 */
export class ServiceRegistrar {
  readonly #refreshUs: number;
  readonly #lifetimeMs: number;
  readonly #perMessage: number;
  readonly #services = new Map<string, ServiceEntry>();
  readonly #routers = new Map<string, Locator>();
  #locators: readonly Locator[] = [];
  #out: ControlTransmit[] = [];
  #events: RegistrarEvent[] = [];
  #refreshAt = -1;
  #seq = 0;

  /**
   * @param opts Timing and message size.
   * @throws {RangeError} On values out of range.
   */
  constructor(opts: ServiceRegistrarOptions = {}) {
    this.#refreshUs = opts.refreshUs ?? 800_000;
    this.#lifetimeMs = opts.lifetimeMs ?? 2500;
    this.#perMessage = opts.servicesPerMessage ?? 24;
    if (!(this.#refreshUs > 0)) throw new RangeError(`Cannot create registrar: refresh is ${this.#refreshUs} µs, must be positive`);
    if (!(Number.isInteger(this.#lifetimeMs) && this.#lifetimeMs > 0)) {
      throw new RangeError(`Cannot create registrar: lifetime is ${this.#lifetimeMs} ms, must be a positive integer`);
    }
    if (!(Number.isInteger(this.#perMessage) && this.#perMessage >= 1 && this.#perMessage <= 255)) {
      throw new RangeError(`Cannot create registrar: ${this.#perMessage} services per message, must be 1..255`);
    }
  }

  /** Registered services. */
  services(): ServiceEntry[] {
    return [...this.#services.values()];
  }

  /** Routers registered with. */
  routers(): Locator[] {
    return [...this.#routers.values()];
  }

  /**
   * Sets the locators sent in registrations (empty: routers use the
   * packet's source address); re-registers everywhere when they change.
   * `withdrawn` are locators we no longer have (an address that went away):
   * their leases are unregistered at once, by name, rather than left to
   * expire while routers send new flows to a dead address.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ServiceRegistrar } from "@serval/discovery";
   * import { ServicePrefix } from "@serval/wire";
   * const reg = new ServiceRegistrar();
   * reg.addRouter(0, { address: new Uint8Array([198, 18, 0, 1]), port: 0 });
   * reg.bind(0, { prefix: ServicePrefix.parse("web.example"), priority: 0, weight: 1 });
   * reg.pollTransmit();
   * const old = { address: new Uint8Array([198, 18, 0, 7]), port: 0 };
   * reg.setLocators(1, [], [old]);
   * const m = reg.pollTransmit()!.message;
   * assertEquals(m.type === "unregister" ? m.locators : [], [old]);
   * assertEquals(reg.pollTransmit()?.message.type, "register");
   * ```
   */
  setLocators(now: number, locators: readonly Locator[], withdrawn: readonly Locator[] = []): void {
    this.#locators = locators;
    for (const r of this.#routers.values()) {
      if (withdrawn.length > 0) {
        const all = this.services();
        for (let i = 0; i < all.length; i += this.#perMessage) this.#send(r, "unregister", all.slice(i, i + this.#perMessage), 0, withdrawn);
      }
      this.#register(r);
    }
    this.#arm(now);
  }

  /** A service to register (a listener opened). Registers at once. */
  bind(now: number, entry: ServiceEntry): void {
    this.#services.set(entry.prefix.toString(), entry);
    for (const r of this.#routers.values()) this.#send(r, "register", [entry], this.#lifetimeMs);
    this.#arm(now);
  }

  /** A service to withdraw (its listener closed). Unregisters at once. */
  unbind(now: number, prefix: ServicePrefix): void {
    const e = this.#services.get(prefix.toString());
    if (!e) return;
    this.#services.delete(prefix.toString());
    for (const r of this.#routers.values()) this.#send(r, "unregister", [e], 0);
    this.#arm(now);
  }

  /** A router to register with (discovered or configured): registers at once. */
  addRouter(now: number, router: Locator): void {
    this.#routers.set(locatorKey(router), router);
    this.#register(router);
    this.#arm(now);
  }

  /** A router restarted and lost our leases: registers again at once. */
  routerRestarted(now: number, router: Locator): void {
    if (!this.#routers.has(locatorKey(router))) return this.addRouter(now, router);
    this.#register(router);
  }

  /** A router went away: nothing more is sent to it. */
  removeRouter(now: number, router: Locator): void {
    this.#routers.delete(locatorKey(router));
    this.#arm(now);
  }

  /** Withdraws everything from every router (shutdown). */
  stop(_now: number): void {
    const all = this.services();
    for (const r of this.#routers.values()) this.#sendChunks(r, "unregister", all, 0);
    this.#services.clear();
    this.#refreshAt = -1;
  }

  /** A control message for us: acknowledgements become events. */
  handleMessage(_now: number, msg: ControlMessage, from: Locator): void {
    if (msg.type !== "register-ack" || !this.#routers.has(locatorKey(from))) return;
    this.#event(msg.ok ? { type: "registered", router: from, lifetimeMs: msg.lifetimeMs } : { type: "refused", router: from });
  }

  /** Next message to send. */
  pollTransmit(): ControlTransmit | undefined {
    return this.#out.shift();
  }

  /** Next acknowledgement news. */
  pollEvent(): RegistrarEvent | undefined {
    return this.#events.shift();
  }

  /** Next refresh. */
  pollTimeout(): number | undefined {
    return this.#refreshAt >= 0 ? this.#refreshAt : undefined;
  }

  /** Refreshes every lease when due. */
  handleTimeout(now: number): void {
    if (this.#refreshAt < 0 || now < this.#refreshAt) return;
    for (const r of this.#routers.values()) this.#register(r);
    this.#refreshAt = now + this.#refreshUs;
  }

  /** Refreshing is needed only while there is something to refresh somewhere. */
  #arm(now: number): void {
    if (this.#services.size === 0 || this.#routers.size === 0) this.#refreshAt = -1;
    else if (this.#refreshAt < 0) this.#refreshAt = now + this.#refreshUs;
  }

  #register(router: Locator): void {
    this.#sendChunks(router, "register", this.services(), this.#lifetimeMs);
  }

  #sendChunks(router: Locator, type: "register" | "unregister", all: readonly ServiceEntry[], lifetimeMs: number): void {
    for (let i = 0; i < all.length; i += this.#perMessage) {
      this.#send(router, type, all.slice(i, i + this.#perMessage), lifetimeMs);
    }
  }

  #send(router: Locator, type: "register" | "unregister", services: readonly ServiceEntry[], lifetimeMs: number, locators = this.#locators): void {
    this.#seq = (this.#seq + 1) >>> 0;
    this.#out.push({ to: router, message: { type, seq: this.#seq, lifetimeMs, services, locators } });
  }

  /** Queues news for {@linkcode pollEvent}, the oldest dropped beyond 1024 (a driver that never polls must not leak). */
  #event(e: RegistrarEvent): void {
    if (this.#events.length >= 1024) this.#events.shift();
    this.#events.push(e);
  }
}

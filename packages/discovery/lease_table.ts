/**
 * {@linkcode LeaseTable}: a service router's registrations. Each
 * registration of a prefix at a locator is a lease that installs a FORWARD
 * target in the router's service table; it lives until its lifetime runs out
 * (the host died silently), the host withdraws it, or the table is cleared.
 * The router answers `register` with `register-ack` and `resolve` with the
 * targets of the longest matching prefix.
 *
 * @module
 */

import type { ControlMessage, Locator, ServiceEntry, ServiceId } from "@serval/wire";
import { locatorKey } from "@serval/wire";
import type { ServiceTable } from "@serval/sal";
import type { ControlTransmit } from "./control_transmit.ts";

/** One registration. */
export interface Lease {
  readonly prefix: ServiceEntry["prefix"];
  readonly locator: Locator;
  readonly weight: number;
  readonly priority: number;
  /** When it was first registered (µs). */
  readonly since: number;
  /** When it runs out unless refreshed (µs). */
  readonly expiresAt: number;
}

/** What happened to a lease. */
export type LeaseEvent =
  | { readonly type: "lease-added"; readonly lease: Lease }
  | { readonly type: "lease-removed"; readonly lease: Lease; readonly reason: "unregistered" | "expired" | "cleared" };

/** Options of a {@linkcode LeaseTable}. */
export interface LeaseTableOptions {
  /** Longest lifetime granted, ms (default 60 000); longer requests are cut to it. */
  readonly maxLifetimeMs?: number;
  /** Most leases held (default 100 000); registrations beyond are refused. */
  readonly maxLeases?: number;
  /** The target-selection plugin for sets this table creates (default: the built-in forward). */
  readonly plugin?: string;
}

/**
 * The router side of the service controller.
 *
 * @example A registration becomes a FORWARD rule and ages out
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LeaseTable } from "@serval/discovery";
 * import { SeededRandom, ServiceTable } from "@serval/sal";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * const table = new ServiceTable({ random: new SeededRandom(1) });
 * const leases = new LeaseTable(table);
 * const host = { address: new Uint8Array([198, 18, 0, 7]), port: 0 };
 * const prefix = ServicePrefix.parse("web.example/64");
 * leases.handleMessage(0, { type: "register", seq: 1, lifetimeMs: 3000, services: [{ prefix, priority: 0, weight: 1 }], locators: [] }, host);
 * assertEquals(leases.pollTransmit()?.message.type, "register-ack");
 * assertEquals(table.get(prefix)?.sets[0]?.targets.length, 1);
 * leases.handleTimeout(3_000_000);
 * assertEquals(table.get(prefix), undefined);
 * assertEquals(leases.size, 0);
 * ```
 */
export class LeaseTable {
  readonly #table: ServiceTable;
  readonly #maxLifetimeMs: number;
  readonly #maxLeases: number;
  readonly #plugin: string | undefined;
  readonly #leases = new Map<string, Lease>();
  #out: ControlTransmit[] = [];
  #events: LeaseEvent[] = [];
  /** Registrations refused (table full, or a conflicting rule). */
  refused = 0;

  /**
   * @param table The router's service table (the leases' targets live there).
   * @param opts Limits and the selection plugin.
   */
  constructor(table: ServiceTable, opts: LeaseTableOptions = {}) {
    this.#table = table;
    this.#maxLifetimeMs = opts.maxLifetimeMs ?? 60_000;
    this.#maxLeases = opts.maxLeases ?? 100_000;
    this.#plugin = opts.plugin;
  }

  /** Leases held. */
  get size(): number {
    return this.#leases.size;
  }

  /** Every lease (for the management API). */
  leases(): Lease[] {
    return [...this.#leases.values()];
  }

  /** A control message for us: registrations, withdrawals and resolutions. */
  handleMessage(now: number, msg: ControlMessage, from: Locator): void {
    switch (msg.type) {
      case "register":
      case "unregister": {
        // A host that names no locator means the address it sends from.
        const locators = msg.locators.length > 0 ? msg.locators : [from];
        const lifetimeMs = msg.type === "unregister" ? 0 : Math.min(msg.lifetimeMs, this.#maxLifetimeMs);
        let ok = true;
        for (const s of msg.services) {
          for (const l of locators) {
            if (lifetimeMs === 0) this.#remove(this.#key(s, l), "unregistered");
            else ok = this.#upsert(now, s, l, lifetimeMs) && ok;
          }
        }
        if (!ok) this.refused++;
        this.#out.push({ to: from, message: { type: "register-ack", seq: msg.seq, lifetimeMs: ok ? lifetimeMs : 0, ok } });
        return;
      }
      case "resolve":
        this.#resolve(now, msg.seq, msg.serviceId, from);
        return;
      default:
        return;
    }
  }

  /** Next message to send. */
  pollTransmit(): ControlTransmit | undefined {
    return this.#out.shift();
  }

  /** Next lease change. */
  pollEvent(): LeaseEvent | undefined {
    return this.#events.shift();
  }

  /** The earliest expiry. */
  pollTimeout(): number | undefined {
    let t = Infinity;
    for (const l of this.#leases.values()) if (l.expiresAt < t) t = l.expiresAt;
    return t === Infinity ? undefined : t;
  }

  /** Expires leases whose time has come. */
  handleTimeout(now: number): void {
    for (const [k, l] of this.#leases) if (l.expiresAt <= now) this.#remove(k, "expired");
  }

  /** Removes every lease and its rule (shutdown). */
  clear(): void {
    for (const k of [...this.#leases.keys()]) this.#remove(k, "cleared");
  }

  #key(s: ServiceEntry, l: Locator): string {
    return `${s.prefix}|${locatorKey(l)}`;
  }

  #upsert(now: number, s: ServiceEntry, l: Locator, lifetimeMs: number): boolean {
    const k = this.#key(s, l);
    const old = this.#leases.get(k);
    const identity = { type: "forward" as const, locator: l };
    if (old) {
      if (old.weight !== s.weight || old.priority !== s.priority) {
        try {
          this.#table.modifyTarget(s.prefix, identity, { weight: s.weight, priority: s.priority });
        } catch {
          return false;
        }
      }
      this.#leases.set(k, { ...old, weight: s.weight, priority: s.priority, expiresAt: now + lifetimeMs * 1000 });
      return true;
    }
    if (this.#leases.size >= this.#maxLeases) return false;
    try {
      this.#table.addTarget(s.prefix, {
        ...identity,
        weight: s.weight,
        priority: s.priority,
        ...(this.#plugin !== undefined ? { plugin: this.#plugin } : {}),
      });
    } catch {
      // A rule the operator installed for the same prefix and locator, or a
      // set of another kind at that priority: the registration is refused.
      return false;
    }
    const lease: Lease = {
      prefix: s.prefix,
      locator: { address: l.address.slice(), port: l.port },
      weight: s.weight,
      priority: s.priority,
      since: now,
      expiresAt: now + lifetimeMs * 1000,
    };
    this.#leases.set(k, lease);
    this.#event({ type: "lease-added", lease });
    return true;
  }

  #remove(k: string, reason: "unregistered" | "expired" | "cleared"): void {
    const l = this.#leases.get(k);
    if (!l) return;
    this.#leases.delete(k);
    this.#table.removeTarget(l.prefix, { type: "forward", locator: l.locator });
    this.#event({ type: "lease-removed", lease: l, reason });
  }

  /** Answers with the leases of the longest registered prefix covering `id` (none: an empty record). */
  #resolve(now: number, seq: number, id: ServiceId, from: Locator): void {
    let best = -1;
    for (const l of this.#leases.values()) if (l.prefix.bits > best && l.prefix.contains(id)) best = l.prefix.bits;
    // At most 128 locators: one datagram (8 bytes per IPv4 locator) within any MTU.
    const hits: Lease[] = [];
    let soonest = Infinity;
    for (const l of this.#leases.values()) {
      if (hits.length === 128) break;
      if (l.prefix.bits !== best || !l.prefix.contains(id)) continue;
      hits.push(l);
      if (l.expiresAt < soonest) soonest = l.expiresAt;
    }
    const lifetimeMs = hits.length === 0 ? 0 : Math.max(0, Math.floor((soonest - now) / 1000));
    this.#out.push({
      to: from,
      message: {
        type: "resolve-reply",
        seq,
        lifetimeMs,
        services: hits.length === 0 ? [] : [{ prefix: hits[0]!.prefix, priority: 0, weight: 1 }],
        locators: hits.map((h) => h.locator),
      },
    });
  }

  /** Queues news for {@linkcode pollEvent}, the oldest dropped beyond 1024 (a driver that never polls must not leak). */
  #event(e: LeaseEvent): void {
    if (this.#events.length >= 1024) this.#events.shift();
    this.#events.push(e);
  }
}

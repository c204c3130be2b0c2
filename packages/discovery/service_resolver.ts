/**
 * {@linkcode ServiceResolver}: answers the service table's DELAY rule. A
 * packet for an unknown service waits while the resolver asks — its routers
 * (`resolve`) or, with no router, every node on the link (`service-solicit`
 * by broadcast, ad hoc mode). An answer installs FORWARD rules for the
 * answered prefix (as leases that expire) and releases the waiting packets;
 * no answer after the last attempt drops them.
 *
 * @module
 */

import type { ControlMessage, Locator, ServiceId, ServicePrefix } from "@serval/wire";
import { locatorKey } from "@serval/wire";
import type { ServiceTable } from "@serval/sal";
import type { ControlTransmit } from "./control_transmit.ts";

/** Options of a {@linkcode ServiceResolver}; times in microseconds. */
export interface ServiceResolverOptions {
  /** Wait per attempt (default 250 ms). */
  readonly timeoutUs?: number;
  /** Attempts before giving up (default 3). */
  readonly attempts?: number;
  /** Longest time a learned rule is kept, ms (default 30 000; answers may ask for less). */
  readonly maxRuleLifetimeMs?: number;
  /** Most rules learned at once (default 4096); answers beyond are not learned. */
  readonly maxRules?: number;
}

/** What to do with a held packet ({@linkcode SalHost.delayVerdict}). */
export interface ResolveVerdict {
  readonly id: number;
  readonly verdict: "release" | "drop";
}

interface Pending {
  readonly id: number;
  readonly serviceId: ServiceId;
  readonly ask: readonly Locator[] | "broadcast";
  seq: number;
  attempts: number;
  deadline: number;
}

interface Learned {
  readonly prefix: ServicePrefix;
  readonly locator: Locator;
  expiresAt: number;
}

/**
 * The resolving side of the controller.
 *
 * @example Ask by broadcast, learn from an advertisement, release
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceResolver } from "@serval/discovery";
 * import { SeededRandom, ServiceTable } from "@serval/sal";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * const table = new ServiceTable({ random: new SeededRandom(1) });
 * const r = new ServiceResolver(table);
 * const id = ServiceId.fromName("web.example");
 * r.request(0, 17, id, "broadcast");
 * const ask = r.pollTransmit()!;
 * assertEquals([ask.to, ask.message.type], ["broadcast", "service-solicit"]);
 * const peer = { address: new Uint8Array([198, 18, 0, 3]), port: 0 };
 * const prefix = ServicePrefix.parse("web.example/64");
 * r.handleMessage(100, { type: "service-advertise", seq: ask.message.seq, lifetimeMs: 3000,
 *   services: [{ prefix, priority: 0, weight: 1 }], locators: [peer] }, peer);
 * assertEquals(r.pollVerdict(), { id: 17, verdict: "release" });
 * assertEquals(table.get(prefix)?.sets[0]?.targets[0]?.locator?.address[3], 3);
 * ```
 */
export class ServiceResolver {
  readonly #table: ServiceTable;
  readonly #timeoutUs: number;
  readonly #attempts: number;
  readonly #maxLifetimeMs: number;
  readonly #maxRules: number;
  readonly #pending = new Map<number, Pending>();
  readonly #learned = new Map<string, Learned>();
  #out: ControlTransmit[] = [];
  #verdicts: ResolveVerdict[] = [];
  #seq = 0;

  /**
   * @param table Where learned FORWARD rules go.
   * @param opts Timing.
   * @throws {RangeError} On values out of range.
   */
  constructor(table: ServiceTable, opts: ServiceResolverOptions = {}) {
    this.#table = table;
    this.#timeoutUs = opts.timeoutUs ?? 250_000;
    this.#attempts = opts.attempts ?? 3;
    this.#maxLifetimeMs = opts.maxRuleLifetimeMs ?? 30_000;
    this.#maxRules = opts.maxRules ?? 4096;
    if (!(this.#timeoutUs > 0 && Number.isInteger(this.#attempts) && this.#attempts >= 1)) {
      throw new RangeError(`Cannot create resolver: timeout ${this.#timeoutUs} µs and ${this.#attempts} attempts, need > 0 and >= 1`);
    }
  }

  /** Requests waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Rules learned and not yet expired. */
  get learnedCount(): number {
    return this.#learned.size;
  }

  /**
   * A DELAY rule holds packet `id` for `serviceId`: ask `ask` (router
   * locators) or everybody (`"broadcast"`). With no router to ask, the
   * packet is dropped at once.
   */
  request(now: number, id: number, serviceId: ServiceId, ask: readonly Locator[] | "broadcast"): void {
    if (ask !== "broadcast" && ask.length === 0) {
      this.#verdicts.push({ id, verdict: "drop" });
      return;
    }
    const p: Pending = { id, serviceId, ask, seq: 0, attempts: 0, deadline: 0 };
    this.#pending.set(id, p);
    this.#attempt(now, p);
  }

  /**
   * A control message for us: an answer to one of our pending questions is
   * learned. Anything else — an unsolicited answer, a stale one, one from a
   * router we did not ask, prefixes that do not cover the question — is
   * ignored: answers install forwarding rules, so a stranger must not be able
   * to write our service table.
   */
  handleMessage(now: number, msg: ControlMessage, from: Locator): void {
    if (msg.type !== "resolve-reply" && msg.type !== "service-advertise") return;
    if (msg.lifetimeMs === 0 || msg.services.length === 0) return; // "don't know"
    const asked = [...this.#pending.values()].filter((p) =>
      p.seq === msg.seq && (p.ask === "broadcast" || p.ask.some((r) => locatorKey(r) === locatorKey(from)))
    );
    if (asked.length === 0) return;
    // An ad hoc peer that names no locator means the address it answered from.
    const locators = msg.locators.length > 0 ? msg.locators : [from];
    const lifetimeUs = Math.min(msg.lifetimeMs, this.#maxLifetimeMs) * 1000;
    for (const s of msg.services) {
      if (!asked.some((p) => s.prefix.contains(p.serviceId))) continue;
      for (const l of locators) this.#learn(now, s.prefix, l, s.weight, lifetimeUs);
    }
    for (const p of asked) {
      if (msg.services.some((s) => s.prefix.contains(p.serviceId))) {
        this.#pending.delete(p.id);
        this.#verdicts.push({ id: p.id, verdict: "release" });
      }
    }
  }

  /** Next verdict for a held packet. */
  pollVerdict(): ResolveVerdict | undefined {
    return this.#verdicts.shift();
  }

  /** Next message to send. */
  pollTransmit(): ControlTransmit | undefined {
    return this.#out.shift();
  }

  /** The next retry or rule expiry. */
  pollTimeout(): number | undefined {
    let t = Infinity;
    for (const p of this.#pending.values()) if (p.deadline < t) t = p.deadline;
    for (const l of this.#learned.values()) if (l.expiresAt < t) t = l.expiresAt;
    return t === Infinity ? undefined : t;
  }

  /** Retries or gives up on requests; expires learned rules. */
  handleTimeout(now: number): void {
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue;
      if (p.attempts >= this.#attempts) {
        this.#pending.delete(id);
        this.#verdicts.push({ id, verdict: "drop" });
      } else {
        this.#attempt(now, p);
      }
    }
    for (const [k, l] of this.#learned) {
      if (l.expiresAt <= now) {
        this.#learned.delete(k);
        this.#table.removeTarget(l.prefix, { type: "forward", locator: l.locator });
      }
    }
  }

  /** Drops every held packet and forgets every learned rule (shutdown). */
  clear(): void {
    for (const id of this.#pending.keys()) this.#verdicts.push({ id, verdict: "drop" });
    this.#pending.clear();
    for (const l of this.#learned.values()) this.#table.removeTarget(l.prefix, { type: "forward", locator: l.locator });
    this.#learned.clear();
  }

  #attempt(now: number, p: Pending): void {
    this.#seq = (this.#seq + 1) >>> 0;
    p.seq = this.#seq;
    p.attempts++;
    p.deadline = now + this.#timeoutUs;
    if (p.ask === "broadcast") {
      this.#out.push({ to: "broadcast", message: { type: "service-solicit", seq: p.seq, serviceId: p.serviceId } });
    } else {
      for (const r of p.ask) this.#out.push({ to: r, message: { type: "resolve", seq: p.seq, serviceId: p.serviceId } });
    }
  }

  #learn(now: number, prefix: ServicePrefix, locator: Locator, weight: number, lifetimeUs: number): void {
    const k = `${prefix}|${locatorKey(locator)}`;
    const old = this.#learned.get(k);
    if (old) {
      old.expiresAt = Math.max(old.expiresAt, now + lifetimeUs);
      return;
    }
    if (this.#learned.size >= this.#maxRules) return;
    try {
      this.#table.addTarget(prefix, { type: "forward", locator, weight });
    } catch {
      return; // the operator's own rule for it already exists: keep theirs
    }
    this.#learned.set(k, { prefix, locator: { address: locator.address.slice(), port: locator.port }, expiresAt: now + lifetimeUs });
  }
}

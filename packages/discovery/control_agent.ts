/**
 * {@linkcode ControlAgent}: the control plane of one node, wired to its
 * {@linkcode SalHost}. It owns a datagram socket on
 * {@linkcode CONTROL_SERVICE} and, by role:
 *
 * - `host`: finds routers ({@linkcode RouterDiscovery}, or a configured
 *   list), keeps a default FORWARD rule (`/0`) towards them, registers the
 *   host's listeners with them as leases ({@linkcode ServiceRegistrar}), and
 *   answers DELAY rules by asking them ({@linkcode ServiceResolver}).
 * - `router`: announces itself ({@linkcode RouterAnnouncer}), turns
 *   registrations into FORWARD rules ({@linkcode LeaseTable}), and may
 *   register aggregated prefixes with upstream routers.
 * - `adhoc`: no router; a `/0` DELAY rule whose questions go out by
 *   broadcast ({@linkcode ServiceResolver}), and answers for its own
 *   services ({@linkcode AdhocResponder}).
 *
 * The agent is pure like the host: the driver hands it every host event
 * ({@linkcode ControlAgent.handleEvent}) and its timers.
 *
 * @module
 */

import { BROADCAST_LOCATOR, CONTROL_SERVICE, decodeControl, encodeControl, locatorKey, ServiceId, ServicePrefix } from "@serval/wire";
import type { Locator, ServiceEntry } from "@serval/wire";
import type { HostEvent, SalHost } from "@serval/sal";
import { AdhocResponder } from "./adhoc_responder.ts";
import type { ControlTransmit } from "./control_transmit.ts";
import { LeaseTable, type LeaseTableOptions } from "./lease_table.ts";
import { RouterAnnouncer, type RouterAnnouncerOptions } from "./router_announcer.ts";
import { RouterDiscovery, type RouterDiscoveryOptions } from "./router_discovery.ts";
import { ServiceRegistrar, type ServiceRegistrarOptions } from "./service_registrar.ts";
import { ServiceResolver, type ServiceResolverOptions } from "./service_resolver.ts";

/** The role of a node. */
export type ControlRole = "host" | "router" | "adhoc";

/** Options of a {@linkcode ControlAgent}. */
export interface ControlAgentOptions {
  readonly role: ControlRole;
  /** Routers to use without discovery (host), or upstream routers (router). */
  readonly routers?: readonly Locator[];
  /** Host: find routers by solicitation and announcements (default true when `routers` is empty). */
  readonly discover?: boolean;
  /** Our locators, sent in registrations and announcements (default: none, receivers use the source address). */
  readonly locators?: readonly Locator[];
  /** Host: weight of our registrations (default 1). */
  readonly weight?: number;
  /** Host: priority of our registrations; router: announced priority (default 0). */
  readonly priority?: number;
  /** Router: prefixes registered with the upstream `routers` (aggregation). */
  readonly aggregates?: readonly ServicePrefix[];
  /** Router: its boot id (draw it at random at each start). */
  readonly bootId?: number;
  readonly discovery?: RouterDiscoveryOptions;
  readonly registrar?: ServiceRegistrarOptions;
  readonly announcer?: Omit<RouterAnnouncerOptions, "bootId" | "locators" | "priority">;
  readonly leases?: LeaseTableOptions;
  readonly resolver?: ServiceResolverOptions;
  readonly adhocLifetimeMs?: number;
}

const CONTROL_PREFIX = ServicePrefix.of(CONTROL_SERVICE);

/**
 * The control plane of one node.
 *
 * @example A host with a configured router gets a default rule towards it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ControlAgent } from "@serval/discovery";
 * import { SalHost, SeededRandom } from "@serval/sal";
 * import { ServicePrefix } from "@serval/wire";
 * const router = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
 * const host = new SalHost({ random: new SeededRandom(2), locals: [{ address: new Uint8Array([198, 18, 0, 2]), port: 0 }] });
 * const agent = new ControlAgent(host, { role: "host", routers: [router] });
 * agent.start(0);
 * assertEquals(agent.routers(), [router]);
 * assertEquals(host.serviceTable.get(ServicePrefix.DEFAULT)?.sets[0]?.targets[0]?.type, "forward");
 * agent.stop(1);
 * assertEquals(host.serviceTable.get(ServicePrefix.DEFAULT), undefined);
 * ```
 */
export class ControlAgent {
  readonly role: ControlRole;
  readonly discovery: RouterDiscovery | undefined;
  readonly registrar: ServiceRegistrar | undefined;
  readonly announcer: RouterAnnouncer | undefined;
  readonly leases: LeaseTable | undefined;
  readonly resolver: ServiceResolver | undefined;
  readonly responder: AdhocResponder | undefined;
  /** Control datagrams dropped, by reason. */
  readonly drops = new Map<string, number>();
  readonly #host: SalHost;
  readonly #opts: ControlAgentOptions;
  readonly #static: readonly Locator[];
  /** Routers the default rule points at, by key. */
  readonly #defaults = new Map<string, Locator>();
  #socket = -1;
  #started = false;

  /**
   * @param host The node's SAL host.
   * @param opts Role and tunables.
   * @throws {RangeError} On a router without a boot id, or a weight or priority the control messages cannot carry.
   */
  constructor(host: SalHost, opts: ControlAgentOptions) {
    // Checked here, once: found only when a registration is encoded, they
    // would be counted as oversized messages and the host never registered.
    const w = opts.weight ?? 1;
    const p = opts.priority ?? 0;
    if (!Number.isInteger(w) || w < 1 || w > 0xffff) throw new RangeError(`Cannot create control agent: weight ${w} is not an integer 1..65535`);
    if (!Number.isInteger(p) || p < 0 || p > 0xffff) throw new RangeError(`Cannot create control agent: priority ${p} is not an integer 0..65535`);
    this.#host = host;
    this.#opts = opts;
    this.role = opts.role;
    this.#static = opts.routers ?? [];
    const isHost = opts.role === "host";
    const isRouter = opts.role === "router";
    this.discovery = isHost && (opts.discover ?? this.#static.length === 0) ? new RouterDiscovery(opts.discovery) : undefined;
    this.registrar = isHost || (isRouter && this.#static.length > 0) ? new ServiceRegistrar(opts.registrar) : undefined;
    if (isRouter) {
      if (opts.bootId === undefined) throw new RangeError("Cannot create router agent: no bootId (draw one at random at start)");
      this.announcer = new RouterAnnouncer({
        ...opts.announcer,
        bootId: opts.bootId,
        locators: opts.locators ?? [],
        priority: opts.priority ?? 0,
      });
      this.leases = new LeaseTable(host.serviceTable, opts.leases);
    } else {
      this.announcer = undefined;
      this.leases = undefined;
    }
    this.resolver = isRouter ? undefined : new ServiceResolver(host.serviceTable, opts.resolver);
    this.responder = opts.role === "adhoc" ? new AdhocResponder({ lifetimeMs: opts.adhocLifetimeMs ?? 10_000 }) : undefined;
  }

  /** Routers in use (host), upstream routers (router), none (ad hoc). */
  routers(): Locator[] {
    return [...this.#defaults.values()];
  }

  /** Opens the control socket and starts every role's machinery. */
  start(now: number): void {
    if (this.#started) return;
    this.#started = true;
    this.#socket = this.#host.openDatagram(CONTROL_PREFIX);
    const locators = this.#opts.locators ?? [];
    this.registrar?.setLocators(now, locators);
    this.responder?.setLocators(locators);
    this.announcer?.start(now);
    this.discovery?.start(now);
    if (this.role === "adhoc") this.#host.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "delay" });
    for (const r of this.#static) this.#routerUp(now, r, this.role === "host" ? 0 : -1);
    if (this.role === "router") {
      for (const p of this.#opts.aggregates ?? []) this.registrar?.bind(now, this.#entry(p));
    }
    this.pump(now);
  }

  /** Withdraws registrations, says goodbye, removes our rules, closes the socket. */
  stop(now: number): void {
    if (!this.#started) return;
    this.registrar?.stop(now);
    this.announcer?.stop(now);
    this.pump(now);
    this.discovery?.stop();
    this.leases?.clear();
    this.resolver?.clear();
    this.pump(now);
    for (const r of this.#defaults.values()) this.#host.serviceTable.removeTarget(ServicePrefix.DEFAULT, { type: "forward", locator: r });
    this.#defaults.clear();
    if (this.role === "adhoc") this.#host.serviceTable.removeTarget(ServicePrefix.DEFAULT, { type: "delay" });
    this.#host.closeDatagram(this.#socket);
    this.#socket = -1;
    this.#started = false;
  }

  /**
   * Our locators changed (an address came or went): re-register and
   * re-announce. `withdrawn`: addresses we lost, whose leases routers drop at once.
   */
  setLocators(now: number, locators: readonly Locator[], withdrawn: readonly Locator[] = []): void {
    this.registrar?.setLocators(now, locators, withdrawn);
    this.responder?.setLocators(locators);
    this.announcer?.setLocators(now, locators);
    this.pump(now);
  }

  /**
   * Feeds a host event. Control datagrams and DELAY questions are the
   * agent's (returns `true`: the application must not see them); bind and
   * unbind are watched (returns `false`: the application may see them too).
   */
  handleEvent(now: number, e: HostEvent): boolean {
    switch (e.type) {
      case "datagram": {
        if (e.socket !== this.#socket) return false;
        const msg = decodeControl(e.payload, 0, e.payload.length);
        if (typeof msg === "string") {
          this.drops.set(msg, (this.drops.get(msg) ?? 0) + 1);
          return true;
        }
        this.discovery?.handleMessage(now, msg, e.from);
        this.registrar?.handleMessage(now, msg, e.from);
        this.announcer?.handleMessage(now, msg, e.from);
        this.leases?.handleMessage(now, msg, e.from);
        this.resolver?.handleMessage(now, msg, e.from);
        this.responder?.handleMessage(now, msg, e.from);
        this.pump(now);
        return true;
      }
      case "resolve-request": {
        if (!this.resolver) return false;
        const ask = this.role === "adhoc" ? "broadcast" as const : this.routers();
        this.resolver.request(now, e.id, ServiceId.fromBytes(e.serviceId), ask);
        this.pump(now);
        return true;
      }
      case "bind":
        if (e.prefix.bits === CONTROL_PREFIX.bits && e.prefix.id.equals(CONTROL_PREFIX.id)) return false;
        if (this.role === "host") this.registrar?.bind(now, this.#entry(e.prefix));
        this.responder?.bind(this.#entry(e.prefix));
        this.pump(now);
        return false;
      case "unbind":
        if (this.role === "host") this.registrar?.unbind(now, e.prefix);
        this.responder?.unbind(e.prefix);
        this.pump(now);
        return false;
      default:
        return false;
    }
  }

  /** Moves what the machines want sent into the host, and applies router changes. */
  pump(now: number): void {
    if (!this.#started) return;
    for (let d = this.discovery?.pollEvent(); d; d = this.discovery?.pollEvent()) {
      if (d.type === "router-up") this.#routerUp(now, d.router.locator, d.router.priority);
      else if (d.type === "router-down") this.#routerDown(now, d.router.locator);
      else if (d.type === "router-priority") this.#routerPriority(d.router.locator, d.router.priority);
      else this.registrar?.routerRestarted(now, d.router.locator);
    }
    for (let v = this.resolver?.pollVerdict(); v; v = this.resolver?.pollVerdict()) {
      this.#host.delayVerdict(now, v.id, v.verdict);
    }
    for (const m of [this.discovery, this.registrar, this.announcer, this.leases, this.resolver, this.responder]) {
      if (!m) continue;
      for (let t = m.pollTransmit(); t; t = m.pollTransmit()) this.#send(now, t);
    }
  }

  /** The earliest timer of every machine. */
  pollTimeout(): number | undefined {
    let t = Infinity;
    for (const m of [this.discovery, this.registrar, this.announcer, this.leases, this.resolver]) {
      const x = m?.pollTimeout();
      if (x !== undefined && x < t) t = x;
    }
    return t === Infinity ? undefined : t;
  }

  /** Runs due timers. */
  handleTimeout(now: number): void {
    this.discovery?.handleTimeout(now);
    this.registrar?.handleTimeout(now);
    this.announcer?.handleTimeout(now);
    this.leases?.handleTimeout(now);
    this.resolver?.handleTimeout(now);
    this.pump(now);
  }

  #entry(prefix: ServicePrefix): ServiceEntry {
    return { prefix, priority: this.#opts.priority ?? 0, weight: this.#opts.weight ?? 1 };
  }

  /** `priority` < 0: an upstream router (registrations only, no default rule). */
  #routerUp(now: number, r: Locator, priority: number): void {
    const k = locatorKey(r);
    if (priority >= 0 && !this.#defaults.has(k)) {
      try {
        this.#host.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: r, priority });
        this.#defaults.set(k, r);
      } catch {
        // A default rule of another kind (the operator's): leave it alone.
      }
    }
    if (priority < 0) this.#defaults.set(k, r);
    this.registrar?.addRouter(now, r);
  }

  /** A router announces a new priority: its default rule moves to that priority's set. */
  #routerPriority(r: Locator, priority: number): void {
    if (!this.#defaults.has(locatorKey(r)) || this.#isStatic(r)) return;
    this.#host.serviceTable.modifyTarget(ServicePrefix.DEFAULT, { type: "forward", locator: r }, { priority });
  }

  #isStatic(r: Locator): boolean {
    const k = locatorKey(r);
    return this.#static.some((s) => locatorKey(s) === k);
  }

  #routerDown(now: number, r: Locator): void {
    // A configured router stays in use when discovery stops hearing it
    // (it may not announce at all); its registrations' refreshes tell.
    if (this.#isStatic(r)) return;
    const k = locatorKey(r);
    if (this.#defaults.delete(k)) this.#host.serviceTable.removeTarget(ServicePrefix.DEFAULT, { type: "forward", locator: r });
    this.registrar?.removeRouter(now, r);
  }

  #send(now: number, t: ControlTransmit): void {
    const to = t.to === "broadcast" ? BROADCAST_LOCATOR : t.to;
    try {
      this.#host.sendDatagram(now, this.#socket, CONTROL_SERVICE, encodeControl(t.message), to);
    } catch {
      // Too large for one packet: a configuration with too many locators. Counted, not fatal.
      this.drops.set("control-too-large", (this.drops.get("control-too-large") ?? 0) + 1);
    }
  }
}

/**
 * {@linkcode handleRequest}: carries out one decoded management request on a
 * running node, synchronously, between two steps of its loop. Every check
 * comes before the first change, so a request that fails changes nothing.
 *
 * @module
 */

import type { ServiceEntry, TargetIdentity } from "@serval/sal";
import type { ServalNode } from "@serval/runtime";
import { StreamTransport } from "@serval/transport";
import { type Locator, locatorKey, ServicePrefix } from "@serval/wire";
import {
  type ErrorCode,
  locatorText,
  type Op,
  parseLocatorText,
  PROTOCOL_VERSION,
  type Request,
  type ResultOf,
  type ServiceRow,
  type TargetSpec,
} from "./protocol.ts";

/** Counters of the management server (reported by `stats`). */
export interface ManagementCounters {
  /** Open connections now. */
  connections: number;
  /** Request lines handled. */
  requests: number;
  /** Requests answered with an error (bad bytes included). */
  errors: number;
}

/** What a request runs against. */
export interface ManagementContext {
  readonly node: ServalNode;
  /** The node's role. */
  readonly role: "host" | "router" | "adhoc";
  /** When the node started (its clock, µs). */
  readonly startedAt: number;
  /** The server's counters. */
  readonly counters: ManagementCounters;
  /** Port given to a forward target written without one (the node's UDP port, or 0 on raw IP). */
  readonly defaultPort: number;
}

/**
 * A request refused: the reply's error code and message.
 *
 * @example
 * ```ts
 * import { ManagementFault } from "@serval/management";
 * const f = new ManagementFault("not-found", "no flow 7");
 * console.assert(f.code === "not-found");
 * ```
 */
export class ManagementFault extends Error {
  /** The reply's error code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Carries out a request.
 *
 * @param ctx The node and the server's counters.
 * @param req A decoded request.
 * @returns The result of the request's operation.
 * @throws {ManagementFault} When the request cannot be carried out (nothing changed).
 *
 * @example
 * ```ts
 * import { handleRequest } from "@serval/management";
 * import { openUdpDatapath, ServalNode } from "@serval/runtime";
 * const node = await ServalNode.start({ role: "router", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0 }) });
 * const ctx = { node, role: "router" as const, startedAt: node.now(), counters: { connections: 0, requests: 0, errors: 0 }, defaultPort: 54325 };
 * handleRequest(ctx, { v: 1, id: 1, op: "service.add", prefix: "web.example/16", target: { type: "drop" } });
 * const ls = handleRequest(ctx, { v: 1, id: 2, op: "service.ls", prefix: "web.example/16" }) as { services: unknown[] };
 * console.assert(ls.services.length === 1);
 * await node.close();
 * ```
 */
export function handleRequest(ctx: ManagementContext, req: Request): ResultOf<Op> {
  const { node } = ctx;
  const table = node.host.serviceTable;
  switch (req.op) {
    case "hello":
      return {
        version: PROTOCOL_VERSION,
        role: ctx.role,
        pid: process.pid,
        datapath: node.datapath.kind,
        locals: node.locals.map(locatorText),
      };
    case "auth":
      // Checked by the server before a remote connection gets here; the local socket needs none.
      return { authenticated: true };
    case "service.add": {
      const prefix = ServicePrefix.parse(req.prefix);
      const target = identity(ctx, req.target);
      if (target.type === "demux") {
        throw new ManagementFault("unsupported", "demux rules belong to listening applications: they cannot be added here");
      }
      const plugin = req.plugin === undefined ? undefined : pluginName(ctx, req.plugin);
      tableCall(() =>
        table.addTarget(prefix, {
          ...target,
          ...(req.weight !== undefined ? { weight: req.weight } : {}),
          ...(req.priority !== undefined ? { priority: req.priority } : {}),
          ...(plugin !== undefined ? { plugin } : {}),
        })
      );
      node.kick();
      return { service: serviceRow(table.get(prefix)) };
    }
    case "service.del": {
      const prefix = ServicePrefix.parse(req.prefix);
      const target = identity(ctx, req.target);
      if (!table.removeTarget(prefix, target)) throw notFound(req.prefix, req.target, table.get(prefix));
      node.kick();
      return { service: serviceRow(table.get(prefix)) };
    }
    case "service.mod": {
      const prefix = ServicePrefix.parse(req.prefix);
      const target = identity(ctx, req.target);
      const entry = table.get(prefix);
      const where = entry === undefined ? undefined : findTarget(entry, target);
      if (entry === undefined || where === undefined) throw notFound(req.prefix, req.target, entry);
      const plugin = req.plugin === undefined ? undefined : pluginName(ctx, req.plugin);
      if (plugin !== undefined && target.type !== "forward" && target.type !== "demux") {
        throw new ManagementFault("bad-request", `plugin: a ${target.type} rule has no plugin (plugins resolve forward and demux sets)`);
      }
      if (req.weight !== undefined || req.priority !== undefined) {
        tableCall(() =>
          table.modifyTarget(prefix, target, {
            ...(req.weight !== undefined ? { weight: req.weight } : {}),
            ...(req.priority !== undefined ? { priority: req.priority } : {}),
          })
        );
      }
      if (plugin !== undefined) setPlugin(ctx, prefix, target, plugin);
      node.kick();
      return { service: serviceRow(table.get(prefix)) };
    }
    case "service.ls": {
      let entries = [...table.entries()];
      if (req.prefix !== undefined) {
        const p = ServicePrefix.parse(req.prefix);
        entries = entries.filter((e) => e.prefix.equals(p));
      }
      entries.sort((a, b) => compareBytes(a.prefix.id.bytes, b.prefix.id.bytes) || a.prefix.bits - b.prefix.bits);
      return { services: entries.map((e) => serviceRow(e)!), table: { ...table.counters } };
    }
    case "flow.ls":
      return { flows: flowRows(node) };
    case "stats": {
      const dp = node.datapath.stats();
      return {
        role: ctx.role,
        uptimeMs: Math.max(0, Math.round((node.now() - ctx.startedAt) / 1000)),
        node: { ...node.stats },
        datapath: {
          kind: node.datapath.kind,
          rxPackets: dp.rxPackets,
          rxBytes: dp.rxBytes,
          txPackets: dp.txPackets,
          txBytes: dp.txBytes,
          drops: Object.fromEntries(dp.drops),
        },
        host: { flows: node.host.flowCount, drops: Object.fromEntries(node.host.drops) },
        table: { rules: table.size, ...table.counters },
        control: {
          routers: node.agent.routers().length,
          leases: node.agent.leases?.size ?? null,
          drops: Object.fromEntries(node.agent.drops),
        },
        management: { ...ctx.counters },
      };
    }
    case "migrate.flow":
      return migrateFlow(ctx, req.flow, req.to);
    case "migrate.iface":
      return migrateInterface(ctx, req.from, req.to);
    case "router.ls":
      return { routers: routerRows(ctx) };
    case "lease.ls": {
      const leases = node.agent.leases;
      if (leases === undefined) throw new ManagementFault("unsupported", `this node is a ${ctx.role}: only routers hold leases`);
      const now = node.now();
      return {
        leases: leases.leases().map((l) => ({
          prefix: l.prefix.toString(),
          locator: locatorText(l.locator),
          weight: l.weight,
          priority: l.priority,
          ageMs: Math.max(0, Math.round((now - l.since) / 1000)),
          expiresInMs: Math.max(0, Math.round((l.expiresAt - now) / 1000)),
        })),
      };
    }
  }
}

// ---------------------------------------------------------------------------
// Rules

function identity(ctx: ManagementContext, t: TargetSpec): TargetIdentity {
  switch (t.type) {
    case "forward": {
      const l = parseLocatorText(t.to!)!;
      return { type: "forward", locator: { address: l.address, port: l.port ?? ctx.defaultPort } };
    }
    case "demux":
      return { type: "demux", listener: t.listener! };
    default:
      return { type: t.type };
  }
}

/** A plugin by its full name, or its short name (`round-robin` for `@serval/plugin-round-robin`). */
function pluginName(ctx: ManagementContext, name: string): string {
  const table = ctx.node.host.serviceTable;
  if (table.plugin(name) !== undefined) return name;
  const full = `@serval/plugin-${name}`;
  if (table.plugin(full) !== undefined) return full;
  throw new ManagementFault("not-found", `plugin: no plugin "${name}" is registered on this node`);
}

/** Runs a table call that throws on a refused change; its message becomes the reply's. */
function tableCall(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    const message = e.message.replace(/^Cannot (add|modify) target (to|of) "[^"]*": /, "");
    throw new ManagementFault(e instanceof RangeError && /already exists|holds a|differs/.test(message) ? "conflict" : "bad-request", message);
  }
}

function findTarget(entry: ServiceEntry, id: TargetIdentity): { set: number; target: number } | undefined {
  for (let s = 0; s < entry.sets.length; s++) {
    const targets = entry.sets[s]!.targets;
    for (let t = 0; t < targets.length; t++) {
      const x = targets[t]!;
      if (x.type !== id.type) continue;
      if (id.type === "forward" && locatorKey(x.locator!) !== locatorKey(id.locator)) continue;
      if (id.type === "demux" && x.listener !== id.listener) continue;
      return { set: s, target: t };
    }
  }
  return undefined;
}

function notFound(prefix: string, t: TargetSpec, entry: ServiceEntry | undefined): ManagementFault {
  if (entry === undefined) return new ManagementFault("not-found", `no rule for ${prefix}`);
  const what = t.type === "forward" ? `forward ${t.to}` : t.type === "demux" ? `demux listener ${t.listener}` : t.type;
  return new ManagementFault("not-found", `the rule for ${prefix} has no target ${what}`);
}

/**
 * Gives the set holding `target` another plugin. The table fixes a set's
 * plugin when the set is made, so the set is rebuilt: its targets are
 * removed and added back (same weights, same priority) under the new plugin.
 * Their counters restart from zero.
 */
function setPlugin(ctx: ManagementContext, prefix: ServicePrefix, target: TargetIdentity, plugin: string): void {
  const table = ctx.node.host.serviceTable;
  const entry = table.get(prefix)!;
  const where = findTarget(entry, target)!;
  const set = entry.sets[where.set]!;
  if (set.plugin.name === plugin) return;
  const members = set.targets.map((t) => ({
    id: (t.type === "forward" ? { type: "forward", locator: t.locator! } : { type: "demux", listener: t.listener! }) as TargetIdentity,
    weight: t.weight,
  }));
  for (const m of members) table.removeTarget(prefix, m.id);
  for (const m of members) table.addTarget(prefix, { ...m.id, weight: m.weight, priority: set.priority, plugin });
}

function serviceRow(e: ServiceEntry | undefined): ServiceRow | null {
  if (e === undefined) return null;
  return {
    prefix: e.prefix.toString(),
    id: e.prefix.id.toString(),
    bits: e.prefix.bits,
    counters: { ...e.counters },
    sets: e.sets.map((s) => ({
      priority: s.priority,
      plugin: s.plugin.name,
      targets: s.targets.map((t) => ({
        type: t.type,
        ...(t.locator !== undefined ? { to: locatorText(t.locator) } : {}),
        ...(t.listener !== undefined ? { listener: t.listener } : {}),
        weight: t.weight,
        counters: { ...t.counters },
      })),
    })),
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// ---------------------------------------------------------------------------
// Flows

function flowRows(node: ServalNode): ResultOf<"flow.ls">["flows"] {
  const rows: ResultOf<"flow.ls">["flows"][number][] = [];
  for (const f of node.host.flows()) {
    const t = f.transport;
    let transport = null;
    if (t instanceof StreamTransport) {
      const s = t.refreshStats();
      transport = {
        cwnd: finite(s.cwnd),
        ssthresh: finite(s.ssthresh),
        srttUs: finite(s.srttUs),
        rtoUs: finite(s.rtoUs),
        bytesSent: s.bytesSent,
        bytesAcked: s.bytesAcked,
        bytesReceived: s.bytesReceived,
        bytesRetransmitted: s.bytesRetransmitted,
        retransmits: s.retransmitTimeouts + s.fastRecoveries + s.lostRetransmissions,
      };
    }
    rows.push({
      id: f.id,
      peerId: f.peerFlowId,
      state: f.flow.state,
      migration: f.flow.migration,
      protocol: f.protocol === 6 ? "stream" : f.protocol === 17 ? "datagram" : String(f.protocol),
      side: f.side,
      service: f.serviceId.toShortString(),
      local: f.flow.local ? locatorText(f.flow.local) : null,
      peer: f.flow.peer ? locatorText(f.flow.peer) : null,
      salSrttUs: Math.round(f.flow.srttUs),
      transport,
    });
  }
  rows.sort((a, b) => a.id - b.id);
  return rows;
}

/** The migration methods of a node that has them (added to the runtime by the migration work). */
interface Migrating {
  migrateFlow?: (flow: number, to: Locator) => boolean;
  migrateInterface?: (from: string, to?: Locator) => number;
}

/** The local locator `text` names (address, and port when given), or the locator itself. */
function localLocator(ctx: ManagementContext, text: string, must: boolean): Locator {
  const l = parseLocatorText(text)!;
  const key = locatorKey({ address: l.address, port: 0 });
  const local = ctx.node.locals.find((x) => locatorKey({ address: x.address, port: 0 }) === key && (l.port === undefined || x.port === l.port));
  if (local) return local;
  if (must) {
    throw new ManagementFault("not-found", `${text} is not one of this node's locators (${ctx.node.locals.map(locatorText).join(", ")})`);
  }
  // The node's own check decides (port 0: its locator with that address).
  return { address: l.address, port: l.port ?? 0 };
}

function migrateFlow(ctx: ManagementContext, flow: number, to: string): ResultOf<"migrate.flow"> {
  const node = ctx.node;
  const state = node.host.flowState(flow);
  if (state === undefined) throw new ManagementFault("not-found", `no flow ${flowText(flow)}`);
  const m = node as unknown as Migrating;
  const local = localLocator(ctx, to, typeof m.migrateFlow !== "function");
  const ok = typeof m.migrateFlow === "function" ? m.migrateFlow.call(node, flow, local) : node.host.migrate(node.now(), flow, local);
  if (!ok) {
    const mine = ctx.node.locals.some((x) => locatorKey({ address: x.address, port: 0 }) === locatorKey({ address: local.address, port: 0 }));
    if (!mine) throw new ManagementFault("not-found", `${to} is not one of this node's locators (${ctx.node.locals.map(locatorText).join(", ")})`);
    throw new ManagementFault("conflict", `flow ${flowText(flow)} cannot move now (state ${state.state}, migration ${state.migration})`);
  }
  node.kick();
  return { moved: 1, to: locatorText(local) };
}

function migrateInterface(ctx: ManagementContext, from: string, to: string | undefined): ResultOf<"migrate.iface"> {
  const node = ctx.node;
  const m = node as unknown as Migrating;
  const addresses = node.datapath.localAddresses();
  // `from` must name something of ours: an interface, or one of our
  // addresses (with its port, or not). Anything else moves nothing and says so.
  const fromLocals = [...node.locals, ...addresses].filter((l) =>
    node.addresses.matches(l, from) || locatorText({ address: l.address, port: 0 }) === from || locatorText(l) === from ||
    addresses.some((a) => a.ifname === from && a.address.join() === l.address.join())
  );
  if (fromLocals.length === 0) {
    const have = addresses.map((a) => `${a.ifname || "?"} ${locatorText(a)}`);
    for (const l of node.locals) if (!addresses.some((a) => locatorKey(a) === locatorKey(l))) have.push(locatorText(l));
    throw new ManagementFault("not-found", `no interface or address "${from}" on this node (have ${have.join(", ") || "none"})`);
  }
  const fromKeys = new Set(fromLocals.map((l) => locatorKey({ address: l.address, port: 0 })));
  const dest = to === undefined ? undefined : localLocator(ctx, to, true);
  if (typeof m.migrateInterface === "function") {
    const moved = dest === undefined ? m.migrateInterface.call(node, from) : m.migrateInterface.call(node, from, dest);
    node.kick();
    return { moved };
  }
  // Until the runtime moves flows itself: every flow whose local address is
  // on `from` moves to `to`, or to the first of our locators that is not.
  const target = dest ?? node.locals.find((l) => !fromKeys.has(locatorKey({ address: l.address, port: 0 })));
  if (target === undefined) throw new ManagementFault("not-found", `no other locator to move the flows of ${from} to`);
  const now = node.now();
  let moved = 0;
  for (const f of [...node.host.flows()]) {
    const local = f.flow.local ?? node.locals[0];
    if (local === undefined || !fromKeys.has(locatorKey({ address: local.address, port: 0 }))) continue;
    if (node.host.migrate(now, f.id, target)) moved++;
  }
  node.kick();
  return { moved };
}

/** JSON has no Infinity (an ssthresh before the first loss): -1 stands for "none". */
function finite(n: number): number {
  return Number.isFinite(n) ? n : -1;
}

function flowText(id: number): string {
  return String(id >>> 0);
}

// ---------------------------------------------------------------------------
// Routers

function routerRows(ctx: ManagementContext): ResultOf<"router.ls">["routers"] {
  const { node } = ctx;
  const now = node.now();
  const inUse = new Set(node.agent.routers().map(locatorKey));
  const rows = new Map<string, ResultOf<"router.ls">["routers"][number]>();
  for (const r of node.agent.discovery?.routers() ?? []) {
    rows.set(locatorKey(r.locator), {
      locator: locatorText(r.locator),
      inUse: inUse.has(locatorKey(r.locator)),
      source: "discovered",
      priority: r.priority,
      bootId: (r.bootId >>> 0).toString(16).padStart(8, "0"),
      announced: r.announced.map(locatorText),
      expiresInMs: Math.max(0, Math.round((r.expiresAt - now) / 1000)),
    });
  }
  for (const l of node.agent.routers()) {
    const k = locatorKey(l);
    if (rows.has(k)) continue;
    rows.set(k, {
      locator: locatorText(l),
      inUse: true,
      source: ctx.role === "router" ? "upstream" : "configured",
      priority: null,
      bootId: null,
      announced: [],
      expiresInMs: null,
    });
  }
  return [...rows.values()];
}

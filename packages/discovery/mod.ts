/**
 * The Serval control plane, pure: router announcements and discovery,
 * service registration leases (host side and router side), DELAY
 * resolution through routers or by ad hoc broadcast, and the
 * {@linkcode ControlAgent} that wires them to a SAL host by role.
 *
 * Pure: performs no I/O, reads no clock (time is an argument), starts no
 * timer (`pollTimeout`/`handleTimeout`).
 *
 * @example A router learns a host's service from its registration
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LeaseTable, ServiceRegistrar } from "@serval/discovery";
 * import { SeededRandom, ServiceTable } from "@serval/sal";
 * import { ServicePrefix } from "@serval/wire";
 * const routerTable = new ServiceTable({ random: new SeededRandom(1) });
 * const leases = new LeaseTable(routerTable);
 * const reg = new ServiceRegistrar();
 * const router = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
 * const host = { address: new Uint8Array([198, 18, 0, 2]), port: 0 };
 * reg.addRouter(0, router);
 * reg.bind(0, { prefix: ServicePrefix.parse("web.example/64"), priority: 0, weight: 3 });
 * for (let t = reg.pollTransmit(); t; t = reg.pollTransmit()) leases.handleMessage(0, t.message, host);
 * assertEquals(leases.leases().map((l) => [l.prefix.toString(), l.weight]), [[ServicePrefix.parse("web.example/64").toString(), 3]]);
 * ```
 *
 * @module
 */

export { AdhocResponder } from "./adhoc_responder.ts";
export type { AdhocResponderOptions } from "./adhoc_responder.ts";
export { ControlAgent } from "./control_agent.ts";
export type { ControlAgentOptions, ControlRole } from "./control_agent.ts";
export type { ControlTransmit } from "./control_transmit.ts";
export { LeaseTable } from "./lease_table.ts";
export type { Lease, LeaseEvent, LeaseTableOptions } from "./lease_table.ts";
export { RouterAnnouncer } from "./router_announcer.ts";
export type { RouterAnnouncerOptions } from "./router_announcer.ts";
export { RouterDiscovery } from "./router_discovery.ts";
export type { DiscoveryEvent, KnownRouter, RouterDiscoveryOptions } from "./router_discovery.ts";
export { ServiceRegistrar } from "./service_registrar.ts";
export type { RegistrarEvent, ServiceRegistrarOptions } from "./service_registrar.ts";
export { ServiceResolver } from "./service_resolver.ts";
export type { ResolveVerdict, ServiceResolverOptions } from "./service_resolver.ts";

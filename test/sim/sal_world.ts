/**
 * A ready-made SAL scenario world on one LAN segment: a client, a service
 * router and replica servers listening on one service, with the usual
 * applications (servers accept everything; every end closes when its peer
 * has closed). The router holds a weighted FORWARD rule per replica and the
 * client a default rule to the router (facts §5).
 *
 * @module
 */

import { ServiceId, ServicePrefix } from "@serval/wire";
import type { HostEvent } from "@serval/sal";
import { EchoTransport, SeededRandom, ServiceTable } from "@serval/sal";
import type { SalFlowOptions } from "@serval/sal";
import { SimNet } from "./sim_net.ts";
import type { LinkParams } from "./sim_segment.ts";
import type { SimSegment } from "./sim_segment.ts";
import { SalNode, type SalNodeOptions } from "./sal_node.ts";

/** The service of every scenario. */
export const ECHO: ServiceId = ServiceId.parse("echo.example");

/** Options of {@linkcode salWorld}. */
export interface WorldOptions {
  /** Seed of the network and of the hosts' randomness. */
  readonly seed: number;
  /** Replica weights (one server each). Default [1]. */
  readonly weights?: readonly number[];
  /** Link parameters of the LAN. Default latency 100 µs. */
  readonly link?: Partial<LinkParams>;
  /** Interfaces of the client (2 for migration). Default 1. */
  readonly clientIfaces?: number;
  /** Interfaces of each server. Default 1. */
  readonly serverIfaces?: number;
  /** Flow tunables of every host. */
  readonly flow?: SalFlowOptions;
  /** Request queue of the servers. */
  readonly requestQueue?: number;
  /** The router's service table (e.g. with a custom DELAY plugin). */
  readonly routerTable?: (random: SeededRandom) => ServiceTable;
  /** The client's service table. */
  readonly clientTable?: (random: SeededRandom) => ServiceTable;
  /** The router's controller (DELAY verdicts). */
  readonly routerController?: SalNodeOptions["controller"];
  /** Install the router's FORWARD rules for the replicas. Default true. */
  readonly routerRules?: boolean;
  /** Trace the network. */
  readonly trace?: boolean;
}

/** A world built by {@linkcode salWorld}. */
export interface World {
  readonly net: SimNet;
  readonly lan: SimSegment;
  readonly client: SalNode;
  readonly router: SalNode;
  readonly servers: readonly SalNode[];
  /** Listener id of each server. */
  readonly listeners: readonly number[];
  /** Flows accepted by each server, in order. */
  readonly accepted: readonly number[][];
  /** Every node. */
  readonly nodes: readonly SalNode[];
}

/**
 * The application of every host: accept everything, close when the peer has
 * closed (FIN received).
 */
export function echoApp(accepted?: number[]): (node: SalNode, e: HostEvent, now: number) => void {
  return (node, e, now) => {
    if (e.type === "incoming") {
      for (let id = node.host.accept(e.listener); id !== undefined; id = node.host.accept(e.listener)) accepted?.push(id);
    } else if (e.type === "peer-fin") {
      node.host.close(now, e.flow);
    }
  };
}

/**
 * Builds the world.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const w = salWorld({ seed: 1, weights: [1, 2] });
 * assertEquals(w.servers.length, 2);
 * ```
 */
export function salWorld(o: WorldOptions): World {
  const net = new SimNet({ seed: o.seed, trace: o.trace ?? false });
  const rnd = new SeededRandom(o.seed * 7919 + 1);
  const lan = net.addSegment({ latencyUs: 100, ...o.link }, "lan");
  const flow = o.flow ? { flow: o.flow } : {};
  const client = new SalNode({
    name: "client",
    random: rnd,
    net,
    app: echoApp(),
    ...flow,
    ...(o.clientTable ? { serviceTable: o.clientTable(rnd) } : {}),
  });
  const ci = net.addNode(client, "client");
  for (let i = 0; i < (o.clientIfaces ?? 1); i++) net.attach(lan, ci);
  const router = new SalNode({
    name: "router",
    random: rnd,
    net,
    router: true,
    ...flow,
    ...(o.routerTable ? { serviceTable: o.routerTable(rnd) } : {}),
    ...(o.routerController ? { controller: o.routerController } : {}),
  });
  net.attach(lan, net.addNode(router, "router"));
  const weights = o.weights ?? [1];
  const servers: SalNode[] = [];
  const listeners: number[] = [];
  const accepted: number[][] = [];
  weights.forEach((w, k) => {
    const acc: number[] = [];
    const s = new SalNode({
      name: `server${k}`,
      random: rnd,
      net,
      app: echoApp(acc),
      ...flow,
      ...(o.requestQueue !== undefined ? { requestQueue: o.requestQueue } : {}),
    });
    const si = net.addNode(s, s.name);
    for (let i = 0; i < (o.serverIfaces ?? 1); i++) net.attach(lan, si);
    listeners.push(s.host.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") }));
    if (o.routerRules ?? true) {
      router.host.serviceTable.addTarget(ServicePrefix.parse("example/32"), { type: "forward", locator: s.locator(0), weight: w });
    }
    servers.push(s);
    accepted.push(acc);
  });
  client.host.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: router.locator(0) });
  return { net, lan, client, router, servers, listeners, accepted, nodes: [client, router, ...servers] };
}

/**
 * Connects the client to {@linkcode ECHO} and runs until the flow is up on
 * both ends (or `untilUs` passes).
 *
 * @returns The client's flowID and the server's (0 when not accepted).
 */
export function connectEcho(w: World, untilUs = 100_000): { id: number; transport: EchoTransport; sid: number } {
  const transport = new EchoTransport("client");
  const id = w.client.host.connect(w.net.now, ECHO, transport);
  const before = w.accepted[0]!.length;
  w.net.runUntil(w.net.now + untilUs);
  const sid = w.accepted[0]![before] ?? 0;
  return { id, transport, sid };
}

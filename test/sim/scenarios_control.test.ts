/**
 * The control plane end to end on the simulator (DESIGN §6): replicas find
 * the router by solicitation, register their listeners as leases, and the
 * client reaches one of them by serviceID alone; leases age out when a host
 * dies silently and go at once when a listener closes; a restarted router
 * gets its registrations back within one refresh; hosts fail over between
 * routers; two ad hoc hosts with no router find each other by broadcast; a
 * host's DELAY rule asks its router.
 */
import { describe, expect, test } from "bun:test";
import { CONTROL_SERVICE, encodeControl, ServiceId, ServicePrefix } from "@serval/wire";
import { EchoTransport, SeededRandom, ServiceTable } from "@serval/sal";
import { ROUND_ROBIN_PLUGIN, roundRobin } from "@serval/plugin-round-robin";
import { ControlNode } from "./control_node.ts";
import { expectSalIdle } from "./sal_node.ts";
import { ECHO, echoApp } from "./sal_world.ts";
import { SimNet } from "./sim_net.ts";
import type { SimSegment } from "./sim_segment.ts";

interface ControlWorld {
  readonly net: SimNet;
  readonly lan: SimSegment;
  readonly client: ControlNode;
  readonly routers: ControlNode[];
  readonly replicas: ControlNode[];
  readonly accepted: number[][];
  readonly listeners: number[];
  readonly nodes: ControlNode[];
}

/** A LAN with `routers` routers, one replica per weight listening on ECHO, and a client; all started at 0. */
function controlWorld(seed: number, weights: readonly number[], routers = 1, timeWaitUs = 2_000): ControlWorld {
  const net = new SimNet({ seed });
  const rnd = new SeededRandom(seed * 7919 + 1);
  const lan = net.addSegment({ latencyUs: 100 }, "lan");
  const flow = { flow: { timeWaitUs } };
  const add = (n: ControlNode) => {
    net.attach(lan, net.addNode(n, n.name));
    return n;
  };
  // Routers spread new flows by smooth weighted round robin: exact shares, where weighted random
  // draws stray by a few per cent over a few thousand connects.
  const rs = Array.from({ length: routers }, (_, i) =>
    add(
      new ControlNode({
        name: `router${i}`,
        random: rnd,
        net,
        router: true,
        serviceTable: new ServiceTable({ random: rnd, plugins: [roundRobin()] }),
        ...flow,
        control: { role: "router", bootId: rnd.nextU32(), leases: { plugin: ROUND_ROBIN_PLUGIN } },
      }),
    ));
  const accepted: number[][] = [];
  const replicas = weights.map((w, k) => {
    const acc: number[] = [];
    accepted.push(acc);
    return add(new ControlNode({ name: `replica${k}`, random: rnd, net, app: echoApp(acc), ...flow, control: { role: "host", weight: w } }));
  });
  const client = add(new ControlNode({ name: "client", random: rnd, net, app: echoApp(), ...flow, control: { role: "host" } }));
  for (const n of [...rs, ...replicas, client]) n.start(0);
  const listeners = replicas.map((r) => r.host.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") }));
  return { net, lan, client, routers: rs, replicas, accepted, listeners, nodes: [client, ...rs, ...replicas] };
}

/** Opens `n` flows to ECHO in batches, closing each as soon as it is up; returns how many came up. */
function connectMany(w: ControlWorld, n: number, batch = 20): number {
  let up = 0;
  for (let i = 0; i < n; i += batch) {
    for (let j = 0; j < batch && i + j < n; j++) w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(w.net.now + 2_000);
    for (const e of w.client.events.splice(0)) {
      if (e.type === "flow-up") {
        up++;
        w.client.host.close(w.net.now, e.flow);
      }
    }
  }
  w.net.runUntil(w.net.now + 50_000);
  for (const e of w.client.events.splice(0)) {
    if (e.type === "flow-up") {
      up++;
      w.client.host.close(w.net.now, e.flow);
    }
  }
  return up;
}

/**
 * Checks no packet was dropped, stops every agent (withdrawals and
 * goodbyes), drains, and checks nothing leaked. (Answers to the last
 * withdrawals find closed sockets: `no-listener` after the stop is fine.)
 */
function finish(w: ControlWorld, allowed: readonly string[] = []): void {
  w.net.runUntil(w.net.now + 100_000);
  for (const n of w.nodes) {
    const drops = [...n.host.drops.entries()].filter(([r]) => !allowed.includes(r));
    expect({ node: n.name, drops }).toEqual({ node: n.name, drops: [] });
  }
  for (const n of w.nodes) n.stop(w.net.now);
  w.net.drive(200_000);
  for (const n of w.nodes) expect(n.host.serviceTable.get(ServicePrefix.DEFAULT)).toBeUndefined();
  expectSalIdle(w.net, w.nodes);
}

const countsOf = (w: ControlWorld) => w.accepted.map((a) => a.length);

describe("scenario: control plane", () => {
  test("replicas register with the router they discover; 3,000 connects spread by weight within 5 %", () => {
    const weights = [1, 2, 3];
    const w = controlWorld(5, weights);
    w.net.runUntil(50_000);
    const leases = w.routers[0]!.agent.leases!;
    expect(leases.leases().map((l) => l.weight).sort()).toEqual([1, 2, 3]);
    expect(w.client.agent.routers()).toEqual([w.routers[0]!.locator()]);
    const N = 3000;
    expect(connectMany(w, N)).toBe(N);
    const total = weights.reduce((a, b) => a + b, 0);
    const counts = countsOf(w);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(N);
    counts.forEach((c, k) => {
      const want = (N * weights[k]!) / total;
      expect(Math.abs(c - want) / want).toBeLessThanOrEqual(0.05);
    });
    finish(w);
  }, 60_000);

  test("a host that dies silently ages out within 3 s; after that no connect goes to it", () => {
    const w = controlWorld(6, [1, 1]);
    w.net.runUntil(50_000);
    const leases = w.routers[0]!.agent.leases!;
    expect(leases.size).toBe(2);
    const dead = w.replicas[1]!;
    dead.setDown(0, true);
    const t0 = w.net.now;
    let gone = -1;
    for (let t = t0; t < t0 + 5_000_000 && gone < 0; t += 10_000) {
      w.net.runUntil(t);
      if (leases.size === 1) gone = w.net.now - t0;
    }
    expect(gone).toBeGreaterThan(0);
    expect(gone).toBeLessThanOrEqual(3_000_000);
    const before = countsOf(w);
    expect(connectMany(w, 100)).toBe(100);
    const after = countsOf(w);
    expect(after[1]).toBe(before[1]);
    expect(after[0]! - before[0]!).toBe(100);
    dead.setDown(0, false);
    dead.stop(w.net.now);
    // The router's answer to the dead host's last words reaches a closed socket.
    finish(w, ["no-listener"]);
  }, 60_000);

  test("a closed listener is unregistered at once, and its flows are told", () => {
    const w = controlWorld(7, [1, 1]);
    w.net.runUntil(50_000);
    const leases = w.routers[0]!.agent.leases!;
    // The replicas leave new flows in their accept queues.
    for (const r of w.replicas) r.setApp(undefined);
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(w.net.now + 5_000);
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    const k = w.replicas[0]!.host.flowCount === 1 ? 0 : 1;
    const t0 = w.net.now;
    w.replicas[k]!.host.unlisten(t0, w.listeners[k]!);
    w.net.runUntil(t0 + 1_000); // one LAN round trip is 200 µs
    expect(leases.size).toBe(1);
    expect(leases.leases()[0]!.locator).toEqual(w.replicas[1 - k]!.locator());
    // The flow waiting in the accept queue lost its listener: the SAL reset it and the client knows.
    w.net.runUntil(w.net.now + 10_000);
    expect(w.client.eventsOf("flow-down").map((e) => e.flow)).toContain(id);
    finish(w);
  }, 60_000);

  test("the router restarts (crash, new boot id): registrations are back within one refresh interval", () => {
    const w = controlWorld(8, [1, 2]);
    w.net.runUntil(50_000);
    const router = w.routers[0]!;
    // A crash: no goodbye, every lease and rule lost.
    router.dropIf = () => true;
    router.stop(w.net.now);
    w.net.runUntil(w.net.now + 1_000);
    router.dropIf = undefined;
    const t0 = w.net.now;
    const agent = router.start(t0, { bootId: 0xbeef });
    expect(agent.leases!.size).toBe(0);
    let back = -1;
    for (let t = t0; t < t0 + 3_000_000 && back < 0; t += 1_000) {
      w.net.runUntil(t);
      if (agent.leases!.size === 2) back = w.net.now - t0;
    }
    expect(back).toBeGreaterThanOrEqual(0);
    // The restart announcement (new boot id) makes hosts re-register at once.
    expect(back).toBeLessThanOrEqual(1_000_000);
    expect(connectMany(w, 30)).toBe(30);
    finish(w);
  }, 60_000);

  test("two routers: when one dies silently, hosts fail over to the other and re-register there", () => {
    const w = controlWorld(9, [1], 2);
    w.net.runUntil(50_000);
    expect(w.client.agent.routers().length).toBe(2);
    const [r0, r1] = w.routers as [ControlNode, ControlNode];
    expect(r0.agent.leases!.size).toBe(1);
    expect(r1.agent.leases!.size).toBe(1);
    r0.setDown(0, true);
    w.net.runUntil(w.net.now + 3_500_000);
    expect(w.client.agent.routers()).toEqual([r1.locator()]);
    const before = countsOf(w)[0]!;
    expect(connectMany(w, 20)).toBe(20);
    expect(countsOf(w)[0]! - before).toBe(20);
    r0.setDown(0, false);
    r0.stop(w.net.now);
    finish(w);
  }, 60_000);

  test("ad hoc: two hosts and no router connect by serviceID (DELAY, solicit by broadcast, advertise)", () => {
    const net = new SimNet({ seed: 10 });
    const rnd = new SeededRandom(10);
    const lan = net.addSegment({ latencyUs: 100 }, "lan");
    const acc: number[] = [];
    const a = new ControlNode({ name: "a", random: rnd, net, app: echoApp(), control: { role: "adhoc" } });
    const b = new ControlNode({ name: "b", random: rnd, net, app: echoApp(acc), control: { role: "adhoc" } });
    for (const n of [a, b]) net.attach(lan, net.addNode(n, n.name));
    a.start(0);
    b.start(0);
    b.host.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    net.runUntil(1_000);
    const t0 = net.now;
    const id = a.host.connect(t0, ECHO, new EchoTransport("client"));
    let upAt = -1;
    for (let t = t0; t < t0 + 100_000 && upAt < 0; t += 10) {
      net.runUntil(t);
      if (a.host.flowState(id)?.state === "CONNECTED") upAt = net.now - t0;
    }
    // Solicit + advertise (one round trip), then SYN / SYN-ACK (another): 400 µs.
    expect(upAt).toBe(400);
    net.runUntil(net.now + 1_000);
    expect(acc.length).toBe(1);
    expect(a.agent.resolver!.learnedCount).toBe(1);
    a.host.close(net.now, id);
    net.drive(100_000);
    for (const n of [a, b]) n.stop(net.now);
    net.drive(100_000);
    expectSalIdle(net, [a, b]);
  });

  test("ad hoc: a solicitation nobody answers drops the held SYN after the last attempt; the client learns it", () => {
    const net = new SimNet({ seed: 11 });
    const a = new ControlNode({ name: "a", random: new SeededRandom(11), net, app: echoApp(), control: { role: "adhoc", resolver: { attempts: 2, timeoutUs: 50_000 } } });
    net.attach(net.addSegment({ latencyUs: 100 }, "lan"), net.addNode(a, "a"));
    a.start(0);
    const id = a.host.connect(0, ServiceId.fromName("nobody.example"), new EchoTransport("client"));
    net.runUntil(2_000_000);
    expect(a.host.flowState(id)).toBeUndefined();
    expect(a.eventsOf("flow-down").map((e) => e.flow)).toContain(id);
    a.stop(net.now);
    net.drive(100_000);
    expectSalIdle(net, [a]);
  });

  test("a host's DELAY rule asks its router, which answers from its leases; the SYN then goes direct", () => {
    const w = controlWorld(12, [1]);
    w.net.runUntil(50_000);
    const c = w.client;
    // Resolve this prefix through the controller instead of the default route.
    c.host.serviceTable.addTarget(ServicePrefix.of(ECHO, 128), { type: "delay" });
    w.routers[0]!.record = true;
    const id = c.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(w.net.now + 10_000);
    expect(c.host.flowState(id)?.state).toBe("CONNECTED");
    expect(w.routers[0]!.sent.filter((f) => f.kind === "SYN").length).toBe(0); // not via the router
    expect(c.agent.resolver!.learnedCount).toBe(1);
    c.host.close(w.net.now, id);
    c.host.serviceTable.removeTarget(ServicePrefix.of(ECHO, 128), { type: "delay" });
    finish(w);
  }, 60_000);

  test("a connect through the router over a path with 10 ms one-way delay takes one round trip", () => {
    const w = controlWorld(14, [1]);
    w.net.runUntil(50_000);
    const c = w.client.address();
    w.lan.configure({ latencyUs: 10_000 }, { from: c });
    w.lan.configure({ latencyUs: 10_000 }, { to: c });
    const t0 = w.net.now;
    const id = w.client.host.connect(t0, ECHO, new EchoTransport("client"));
    let upAt = -1;
    for (let t = t0; t < t0 + 1_000_000 && upAt < 0; t += 10) {
      w.net.runUntil(t);
      if (w.client.host.flowState(id)?.state === "CONNECTED") upAt = w.net.now - t0;
    }
    // SYN: client → router (10 ms) → replica (0.1 ms); SYN-ACK: replica → client (10 ms).
    expect(upAt).toBeGreaterThanOrEqual(20_000);
    expect(upAt).toBeLessThanOrEqual(21_000);
    w.client.host.close(w.net.now, id);
    finish(w);
  }, 60_000);

  test("aggregation: an edge router registers example/32 with the core; the core reaches a replica behind the edge", () => {
    const net = new SimNet({ seed: 15 });
    const rnd = new SeededRandom(15);
    const lan = net.addSegment({ latencyUs: 100 }, "lan");
    const add = (n: ControlNode) => {
      net.attach(lan, net.addNode(n, n.name));
      return n;
    };
    const core = add(new ControlNode({ name: "core", random: rnd, net, router: true, control: { role: "router", bootId: 1, priority: 10 } }));
    const acc: number[] = [];
    const edge = add(new ControlNode({ name: "edge", random: rnd, net, router: true, control: { role: "router", bootId: 2 } }));
    const replica = add(new ControlNode({ name: "replica", random: rnd, net, app: echoApp(acc), control: { role: "host" } }));
    const client = add(new ControlNode({ name: "client", random: rnd, net, app: echoApp(), control: { role: "host", routers: [] } }));
    core.start(0);
    edge.start(0, { routers: [core.locator()], aggregates: [ServicePrefix.parse("example/32")] });
    replica.start(0, { routers: [edge.locator()] });
    client.start(0, { routers: [core.locator()] });
    replica.host.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    net.runUntil(50_000);
    expect(core.agent.leases!.leases().map((l) => [l.prefix.bits, l.locator])).toEqual([[32, edge.locator()]]);
    expect(edge.agent.leases!.leases().map((l) => l.locator)).toEqual([replica.locator()]);
    edge.record = true;
    const id = client.host.connect(net.now, ECHO, new EchoTransport("client"));
    net.runUntil(net.now + 10_000);
    expect(client.host.flowState(id)?.state).toBe("CONNECTED");
    expect(acc.length).toBe(1);
    expect(edge.sent.filter((f) => f.kind === "SYN").length).toBe(1); // core → edge → replica
    client.host.close(net.now, id);
    net.runUntil(net.now + 100_000);
    for (const n of [client, replica, edge, core]) n.stop(net.now);
    net.drive(200_000);
    expectSalIdle(net, [client, replica, edge, core]);
  });

  test("bad control datagrams are counted by reason, never thrown", () => {
    const w = controlWorld(13, [1]);
    w.net.runUntil(50_000);
    const r = w.routers[0]!;
    const sock = w.client.host.openDatagram();
    const good = encodeControl({ type: "router-solicit", seq: 1 });
    for (const bad of [new Uint8Array([9, 9, 9]), new Uint8Array([2, ...good.subarray(1)]), new Uint8Array([1, 77, 0, 8, 0, 0, 0, 0])]) {
      w.client.host.sendDatagram(w.net.now, sock, CONTROL_SERVICE, bad, r.locator());
    }
    w.net.runUntil(w.net.now + 1_000);
    expect(Object.fromEntries(r.agent.drops)).toEqual({ truncated: 1, "bad-version": 1, "unknown-message": 1 });
    w.client.host.closeDatagram(sock);
    finish(w);
  }, 60_000);
});

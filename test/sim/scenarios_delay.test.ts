/**
 * DELAY rules (facts §4.6, without the bugs of §10.6): a packet that hits a
 * DELAY rule waits for a controller verdict. Release (resolving to a FORWARD
 * rule the controller added meanwhile), drop, timeout and a full queue, on
 * the router and on the client host.
 */
import { describe, expect, test } from "bun:test";
import { ServicePrefix } from "@serval/wire";
import { delay, EchoTransport, ServiceTable } from "@serval/sal";
import type { SeededRandom } from "@serval/sal";
import { expectSalIdle } from "./sal_node.ts";
import { ECHO, salWorld, type World } from "./sal_world.ts";

const RULE = ServicePrefix.parse("example/32");
const table = (capacity: number, timeout: number) => (random: SeededRandom) =>
  new ServiceTable({ random, plugins: [delay({ capacity, timeout })] });

function routerWithDelay(seed: number, capacity = 64, timeout = 200_000, maxRetries?: number): World {
  const w = salWorld({
    seed,
    routerRules: false,
    routerTable: table(capacity, timeout),
    ...(maxRetries !== undefined ? { flow: { maxRetries } } : {}),
  });
  w.router.host.serviceTable.addTarget(RULE, { type: "delay" });
  for (const n of w.nodes) n.record = true;
  return w;
}

/** The controller's answer: a FORWARD rule above the DELAY one. */
function addForward(w: World): void {
  w.router.host.serviceTable.addTarget(RULE, { type: "forward", locator: w.servers[0]!.locator(), priority: 1 });
}

function closeAll(w: World, ids: number[]): void {
  for (const id of ids) w.client.host.close(w.net.now, id);
  w.net.drive(100_000);
}

describe("scenario: DELAY on the router", () => {
  test("release: the held SYN proceeds at once to a FORWARD rule added meanwhile", () => {
    const w = routerWithDelay(21);
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(1_000);
    expect(w.router.serviceEvents.length).toBe(1);
    addForward(w);
    w.router.delayVerdict(w.net.now, w.router.serviceEvents[0]!.id, "release");
    w.net.runUntil(2_000); // far before the client's 1 s retransmission
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    // The released SYN was forwarded once, with the router in its SOURCE list.
    expect(w.router.sent.filter((f) => f.kind === "SYN").map((f) => f.sourceLen)).toEqual([2]);
    expect(w.router.delayVerdict(w.net.now, w.router.serviceEvents[0]!.id, "release")).toBe(false); // one verdict per packet
    closeAll(w, [id]);
    expectSalIdle(w.net, w.nodes);
  });

  test("release with no new rule: the released SYN hits DELAY again and is dropped (no loop)", () => {
    const w = routerWithDelay(26);
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(1_000);
    expect(w.router.delayVerdict(w.net.now, w.router.serviceEvents[0]!.id, "release")).toBe(true);
    expect(w.router.serviceEvents.length).toBe(1); // not held a second time
    expect(w.router.host.drops.get("service-drop")).toBe(1);
    expect(w.router.host.pollTimeout()).toBeUndefined();
    addForward(w);
    w.net.runUntil(1_100_000); // the client's retransmission finds the FORWARD rule
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    closeAll(w, [id]);
    expectSalIdle(w.net, w.nodes);
  });

  test("drop: every delayed SYN is dropped by verdict; the client gives up; nothing reaches the server", () => {
    const w = salWorld({
      seed: 23,
      routerRules: false,
      routerTable: table(64, 10_000_000),
      flow: { maxRetries: 3 },
      routerController: (node, e, now) => void node.delayVerdict(now, e.id, "drop"),
    });
    w.router.host.serviceTable.addTarget(RULE, { type: "delay" });
    w.servers[0]!.record = true;
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "timeout" }]);
    expect(w.router.serviceEvents.length).toBe(4); // the SYN and 3 retransmissions
    const c = w.router.host.serviceTable.get(RULE)!.sets[0]!.targets[0]!.counters;
    expect([c.packetsResolved, c.packetsDropped]).toEqual([4, 4]);
    expect(w.servers[0]!.received.length).toBe(0);
    expectSalIdle(w.net, w.nodes);
  });

  test("timeout: no verdict; the held SYN is dropped after 200 ms; the retransmission takes the new FORWARD rule", () => {
    const w = routerWithDelay(24, 64, 200_000);
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(1_000);
    expect(w.router.host.pollTimeout()).toBe(100 + 200_000);
    w.net.runUntil(300_000);
    expect(w.router.host.pollTimeout()).toBeUndefined();
    const c = w.router.host.serviceTable.get(RULE)!.sets[0]!.targets[0]!.counters;
    expect([c.packetsResolved, c.packetsDropped]).toEqual([1, 1]);
    expect(w.client.host.flowState(id)?.state).toBe("REQUEST");
    addForward(w);
    w.net.runUntil(1_100_000);
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    closeAll(w, [id]);
    expectSalIdle(w.net, w.nodes);
  });

  test("queue full: 10 SYNs at a DELAY queue of 4 — 4 held, 6 dropped; all connect once a FORWARD rule exists", () => {
    const w = routerWithDelay(25, 4, 200_000);
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(w.client.host.connect(w.net.now, ECHO, new EchoTransport("client")));
    w.net.runUntil(1_000);
    expect(w.router.serviceEvents.length).toBe(4);
    expect(w.router.host.drops.get("service-drop")).toBe(6);
    const c = w.router.host.serviceTable.get(RULE)!.sets[0]!.targets[0]!.counters;
    expect([c.packetsResolved, c.packetsDropped]).toEqual([4, 6]);
    addForward(w);
    for (const e of w.router.serviceEvents) expect(w.router.delayVerdict(w.net.now, e.id, "release")).toBe(true);
    expect(w.router.host.pollTimeout()).toBeUndefined();
    w.net.runUntil(5_000);
    // The 4 held SYNs went on at once; the 6 dropped ones wait for their retransmission.
    expect(ids.filter((id) => w.client.host.flowState(id)?.state === "CONNECTED").length).toBe(4);
    w.net.runUntil(1_100_000);
    for (const id of ids) expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    closeAll(w, ids);
    expectSalIdle(w.net, w.nodes);
  });
});

describe("scenario: DELAY on the client host", () => {
  function hostWithDelay(seed: number, capacity: number): World {
    const w = salWorld({ seed, clientTable: table(capacity, 500_000) });
    w.client.host.serviceTable.addTarget(RULE, { type: "delay" });
    return w;
  }

  test("release: the SYN proceeds at once to a FORWARD rule added meanwhile", () => {
    const w = hostWithDelay(31, 64);
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(10_000);
    expect(w.client.serviceEvents.length).toBe(1);
    expect(w.client.host.flowState(id)?.state).toBe("REQUEST");
    w.client.host.serviceTable.addTarget(RULE, { type: "forward", locator: w.router.locator(), priority: 1 });
    expect(w.client.delayVerdict(w.net.now, w.client.serviceEvents[0]!.id, "release")).toBe(true);
    w.net.runUntil(w.net.now + 1_000);
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    closeAll(w, [id]);
    expectSalIdle(w.net, w.nodes);
  });

  test("queue full: 10 connects at a DELAY queue of 4 — 6 fail at once as unreachable, the 4 held ones connect on release", () => {
    const w = hostWithDelay(33, 4);
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(w.client.host.connect(w.net.now, ECHO, new EchoTransport("client")));
    w.net.runUntil(1_000);
    const down = w.client.eventsOf("flow-down");
    expect(down.length).toBe(6);
    for (const d of down) expect(d.reason).toBe("unreachable");
    expect(w.client.host.flowCount).toBe(4);
    w.client.host.serviceTable.addTarget(RULE, { type: "forward", locator: w.router.locator(), priority: 1 });
    for (const e of w.client.serviceEvents) w.client.delayVerdict(w.net.now, e.id, "release");
    w.net.runUntil(w.net.now + 1_000);
    const live = ids.filter((id) => w.client.host.flowState(id) !== undefined);
    expect(live.length).toBe(4);
    for (const id of live) expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    closeAll(w, live);
    expectSalIdle(w.net, w.nodes);
  });

  test("drop on the host fails the connect at once (unreachable); a DELAY timeout lets the SYN retransmission ask again", () => {
    const w = hostWithDelay(34, 64);
    const id = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    w.net.runUntil(1_000);
    expect(w.client.delayVerdict(w.net.now, w.client.serviceEvents[0]!.id, "drop")).toBe(true);
    // The controller knows nobody serves it: asking again would not help.
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "unreachable" }]);
    expect(w.client.host.flowState(id)).toBeUndefined();
    // No verdict at all: the rule's own timeout drops the SYN, the retransmission at 1 s asks again.
    const id2 = w.client.host.connect(w.net.now, ECHO, new EchoTransport("client"));
    const t0 = w.net.now;
    w.net.runUntil(t0 + 1_000_500);
    expect(w.client.serviceEvents.length).toBe(3);
    w.net.runUntil(t0 + 1_600_000); // …and that one times out after 500 ms
    const c = w.client.host.serviceTable.get(RULE)!.sets[0]!.targets[0]!.counters;
    expect([c.packetsResolved, c.packetsDropped]).toEqual([3, 3]);
    expect(w.router.host.serviceTable.counters.packetsResolved).toBe(0);
    w.client.host.abort(w.net.now, id2);
    w.net.drive(10_000);
    expectSalIdle(w.net, w.nodes);
  });
});

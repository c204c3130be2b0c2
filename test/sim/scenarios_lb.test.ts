/**
 * Late binding through a service router (facts §3.3, §5): the client's SYN
 * goes to the router by its default rule, the router picks a replica by
 * weight, and the replica answers the client directly.
 */
import { describe, expect, test } from "bun:test";
import { ServiceId, ServicePrefix } from "@serval/wire";
import { EchoTransport, SeededRandom } from "@serval/sal";
import { dropNth, expectSalIdle, SalNode } from "./sal_node.ts";
import { connectEcho, ECHO, salWorld } from "./sal_world.ts";

describe("scenario: connect by serviceID through a router", () => {
  test("one connect: SYN via the router, everything else direct; echo; close; no leaks", () => {
    const w = salWorld({ seed: 1 });
    w.router.record = true;
    w.servers[0]!.record = true;
    const t = new EchoTransport("client");
    const id = w.client.host.connect(w.net.now, ECHO, t);
    w.net.runUntil(10_000);
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    const sid = w.accepted[0]![0]!;
    expect(w.servers[0]!.host.flowState(sid)?.state).toBe("CONNECTED");
    // The router forwarded exactly one SYN, with the SOURCE list [client, router].
    expect(w.router.sent.map((f) => [f.kind, f.sourceLen])).toEqual([["SYN", 2]]);
    expect(w.client.host.flowState(id)?.peer).toEqual(w.servers[0]!.locator());
    t.write(new TextEncoder().encode("hello"));
    w.client.host.flush(w.net.now, id);
    w.net.runUntil(w.net.now + 10_000);
    expect(new TextDecoder().decode(t.receivedBytes())).toBe("hello");
    w.client.host.close(w.net.now, id);
    w.net.drive(1000);
    expect(w.client.events).toContainEqual({ type: "flow-down", flow: id, reason: "normal" });
    expect(w.servers[0]!.events).toContainEqual({ type: "flow-down", flow: sid, reason: "normal" });
    expect(w.router.host.flowCount).toBe(0);
    expectSalIdle(w.net, w.nodes);
  });

  test("10,000 connects split by the router's weights within 2 %", () => {
    const weights = [5, 3, 2];
    const total = weights.reduce((a, b) => a + b, 0);
    // Short TIME-WAIT: 10,000 flows close at once; the virtual minute adds nothing but steps.
    const w = salWorld({ seed: 42, weights, flow: { timeWaitUs: 2_000 } });
    const N = 10_000;
    const ids = new Set<number>();
    // The client closes each flow as soon as it is up; servers accept and close on FIN.
    for (let i = 0; i < N; i += 20) {
      for (let j = 0; j < 20; j++) ids.add(w.client.host.connect(w.net.now, ECHO, new EchoTransport("client")));
      w.net.runUntil(w.net.now + 1_000);
      for (const e of w.client.events.splice(0)) {
        if (e.type === "flow-up") w.client.host.close(w.net.now, e.flow);
      }
      // Memory stays bounded: only the flows of the last few milliseconds are alive.
      expect(w.client.host.flowCount).toBeLessThan(400);
    }
    w.net.runUntil(w.net.now + 50_000);
    for (const e of w.client.events.splice(0)) if (e.type === "flow-up") w.client.host.close(w.net.now, e.flow);
    w.net.drive(100_000);
    expect(ids.size).toBe(N);
    const counts = w.accepted.map((a) => a.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(N);
    counts.forEach((c, k) => expect(Math.abs(c / N - weights[k]! / total)).toBeLessThan(0.02));
    // Router counters agree with the servers.
    expect(w.router.host.serviceTable.counters.packetsResolved).toBe(N);
    for (const n of w.nodes) expect([...n.host.drops.entries()]).toEqual([]);
    expectSalIdle(w.net, w.nodes);
  });

  test("a replica without a listener refuses the forwarded SYN: the client learns it in one round trip", () => {
    const w = salWorld({ seed: 61 });
    const nobody = ServiceId.parse("nobody.example"); // same /32 as echo.example: the router forwards it
    const id = w.client.host.connect(0, nobody, new EchoTransport("client"));
    w.net.drive(1_000);
    expect(w.client.events).toContainEqual({ type: "flow-down", flow: id, reason: "refused" });
    expect(w.net.now).toBe(300); // client → router → server → client
    expect(w.servers[0]!.host.drops.get("no-listener")).toBe(1);
    expectSalIdle(w.net, w.nodes);
  });

  test("two routers forwarding to each other: the loop is caught by the SOURCE list; the client times out", () => {
    const w = salWorld({ seed: 62, routerRules: false, flow: { maxRetries: 2 } });
    const r2 = new SalNode({ name: "router2", random: new SeededRandom(620), net: w.net, router: true, flow: { maxRetries: 2 } });
    w.net.attach(w.lan, w.net.addNode(r2, "router2"));
    w.router.host.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: r2.locator() });
    r2.host.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: w.router.locator() });
    w.router.record = true;
    r2.record = true;
    const id = w.client.host.connect(0, ECHO, new EchoTransport("client"));
    w.net.drive(10_000);
    // Each SYN: router (SOURCE [client, router]) → router2 (+router2) → router: loop, dropped.
    expect(w.router.sent.map((f) => f.sourceLen)).toEqual([2, 2, 2]);
    expect(r2.sent.map((f) => f.sourceLen)).toEqual([3, 3, 3]);
    expect(w.router.host.drops.get("loop")).toBe(3);
    expect(w.client.events).toContainEqual({ type: "flow-down", flow: id, reason: "timeout" });
    expectSalIdle(w.net, [...w.nodes, r2]);
  });

  test("SYN-ACK lost with 3 replicas: the retransmitted SYN may reach another replica; the orphan half-open flow expires", () => {
    let orphans = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const w = salWorld({ seed, weights: [1, 1, 1], flow: { maxRetries: 4 } });
      for (const s of w.servers) s.dropIf = dropNth((f) => f.kind === "SYN-ACK");
      const { id } = connectEcho(w, 30_000_000);
      expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
      w.client.host.close(w.net.now, id);
      w.net.drive(100_000);
      expect(w.client.eventsOf("flow-down").map((e) => e.reason)).toEqual(["normal"]);
      const ends = w.servers.flatMap((s) => s.eventsOf("flow-down").map((e) => e.reason));
      expect(ends.filter((r) => r === "normal").length).toBe(1);
      // The orphan's SYN-ACKs carry another nonce: the client rejects them (no reset).
      orphans += ends.filter((r) => r === "timeout").length;
      expectSalIdle(w.net, w.nodes);
    }
    expect(orphans).toBeGreaterThan(0);
  });

  test("unlisten during the handshake resets the half-open flow; the client sees a reset", () => {
    const w = salWorld({ seed: 63 });
    const id = w.client.host.connect(0, ECHO, new EchoTransport("client"));
    w.net.runUntil(250); // the server holds a half-open flow, its SYN-ACK in flight
    expect(w.servers[0]!.host.flowCount).toBe(1);
    expect(w.servers[0]!.host.unlisten(w.net.now, w.listeners[0]!)).toBe(true);
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "reset" }]);
    expect(w.servers[0]!.eventsOf("unbind").length).toBe(1);
    expectSalIdle(w.net, w.nodes);
  });

  test("failover: one replica is dead; each SYN retransmission is resolved again and finds a live one", () => {
    const w = salWorld({ seed: 64, weights: [1, 1, 1] });
    w.servers[0]!.setDown(0, true);
    const ids: number[] = [];
    for (let i = 0; i < 300; i++) ids.push(w.client.host.connect(0, ECHO, new EchoTransport("client")));
    w.net.runUntil(300_000_000); // SYNs at 0, 1, 3, 7, 15, 31, 63, 127, 255 s
    expect(ids.filter((id) => w.client.host.flowState(id)?.state === "CONNECTED").length).toBe(300);
    expect(w.accepted[0]!.length).toBe(0);
    expect(w.accepted[1]!.length + w.accepted[2]!.length).toBe(300);
    // About a third of the first SYNs went to the dead replica and were resolved again.
    expect(w.router.host.serviceTable.counters.packetsResolved).toBeGreaterThan(400);
    for (const id of ids) w.client.host.close(w.net.now, id);
    w.net.drive(100_000);
    expectSalIdle(w.net, w.nodes);
  });
});

/**
 * Unconnected datagrams by serviceID (facts §3.9) through the service
 * router: weighted late binding per datagram, replies straight to the
 * sender's locator, and a DELAY rule on the router holding a datagram.
 */
import { describe, expect, test } from "bun:test";
import { ServiceId, ServicePrefix } from "@serval/wire";
import { expectSalIdle } from "./sal_node.ts";
import { salWorld } from "./sal_world.ts";

const DG = ServiceId.parse("dgram.example");
const CLIENT = ServiceId.parse("client.example");

describe("scenario: datagrams by serviceID", () => {
  test("2,000 datagrams through the router split 3:1 within 2 %; each replica replies to the client directly", () => {
    const w = salWorld({ seed: 81, weights: [1, 1], routerRules: false });
    const socks = w.servers.map((s) => s.host.openDatagram(ServicePrefix.of(DG)));
    w.servers.forEach((s, k) => {
      w.router.host.serviceTable.addTarget(ServicePrefix.of(DG), { type: "forward", locator: s.locator(), weight: k === 0 ? 3 : 1 });
      // The replica's application: answer every datagram to where it came from.
      s.app = (n, e, now) => {
        if (e.type === "datagram") n.host.sendDatagram(now, socks[k]!, e.source, e.payload, e.from);
      };
    });
    const cs = w.client.host.openDatagram(ServicePrefix.of(CLIENT));
    w.router.record = true;
    const N = 2_000;
    for (let i = 0; i < N; i++) {
      expect(w.client.host.sendDatagram(w.net.now, cs, DG, new Uint8Array([i & 255, i >> 8]))).toBeUndefined();
      if (i % 20 === 19) w.net.runUntil(w.net.now + 1_000);
    }
    w.net.drive(10_000);
    const got = w.servers.map((s) => s.eventsOf("datagram").length);
    expect(got[0]! + got[1]!).toBe(N);
    expect(Math.abs(got[0]! / N - 0.75)).toBeLessThan(0.02);
    for (const s of w.servers) {
      for (const e of s.eventsOf("datagram")) {
        expect(e.source.equals(CLIENT)).toBe(true);
        expect(e.from).toEqual(w.client.locator());
      }
    }
    const replies = w.client.eventsOf("datagram");
    expect(replies.length).toBe(N);
    for (const r of replies) expect(r.source.equals(DG)).toBe(true);
    // Only the requests went through the router (SOURCE [client, router]); replies went direct.
    expect(w.router.sent.length).toBe(N);
    for (const f of w.router.sent) expect([f.kind, f.sourceLen]).toEqual(["DATA", 2]);
    expectSalIdle(w.net, w.nodes);
  });

  test("a DELAY rule on the router holds a datagram until released to a FORWARD rule added meanwhile", () => {
    const w = salWorld({ seed: 82, routerRules: false });
    const server = w.servers[0]!;
    server.host.openDatagram(ServicePrefix.of(DG));
    w.router.host.serviceTable.addTarget(ServicePrefix.of(DG), { type: "delay" });
    const cs = w.client.host.openDatagram();
    w.client.host.sendDatagram(0, cs, DG, new Uint8Array([42]));
    w.net.runUntil(1_000);
    expect(w.router.serviceEvents.length).toBe(1);
    expect(server.eventsOf("datagram")).toEqual([]);
    w.router.host.serviceTable.addTarget(ServicePrefix.of(DG), { type: "forward", locator: server.locator(), priority: 1 });
    expect(w.router.delayVerdict(w.net.now, w.router.serviceEvents[0]!.id, "release")).toBe(true);
    w.net.drive(1_000);
    const got = server.eventsOf("datagram");
    expect(got.length).toBe(1);
    expect([...got[0]!.payload]).toEqual([42]);
    expect(got[0]!.from).toEqual(w.client.locator());
    expectSalIdle(w.net, w.nodes);
  });
});

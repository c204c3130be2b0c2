/**
 * The passive side (facts §3.3): the accept queue bound, a third ACK lost
 * before the client closes, and duplicate SYNs.
 */
import { describe, expect, test } from "bun:test";
import { EchoTransport } from "@serval/sal";
import { dropNth, expectSalIdle } from "./sal_node.ts";
import { connectEcho, ECHO, echoApp, salWorld } from "./sal_world.ts";

describe("scenario: listener queues", () => {
  test("accept queue full: SYNs beyond the backlog are dropped until the application accepts; then they connect", () => {
    const w = salWorld({ seed: 71 });
    const server = w.servers[0]!;
    server.app = undefined; // an application that does not accept yet
    const ids: number[] = [];
    // The backlog is checked when a SYN arrives (facts §3.3): fill it first, then 2 more.
    // (SYNs arriving together all pass the check: the queue can overshoot by the
    // handshakes in progress — see the report.)
    for (let i = 0; i < 128; i++) ids.push(w.client.host.connect(0, ECHO, new EchoTransport("client")));
    w.net.runUntil(5_000);
    for (let i = 0; i < 2; i++) ids.push(w.client.host.connect(w.net.now, ECHO, new EchoTransport("client")));
    w.net.runUntil(10_000);
    const up = () => ids.filter((id) => w.client.host.flowState(id)?.state === "CONNECTED").length;
    expect(up()).toBe(128); // the default backlog
    expect(server.host.drops.get("accept-queue-full")).toBe(2);
    const accepted: number[] = [];
    for (let id = server.host.accept(w.listeners[0]!); id !== undefined; id = server.host.accept(w.listeners[0]!)) accepted.push(id);
    expect(accepted.length).toBe(128);
    server.app = echoApp(accepted);
    w.net.runUntil(1_100_000); // the 2 refused SYNs are retransmitted at 1 s
    expect(up()).toBe(130);
    expect(accepted.length).toBe(130);
    for (const id of ids) w.client.host.close(w.net.now, id);
    w.net.drive(100_000);
    expect(w.client.eventsOf("flow-down").filter((e) => e.reason === "normal").length).toBe(130);
    expectSalIdle(w.net, w.nodes);
  });

  test("third ACK lost and the client closes at once: the FIN completes the server's handshake", () => {
    const w = salWorld({ seed: 72 });
    const server = w.servers[0]!;
    w.client.dropIf = dropNth((f) => f.kind === "ACK+SVC");
    const id = w.client.host.connect(0, ECHO, new EchoTransport("client"));
    w.net.runUntil(300); // the SYN-ACK is in, the third ACK lost
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    w.client.host.close(w.net.now, id);
    w.net.drive(10_000);
    expect(server.events.map((e) => e.type)).toEqual(["bind", "incoming", "flow-up", "peer-fin", "flow-down"]);
    expect(server.eventsOf("flow-down")[0]!.reason).toBe("normal");
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
    expectSalIdle(w.net, w.nodes);
  });

  test("a duplicate SYN during the handshake is answered by the same half-open flow", () => {
    const w = salWorld({ seed: 73, link: { duplicateRate: 1 } }); // every frame twice
    const server = w.servers[0]!;
    const { id } = connectEcho(w);
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    expect(server.host.flowCount).toBe(1);
    w.client.host.close(w.net.now, id);
    w.net.drive(10_000);
    expect(server.eventsOf("flow-down").map((e) => e.reason)).toEqual(["normal"]);
    expectSalIdle(w.net, w.nodes);
  });

  // Regression: a late copy of the SYN (a retransmission overtaken by the
  // SYN-ACK) reaches the established flow through the duplicate-SYN key, which
  // now lives as long as the flow, instead of opening an orphan half-open flow.
  test("a late duplicate SYN for an established flow creates an orphan half-open flow", () => {
    const w = salWorld({ seed: 74 });
    const server = w.servers[0]!;
    w.router.record = true;
    let syn: Uint8Array | undefined;
    const tx = w.router.pollTransmit.bind(w.router);
    w.router.pollTransmit = () => {
      const t = tx();
      if (t && !syn) syn = t.frame.slice();
      return t;
    };
    const { id } = connectEcho(w);
    expect(server.host.flowCount).toBe(1);
    server.handleFrame(w.net.now, 0, syn!, w.router.address()); // the late copy
    expect(server.host.flowCount).toBe(1);
    w.client.host.close(w.net.now, id);
    w.net.drive(100_000);
    expect(server.eventsOf("flow-down").map((e) => e.reason)).toEqual(["normal"]);
    expect(w.net.now).toBeLessThan(100_000_000);
  });
});

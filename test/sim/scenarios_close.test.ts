/**
 * FIN/RST races (facts §3.5, §3.6): one end aborts while the other closes,
 * both close at once, both abort at once, and an abort whose RST is lost.
 */
import { describe, expect, test } from "bun:test";
import { dropNth, expectSalIdle } from "./sal_node.ts";
import { connectEcho, salWorld } from "./sal_world.ts";

function setup(seed: number) {
  const w = salWorld({ seed, flow: { maxRetries: 4 } });
  const { id, sid } = connectEcho(w);
  const server = w.servers[0]!;
  expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
  expect(server.host.flowState(sid)?.state).toBe("CONNECTED");
  return { w, id, sid, server };
}

describe("scenario: FIN/RST races", () => {
  test("the server aborts while the client's FIN is in flight", () => {
    const { w, id, sid, server } = setup(11);
    w.client.host.close(w.net.now, id);
    server.host.abort(w.net.now, sid);
    w.net.drive(10_000);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "aborted" }]);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "reset" }]);
    // The FIN reached a flow that no longer exists.
    expect(server.host.drops.get("unknown-flow")).toBe(1);
    expectSalIdle(w.net, w.nodes);
  });

  test("the client aborts while the server's FIN is in flight", () => {
    const { w, id, sid, server } = setup(12);
    server.host.close(w.net.now, sid);
    w.client.host.abort(w.net.now, id);
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "aborted" }]);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "reset" }]);
    expectSalIdle(w.net, w.nodes);
  });

  test("the server aborts right after its own FIN (LASTACK): the RST ends the client's TIME-WAIT", () => {
    const { w, id, sid, server } = setup(13);
    w.client.host.close(w.net.now, id);
    w.net.runUntil(w.net.now + 100); // the FIN arrives; the server application closes at once
    expect(server.host.flowState(sid)?.state).toBe("LASTACK");
    server.host.abort(w.net.now, sid); // the RST follows the FIN on the wire
    w.net.runUntil(w.net.now + 100);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "aborted" }]);
    // FIN then RST: TIME-WAIT, then the in-window RST ends it (reported as a normal end).
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
    w.net.drive(10_000);
    expectSalIdle(w.net, w.nodes);
  });

  test("simultaneous close: both ends pass CLOSING and TIME-WAIT", () => {
    const { w, id, sid, server } = setup(14);
    w.client.host.close(w.net.now, id);
    server.host.close(w.net.now, sid);
    w.net.runUntil(w.net.now + 150);
    expect(w.client.host.flowState(id)?.state).toBe("CLOSING");
    expect(server.host.flowState(sid)?.state).toBe("CLOSING");
    w.net.runUntil(w.net.now + 200);
    expect(w.client.host.flowState(id)?.state).toBe("TIMEWAIT");
    expect(server.host.flowState(sid)?.state).toBe("TIMEWAIT");
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "normal" }]);
    expectSalIdle(w.net, w.nodes);
  });

  test("simultaneous close with one FIN lost", () => {
    const { w, id, sid, server } = setup(15);
    server.dropIf = dropNth((f) => f.kind === "FIN");
    w.client.host.close(w.net.now, id);
    server.host.close(w.net.now, sid);
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "normal" }]);
    expectSalIdle(w.net, w.nodes);
  });

  test("simultaneous abort: both RSTs reach closed flows and are dropped", () => {
    const { w, id, sid, server } = setup(16);
    w.client.host.abort(w.net.now, id);
    server.host.abort(w.net.now, sid);
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "aborted" }]);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "aborted" }]);
    expect(w.client.host.drops.get("unknown-flow")).toBe(1);
    expect(server.host.drops.get("unknown-flow")).toBe(1);
    expectSalIdle(w.net, w.nodes);
  });

  test("an abort whose RST is lost: the closing peer gives up after its retries", () => {
    const { w, id, sid, server } = setup(17);
    server.dropIf = dropNth((f) => f.kind === "RST");
    server.host.abort(w.net.now, sid);
    w.client.host.close(w.net.now, id);
    w.net.drive(10_000);
    // Packets to a vanished flow are dropped without a reset, so the client's
    // FIN is never answered: it ends by timeout (maxRetries 4).
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "timeout" }]);
    expect(server.host.drops.get("unknown-flow")).toBe(5);
    expectSalIdle(w.net, w.nodes);
  });

  // Regression: a reset sent while a control packet of ours is unacknowledged
  // (here an RSYN that was lost) carries our first unacknowledged verno, and
  // the peer accepts a reset at rcv_nxt - 1 or rcv_nxt (sal_flow.ts). Before,
  // the reset carried snd_nxt, was rejected, and the peer leaked for ever.
  test("an abort with an RSYN outstanding sends a RST the peer rejects; the peer leaks", () => {
    const w = salWorld({ seed: 18, serverIfaces: 2 });
    const server = w.servers[0]!;
    const { id, sid } = connectEcho(w);
    server.dropIf = dropNth((f) => f.kind === "RSYN");
    expect(server.host.migrate(w.net.now, sid, server.locator(1))).toBe(true);
    w.net.runUntil(w.net.now + 100);
    server.host.abort(w.net.now, sid);
    w.net.drive(10_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "reset" }]);
    expectSalIdle(w.net, w.nodes);
  });

  // Regression, same cause: the server's FIN (LASTACK) is lost, then it aborts;
  // the client in FIN-WAIT-2 must take the reset, not wait out its timer.
  test("an abort in LASTACK with the FIN lost: the RST is rejected, the peer waits out FIN-WAIT-2", () => {
    const w = salWorld({ seed: 19 });
    const server = w.servers[0]!;
    const { id, sid } = connectEcho(w);
    server.dropIf = dropNth((f) => f.kind === "FIN");
    w.client.host.close(w.net.now, id);
    w.net.runUntil(w.net.now + 100);
    expect(server.host.flowState(sid)?.state).toBe("LASTACK");
    server.host.abort(w.net.now, sid);
    w.net.runUntil(w.net.now + 1_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "reset" }]);
  });
});

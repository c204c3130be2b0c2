/**
 * Migration mid-flow under 5 % loss (facts §3.7): one end moves, or both
 * move at once. The echo transport is unreliable, so the assertions are on
 * the SAL: migration sub-states back to NONE, flowIDs unchanged on the wire,
 * each end's locators updated, and datagrams flowing over the new locators
 * after the old addresses are gone.
 */
import { describe, expect, test } from "bun:test";
import { expectSalIdle } from "./sal_node.ts";
import { connectEcho, salWorld, type World } from "./sal_world.ts";

const LOSS = 0.05;

/** Sends one datagram a millisecond for `ms` milliseconds. */
function traffic(w: World, id: number, write: (b: Uint8Array) => void, ms: number, tag: number): void {
  for (let i = 0; i < ms; i++) {
    write(new Uint8Array([tag, i & 255]));
    w.client.host.flush(w.net.now, id);
    w.net.runUntil(w.net.now + 1_000);
  }
}

function scenario(seed: number, serverMoves: boolean, breakFirst = false): void {
  const w = salWorld({ seed, clientIfaces: 2, serverIfaces: serverMoves ? 2 : 1, link: { lossRate: LOSS } });
  const server = w.servers[0]!;
  for (const n of w.nodes) n.record = true;
  const { id, sid, transport } = connectEcho(w, 30_000_000);
  expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
  expect(server.host.flowState(sid)?.state).toBe("CONNECTED");
  const write = (b: Uint8Array) => transport.write(b);
  traffic(w, id, write, 20, 1);

  // Mid-flow: move (both at once when serverMoves), keeping the old addresses until done.
  expect(w.client.host.migrate(w.net.now, id, w.client.locator(1))).toBe(true);
  if (serverMoves) expect(server.host.migrate(w.net.now, sid, server.locator(1))).toBe(true);
  if (breakFirst) w.client.setDown(0, true); // break before make: the old address is gone at once
  expect(w.client.host.flowState(id)?.migration).toBe(serverMoves ? "RSYN_SENT" : "RSYN_SENT");
  for (let i = 0; i < 600 && (w.client.host.flowState(id)?.migration !== "NONE" || server.host.flowState(sid)?.migration !== "NONE"); i++) {
    traffic(w, id, write, 100, 2);
  }
  const c = w.client.host.flowState(id)!;
  const s = server.host.flowState(sid)!;
  expect([c.state, s.state]).toEqual(["CONNECTED", "CONNECTED"]);
  expect([c.migration, s.migration]).toEqual(["NONE", "NONE"]);
  expect(c.local).toEqual(w.client.locator(1));
  expect(s.peer).toEqual(w.client.locator(1));
  const serverLoc = server.locator(serverMoves ? 1 : 0);
  expect(c.peer).toEqual(serverLoc);
  expect(s.local ?? server.locator(0)).toEqual(serverLoc);
  expect(w.client.eventsOf("migrated").length).toBeGreaterThanOrEqual(1);
  expect(server.eventsOf("migrated").length).toBeGreaterThanOrEqual(1);

  // The old addresses are gone: datagrams still flow, over the new locators, with the same flowIDs.
  w.client.setDown(0, true);
  if (serverMoves) server.setDown(0, true);
  const mark = { c: w.client.sent.length, s: server.sent.length, got: transport.received.length };
  traffic(w, id, write, 60, 3);
  expect(transport.received.length).toBeGreaterThan(mark.got + 30);
  const cData = w.client.sent.slice(mark.c).filter((f) => f.kind === "DATA");
  const sData = server.sent.slice(mark.s).filter((f) => f.kind === "DATA");
  expect(cData.length).toBeGreaterThan(0);
  expect(sData.length).toBeGreaterThan(0);
  for (const f of cData) expect([f.srcFlowId, f.dstFlowId, f.from, f.to]).toEqual([id, sid, w.client.address(1), server.address(serverMoves ? 1 : 0)]);
  for (const f of sData) expect([f.srcFlowId, f.dstFlowId, f.from, f.to]).toEqual([sid, id, server.address(serverMoves ? 1 : 0), w.client.address(1)]);
  // Every frame of the flow, before and after, carried the same flowID pair.
  for (const f of w.client.sent) if (f.kind !== "SYN") expect([f.srcFlowId, f.dstFlowId]).toEqual([id, sid]);
  for (const f of server.sent) expect([f.srcFlowId, f.dstFlowId]).toEqual([sid, id]);

  w.client.host.close(w.net.now, id);
  w.net.drive(100_000);
  expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
  expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "normal" }]);
  expect(w.lan.stats.dropped.loss).toBeGreaterThan(0);
  expectSalIdle(w.net, w.nodes);
}

describe("scenario: migration mid-flow under 5 % loss", () => {
  test("the client moves (20 seeds)", () => {
    for (let seed = 1; seed <= 20; seed++) scenario(seed, false);
  });
  test("both ends move at once (20 seeds)", () => {
    for (let seed = 101; seed <= 120; seed++) scenario(seed, true);
  });
  test("both move at once, no loss: the RSYNs cross (RSYN_SENT_RECV on both ends), then both settle", () => {
    const w = salWorld({ seed: 150, clientIfaces: 2, serverIfaces: 2 });
    const server = w.servers[0]!;
    const { id, sid } = connectEcho(w);
    w.client.host.migrate(w.net.now, id, w.client.locator(1));
    server.host.migrate(w.net.now, sid, server.locator(1));
    w.net.runUntil(w.net.now + 100); // both RSYNs arrived, no RSYN-ACK yet
    expect(w.client.host.flowState(id)?.migration).toBe("RSYN_SENT_RECV");
    expect(server.host.flowState(sid)?.migration).toBe("RSYN_SENT_RECV");
    w.net.runUntil(w.net.now + 1_000);
    expect(w.client.host.flowState(id)?.migration).toBe("NONE");
    expect(server.host.flowState(sid)?.migration).toBe("NONE");
    expect(w.client.host.flowState(id)?.peer).toEqual(server.locator(1));
    expect(server.host.flowState(sid)?.peer).toEqual(w.client.locator(1));
    w.client.host.close(w.net.now, id);
    w.net.drive(10_000);
    expectSalIdle(w.net, w.nodes);
  });
  test("the client moves and its old address vanishes at once (20 seeds)", () => {
    for (let seed = 201; seed <= 220; seed++) scenario(seed, false, true);
  });
  test("both move and both old addresses vanish at once: each RSYN goes to the other's old address, so the flow times out (facts §10.12), cleanly", () => {
    const w = salWorld({ seed: 7, clientIfaces: 2, serverIfaces: 2, flow: { maxRetries: 5 } });
    const server = w.servers[0]!;
    const { id, sid } = connectEcho(w);
    w.client.host.migrate(w.net.now, id, w.client.locator(1));
    server.host.migrate(w.net.now, sid, server.locator(1));
    w.client.setDown(0, true);
    server.setDown(0, true);
    w.net.drive(100_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "timeout" }]);
    expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "timeout" }]);
    expectSalIdle(w.net, w.nodes);
  });

  test("five moves in turn (client, server, client back, server back, client) under 5 % loss (10 seeds)", () => {
    for (let seed = 301; seed <= 310; seed++) {
      const w = salWorld({ seed, clientIfaces: 2, serverIfaces: 2, link: { lossRate: LOSS } });
      const server = w.servers[0]!;
      const { id, sid, transport } = connectEcho(w, 30_000_000);
      let ci = 0;
      let si = 0;
      for (const [who, to] of [["c", 1], ["s", 1], ["c", 0], ["s", 0], ["c", 1]] as const) {
        for (const i of [0, 1]) {
          w.client.setDown(i, false);
          server.setDown(i, false);
        }
        if (who === "c") expect(w.client.host.migrate(w.net.now, id, w.client.locator((ci = to)))).toBe(true);
        else expect(server.host.migrate(w.net.now, sid, server.locator((si = to)))).toBe(true);
        w.net.runUntil(w.net.now + 30_000_000);
        const c = w.client.host.flowState(id)!;
        const s = server.host.flowState(sid)!;
        expect([c.migration, s.migration]).toEqual(["NONE", "NONE"]);
        expect([c.local, c.peer]).toEqual([w.client.locator(ci), server.locator(si)]);
        expect([s.local, s.peer]).toEqual([server.locator(si), w.client.locator(ci)]);
        w.client.setDown(ci ^ 1, true);
        server.setDown(si ^ 1, true);
        const before = transport.received.length;
        traffic(w, id, (b) => transport.write(b), 20, 4);
        expect(transport.received.length - before).toBeGreaterThan(10);
      }
      w.client.host.close(w.net.now, id);
      w.net.drive(100_000);
      expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
      expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "normal" }]);
      expectSalIdle(w.net, w.nodes);
    }
  });
});

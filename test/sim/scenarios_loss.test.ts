/**
 * Loss of each control packet in turn (facts §3.4): the handshake (SYN, the
 * router's forwarded SYN, SYN-ACK, third ACK), the close (FIN, its ACK, the
 * peer's FIN, the last ACK) and the migration (RSYN, RSYN-ACK, ACK). Each
 * time exactly one frame is lost (a `dropNth` hook on the sender) and the
 * flow must recover by retransmission and end clean.
 */
import { describe, expect, test } from "bun:test";
import { EchoTransport } from "@serval/sal";
import { dropNth, expectSalIdle, type FrameInfo, type SalNode } from "./sal_node.ts";
import { connectEcho, ECHO, salWorld, type World } from "./sal_world.ts";

type Pick = (w: World) => { node: SalNode; match: (f: FrameInfo) => boolean };

function lifecycle(w: World, migrate: boolean): { id: number; sid: number } {
  const { id, sid, transport } = connectEcho(w, 20_000_000);
  expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
  expect(sid).not.toBe(0);
  expect(w.servers[0]!.host.flowState(sid)?.state).toBe("CONNECTED");
  if (migrate) {
    expect(w.client.host.migrate(w.net.now, id, w.client.locator(1))).toBe(true);
    w.net.runUntil(w.net.now + 20_000_000);
    expect(w.client.host.flowState(id)?.migration).toBe("NONE");
    expect(w.client.host.flowState(id)?.local).toEqual(w.client.locator(1));
    expect(w.servers[0]!.host.flowState(sid)?.peer).toEqual(w.client.locator(1));
    expect(w.servers[0]!.host.flowState(sid)?.migration).toBe("NONE");
    w.client.setDown(0, true); // the old address is gone
    transport.write(new Uint8Array([7, 7]));
    w.client.host.flush(w.net.now, id);
    w.net.runUntil(w.net.now + 10_000);
    expect([...transport.receivedBytes()]).toEqual([7, 7]);
  }
  w.client.host.close(w.net.now, id);
  w.net.drive(10_000);
  expect(w.client.events).toContainEqual({ type: "flow-down", flow: id, reason: "normal" });
  expect(w.servers[0]!.events).toContainEqual({ type: "flow-down", flow: sid, reason: "normal" });
  return { id, sid };
}

const cases: [string, Pick, boolean][] = [
  ["SYN", (w) => ({ node: w.client, match: (f) => f.kind === "SYN" }), false],
  ["forwarded SYN", (w) => ({ node: w.router, match: (f) => f.kind === "SYN" }), false],
  ["SYN-ACK", (w) => ({ node: w.servers[0]!, match: (f) => f.kind === "SYN-ACK" }), false],
  ["third ACK", (w) => ({ node: w.client, match: (f) => f.kind === "ACK+SVC" }), false],
  ["client FIN", (w) => ({ node: w.client, match: (f) => f.kind === "FIN" }), false],
  ["server ACK of the FIN", (w) => ({ node: w.servers[0]!, match: (f) => f.kind === "ACK" }), false],
  ["server FIN", (w) => ({ node: w.servers[0]!, match: (f) => f.kind === "FIN" }), false],
  ["last ACK", (w) => ({ node: w.client, match: (f) => f.kind === "ACK" }), false],
  ["RSYN", (w) => ({ node: w.client, match: (f) => f.kind === "RSYN" }), true],
  ["RSYN-ACK", (w) => ({ node: w.servers[0]!, match: (f) => f.kind === "RSYN-ACK" }), true],
  ["migration ACK", (w) => ({ node: w.client, match: (f) => f.kind === "ACK" }), true],
];

describe("scenario: loss of each control packet", () => {
  for (const [name, pick, migrate] of cases) {
    test(`lose the ${name}${migrate ? " (migration)" : ""}: recovered, no leaks`, () => {
      const w = salWorld({ seed: 3, clientIfaces: migrate ? 2 : 1 });
      const { node, match } = pick(w);
      const hook = dropNth(match, 1);
      node.dropIf = hook;
      lifecycle(w, migrate);
      expect(hook.dropped).toBe(true);
      expect(node.dropped).toBe(1);
      expectSalIdle(w.net, w.nodes);
    });
  }

  test("every control packet of one lifecycle lost once each, in one run", () => {
    const w = salWorld({ seed: 5, clientIfaces: 2 });
    const seen = new Map<string, number>();
    const lossy = (f: FrameInfo) => {
      if (f.kind === "DATA") return false;
      const k = `${f.node}:${f.kind}`;
      const n = (seen.get(k) ?? 0) + 1;
      seen.set(k, n);
      return n === 1; // the first of each kind from each node
    };
    for (const n of w.nodes) n.dropIf = lossy;
    lifecycle(w, true);
    expect(w.nodes.reduce((a, n) => a + n.dropped, 0)).toBeGreaterThanOrEqual(9);
    expectSalIdle(w.net, w.nodes);
  });

  test("the third ACK is lost and the client migrates at once (the server is still in RESPOND): both settle", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const w = salWorld({ seed, clientIfaces: 2, link: { lossRate: seed > 10 ? 0.05 : 0 } });
      const server = w.servers[0]!;
      w.client.dropIf = dropNth((f) => f.kind === "ACK+SVC");
      let moved = false;
      w.client.app = (n, e, now) => {
        if (e.type === "flow-up" && !moved) moved = n.host.migrate(now, e.flow, n.locator(1));
      };
      const id = w.client.host.connect(0, ECHO, new EchoTransport("client"));
      w.net.runUntil(30_000_000);
      expect(moved).toBe(true);
      const sid = w.accepted[0]![0]!;
      const c = w.client.host.flowState(id)!;
      const s = server.host.flowState(sid)!;
      expect([c.state, c.migration, s.state, s.migration]).toEqual(["CONNECTED", "NONE", "CONNECTED", "NONE"]);
      expect(s.peer).toEqual(w.client.locator(1));
      w.client.setDown(0, true);
      w.client.host.close(w.net.now, id);
      w.net.drive(100_000);
      expect(server.eventsOf("flow-down").map((e) => e.reason)).toEqual(["normal"]);
      expectSalIdle(w.net, w.nodes);
    }
  });
});

/**
 * Close × migration races (facts §3.6, §3.7): a FIN and an RSYN in the same
 * flow's control queue, with and without 5 % loss.
 */
import { describe, expect, test } from "bun:test";
import { dropNth, expectSalIdle } from "./sal_node.ts";
import { connectEcho, echoApp, salWorld, type World } from "./sal_world.ts";

type Race = (w: World, id: number, sid: number) => void;

function run(seed: number, loss: number, race: Race): { client: string[]; server: string[]; w: World } {
  const w = salWorld({ seed, clientIfaces: 2, serverIfaces: 2, link: { lossRate: loss } });
  const server = w.servers[0]!;
  const { id, sid } = connectEcho(w, 30_000_000);
  expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
  race(w, id, sid);
  w.net.drive(200_000);
  return {
    client: w.client.eventsOf("flow-down").map((e) => e.reason),
    server: server.eventsOf("flow-down").map((e) => e.reason),
    w,
  };
}

function expectNormal(race: Race, loss: number): void {
  for (let seed = 1; seed <= 20; seed++) {
    const r = run(seed, loss, race);
    expect({ seed, client: r.client, server: r.server }).toEqual({ seed, client: ["normal"], server: ["normal"] });
    expectSalIdle(r.w.net, r.w.nodes);
  }
}

const closeDuringOwnMigration: Race = (w, id) => {
  w.client.host.migrate(w.net.now, id, w.client.locator(1));
  w.client.host.close(w.net.now, id);
};
const peerClosesDuringMigration: Race = (w, id, sid) => {
  w.client.host.migrate(w.net.now, id, w.client.locator(1));
  w.net.runUntil(w.net.now + 150); // the server is in RSYN_RECV
  w.servers[0]!.host.close(w.net.now, sid);
};
const bothMoveBothClose: Race = (w, id, sid) => {
  w.client.host.migrate(w.net.now, id, w.client.locator(1));
  w.servers[0]!.host.migrate(w.net.now, sid, w.servers[0]!.locator(1));
  w.client.host.close(w.net.now, id);
  w.servers[0]!.host.close(w.net.now, sid);
};

describe("scenario: close during migration", () => {
  for (const loss of [0, 0.05]) {
    test(`close right after migrate (RSYN then FIN queued), loss ${loss * 100} %`, () => expectNormal(closeDuringOwnMigration, loss));
    test(`the peer closes while in RSYN_RECV, loss ${loss * 100} %`, () => expectNormal(peerClosesDuringMigration, loss));
    test(`both move and both close at once, loss ${loss * 100} %`, () => expectNormal(bothMoveBothClose, loss));
  }

  for (const mover of ["server (CLOSEWAIT)", "client (FINWAIT2)"] as const) {
    test(`half-closed flow: the ${mover} moves, then the server closes (20 seeds, half with 5 % loss)`, () => {
      for (let seed = 1; seed <= 20; seed++) {
        const w = salWorld({ seed, clientIfaces: 2, serverIfaces: 2, link: { lossRate: seed > 10 ? 0.05 : 0 } });
        const server = w.servers[0]!;
        const { id, sid } = connectEcho(w, 30_000_000);
        server.app = (n, e, now) => { if (e.type === "incoming") echoApp()(n, e, now); }; // no close on FIN
        w.client.host.close(w.net.now, id);
        w.net.runUntil(w.net.now + 10_000_000);
        expect([w.client.host.flowState(id)?.state, server.host.flowState(sid)?.state]).toEqual(["FINWAIT2", "CLOSEWAIT"]);
        const serverMoves = mover.startsWith("server");
        if (serverMoves) expect(server.host.migrate(w.net.now, sid, server.locator(1))).toBe(true);
        else expect(w.client.host.migrate(w.net.now, id, w.client.locator(1))).toBe(true);
        w.net.runUntil(w.net.now + 10_000_000);
        const c = w.client.host.flowState(id)!;
        const s = server.host.flowState(sid)!;
        expect([c.migration, s.migration]).toEqual(["NONE", "NONE"]);
        expect(c.peer).toEqual(server.locator(serverMoves ? 1 : 0));
        expect(s.peer).toEqual(w.client.locator(serverMoves ? 0 : 1));
        server.host.close(w.net.now, sid);
        w.net.drive(100_000);
        expect(w.client.eventsOf("flow-down").map((e) => e.reason)).toEqual(["normal"]);
        expect(server.eventsOf("flow-down").map((e) => e.reason)).toEqual(["normal"]);
        expectSalIdle(w.net, w.nodes);
      }
    });
  }

  // Regression: a move started after our FIN (LASTACK) queues an RSYN behind
  // the FIN; the FIN's acknowledgement alone ends the flow (sal_flow.ts
  // #ourFinAcked compares with the FIN's verno), the RSYN is moot.
  test("a migration started in LASTACK blocks the close (server ends by timeout)", () => {
    const r = run(1, 0, (w, id, sid) => {
      w.client.host.close(w.net.now, id);
      w.net.runUntil(w.net.now + 100);
      expect(w.servers[0]!.host.flowState(sid)?.state).toBe("LASTACK");
      expect(w.servers[0]!.host.migrate(w.net.now, sid, w.servers[0]!.locator(1))).toBe(true);
    });
    expect(r.server).toEqual(["normal"]);
    expect(r.w.net.now).toBeLessThan(120_000_000);
  });

  // Regression: the client moves in FINWAIT1 and the RSYN-ACK is lost; when
  // both FINs are through it enters TIME-WAIT and drops the pending RSYN,
  // instead of retransmitting it to a flow that no longer exists.
  test("migrate in FINWAIT1 and lose the RSYN-ACK: the client ends by timeout", () => {
    const r = run(2, 0, (w, id) => {
      w.servers[0]!.dropIf = dropNth((f) => f.kind === "RSYN-ACK");
      w.client.host.close(w.net.now, id);
      w.net.runUntil(w.net.now + 50);
      expect(w.client.host.migrate(w.net.now, id, w.client.locator(1))).toBe(true);
    });
    expect(r.client).toEqual(["normal"]);
    expect(r.server).toEqual(["normal"]);
  });
});

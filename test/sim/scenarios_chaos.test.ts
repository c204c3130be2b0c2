/**
 * Everything at once on a bad LAN: 5 % loss, 5 % duplication, 10 %
 * reordering and 2 % one-bit corruption, three replicas behind the router;
 * connect, echo, migrate mid-flow, close. Every seed must end with both
 * ends closed normally and nothing left (checksums catch the corruption;
 * retransmission covers the rest).
 */
import { describe, expect, test } from "bun:test";
import { expectSalIdle } from "./sal_node.ts";
import { connectEcho, salWorld } from "./sal_world.ts";

describe("scenario: chaos", () => {
  test("60 seeds: loss, duplication, reordering, corruption; migrate mid-flow; close clean", () => {
    const corrupted: number[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const w = salWorld({
        seed,
        weights: [1, 1, 1],
        clientIfaces: 2,
        link: { lossRate: 0.05, duplicateRate: 0.05, reorderRate: 0.1, reorderJitterUs: 300, corruptRate: 0.02 },
      });
      const { id, transport } = connectEcho(w, 30_000_000);
      expect({ seed, state: w.client.host.flowState(id)?.state }).toEqual({ seed, state: "CONNECTED" });
      const write = () => {
        for (let i = 0; i < 20; i++) {
          transport.write(new Uint8Array([seed, i]));
          w.client.host.flush(w.net.now, id);
          w.net.runUntil(w.net.now + 500);
        }
      };
      write();
      expect(w.client.host.migrate(w.net.now, id, w.client.locator(1))).toBe(true);
      write();
      w.net.runUntil(w.net.now + 30_000_000);
      expect({ seed, mig: w.client.host.flowState(id)?.migration }).toEqual({ seed, mig: "NONE" });
      // Whatever arrived is what was sent: corruption never reaches the application.
      for (const p of transport.received) expect(p[0]).toBe(seed);
      w.client.host.close(w.net.now, id);
      w.net.drive(200_000);
      expect({ seed, down: w.client.eventsOf("flow-down").map((e) => e.reason) }).toEqual({ seed, down: ["normal"] });
      // The replica that served the flow closed normally; a replica reached by a
      // retransmitted SYN may hold an orphan half-open flow, which times out.
      const ends = w.servers.flatMap((s) => s.eventsOf("flow-down").map((e) => e.reason));
      expect(ends.filter((r) => r === "normal").length).toBe(1);
      for (const r of ends) expect(["normal", "timeout"]).toContain(r);
      corrupted.push(w.lan.stats.corrupted);
      expectSalIdle(w.net, w.nodes);
    }
    expect(corrupted.reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
  });
});

/**
 * SAL handshakes per second of pure CPU inside the deterministic simulator
 * (test/sim): a client, a service router and three replicas on one simulated
 * LAN; each handshake is a connect by serviceID through the router, the
 * accept, a close from the client, the server's close, and TIME-WAIT. The
 * figure includes the simulator's own cost (event heap, frame copies), so it
 * is a floor for the SAL, not its ceiling (see bench/sal.bench.ts for the SAL
 * alone).
 *
 * Run: `npx bun bench/sim.bench.ts`
 *
 * @module
 */

import { EchoTransport } from "../packages/sal/mod.ts";
import { ECHO, salWorld } from "../test/sim/sal_world.ts";
import { report } from "./harness.ts";
import type { BenchRow } from "./harness.ts";

const rows: BenchRow[] = [];
for (const [label, n] of [["warm-up", 2_000], ["measured", 20_000]] as const) {
  const w = salWorld({ seed: 5, weights: [3, 2, 1], flow: { timeWaitUs: 1_000_000 } });
  const t0 = performance.now();
  // 20 connects per simulated millisecond, each closed 5 ms after it starts.
  const ids: number[] = [];
  for (let i = 0; i < n; i += 20) {
    for (let j = 0; j < 20; j++) ids.push(w.client.host.connect(w.net.now, ECHO, new EchoTransport("client")));
    w.net.runUntil(w.net.now + 1_000, 1_000_000);
    if (ids.length > 100) for (const id of ids.splice(0, 20)) w.client.host.close(w.net.now, id);
  }
  for (const id of ids) w.client.host.close(w.net.now, id);
  w.net.drive(10_000_000);
  const ms = performance.now() - t0;
  const left = w.nodes.reduce((s, node) => s + node.host.flowCount, 0);
  if (left !== 0) throw new Error(`${left} flows left after the run`);
  if (label === "measured") {
    const accepted = w.accepted.reduce((s, a) => s + a.length, 0);
    if (accepted !== n) throw new Error(`accepted ${accepted} of ${n}`);
    rows.push({
      name: `simulator: connect via router + close + TIME-WAIT (${n} flows)`,
      nsPerOp: (ms * 1e6) / n,
      opsPerSec: n / (ms / 1000),
      extra: { "µs/handshake": (ms * 1000) / n, "sim s": w.net.now / 1e6 },
    });
  }
}
report("SAL handshakes in the simulator (pure CPU)", rows);

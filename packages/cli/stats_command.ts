/**
 * `serval stats`: a running node's counters: the loop, the datapath, the
 * SAL, the service table, the control plane and the management socket.
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Command } from "effect/cli";
import type { ResultOf } from "@serval/management";
import { callDaemon, humanBytes, isTerminal, jsonFlag, paint, runDirFlag } from "./manage_common.ts";

/**
 * The lines of `serval stats`.
 *
 * @param s Statistics from the daemon.
 * @param color Colours (a terminal).
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { statsLines } from "@serval/cli";
 * const counters = { packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 };
 * const lines = statsLines({
 *   role: "router", uptimeMs: 1500,
 *   node: { batches: 1, packetsIn: 0, packetsOut: 0, eventsOut: 0, appErrors: 0 },
 *   datapath: { kind: "udp", rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: {} },
 *   host: { flows: 0, drops: {} }, table: { rules: 0, ...counters, noMatch: 0 },
 *   control: { routers: 0, leases: 0, drops: {} }, management: { connections: 1, requests: 1, errors: 0 },
 * }, false);
 * console.assert(lines[0] === "node        router, up 1.5 s, 1 batches, 0 packets in, 0 out, 0 events to applications, 0 application errors");
 * ```
 */
export function statsLines(s: ResultOf<"stats">, color: boolean): string[] {
  const drops = (d: Readonly<Record<string, number>>) => {
    const e = Object.entries(d).filter(([, n]) => n > 0);
    return e.length === 0 ? "no drops" : paint(color, 33, `drops ${e.map(([k, n]) => `${k} ${n}`).join(", ")}`);
  };
  const label = (l: string) => paint(color, 1, l.padEnd(10));
  const t = s.table;
  return [
    `${label("node")}  ${s.role}, up ${(s.uptimeMs / 1000).toFixed(1)} s, ${s.node.batches} batches, ${s.node.packetsIn} packets in, ${s.node.packetsOut} out, ${s.node.eventsOut} events to applications, ${s.node.appErrors} application errors`,
    `${label("datapath")}  ${s.datapath.kind}: rx ${s.datapath.rxPackets} packets (${humanBytes(s.datapath.rxBytes)}B), tx ${s.datapath.txPackets} packets (${humanBytes(s.datapath.txBytes)}B), ${drops(s.datapath.drops)}`,
    `${label("sal")}  ${s.host.flows} flows, ${drops(s.host.drops)}`,
    `${label("table")}  ${t.rules} rules, ${t.packetsResolved} packets resolved (${humanBytes(t.bytesResolved)}B), ${t.packetsDropped} dropped (${humanBytes(t.bytesDropped)}B), ${t.noMatch} without a rule`,
    `${label("control")}  ${s.control.routers} routers in use, ${s.control.leases === null ? "no lease table" : `${s.control.leases} leases`}, ${drops(s.control.drops)}`,
    `${label("management")}  ${s.management.connections} connections, ${s.management.requests} requests, ${s.management.errors} refused`,
  ];
}

/** `serval stats`. */
export const statsCommand = Command.make("stats", { json: jsonFlag, runDir: runDirFlag }, (f) =>
  Effect.gen(function* () {
    const r = yield* callDaemon("stats", f.runDir, "stats", {});
    if (f.json) return yield* Console.log(JSON.stringify(r, null, 2));
    for (const line of statsLines(r, isTerminal())) yield* Console.log(line);
  })).pipe(
    Command.withDescription("Show a running node's counters (loop, datapath, SAL, table, control plane, management)"),
    Command.withExamples([
      { command: "serval stats", description: "counters of the daemon in the default run directory" },
      { command: "serval stats --json", description: "as JSON" },
    ]),
  );

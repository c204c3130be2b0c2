/**
 * `serval flow ls`: the live flows of a running node, ss-like: state, side,
 * flowIDs, service, locators and the transport's counters (cwnd, RTT,
 * retransmissions, bytes).
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Command } from "effect/cli";
import type { FlowRow } from "@serval/management";
import { callDaemon, humanBytes, isTerminal, jsonFlag, paint, runDirFlag, shortPrefix, table } from "./manage_common.ts";

/**
 * The lines of `serval flow ls`.
 *
 * @param rows Flows from the daemon.
 * @param color Colours (a terminal).
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { flowLines } from "@serval/cli";
 * const lines = flowLines([], false);
 * console.assert(lines[0]!.startsWith("STATE"));
 * ```
 */
export function flowLines(rows: readonly FlowRow[], color: boolean): string[] {
  const ms = (us: number) => (us < 0 ? "-" : `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`);
  return table(
    ["STATE", "SIDE", "FLOW", "PEER-FLOW", "SERVICE", "LOCAL", "PEER", "CWND", "RTT", "RETRANS", "SENT", "RECV"],
    rows.map((f) => {
      const t = f.transport;
      const state = f.migration === "NONE" ? f.state : `${f.state}/${f.migration}`;
      return [
        paint(color, f.state === "CONNECTED" && f.migration === "NONE" ? 32 : 33, state),
        f.side,
        String(f.id),
        String(f.peerId),
        shortPrefix(f.service),
        f.local ?? "-",
        f.peer ?? "-",
        t ? String(t.cwnd) : "-",
        // The transport restarts its RTT estimate after a move: the SAL's stands in until then.
        ms(t && t.srttUs >= 0 ? t.srttUs : f.salSrttUs),
        t ? String(t.retransmits) : "-",
        t ? humanBytes(t.bytesSent) : "-",
        t ? humanBytes(t.bytesReceived) : "-",
      ];
    }),
    color,
  );
}

const lsCommand = Command.make("ls", { json: jsonFlag, runDir: runDirFlag }, (f) =>
  Effect.gen(function* () {
    const r = yield* callDaemon("flow ls", f.runDir, "flow.ls", {});
    if (f.json) return yield* Console.log(JSON.stringify(r, null, 2));
    for (const line of flowLines(r.flows, isTerminal())) yield* Console.log(line);
  })).pipe(
    Command.withDescription("List live flows with state and transport counters (cwnd, RTT, retransmissions, bytes)"),
    Command.withExamples([
      { command: "serval flow ls", description: "every flow, ss-like" },
      { command: "serval flow ls --json --run-dir /run/serval-b", description: "as JSON, from another daemon" },
    ]),
  );

/** `serval flow ls`. */
export const flowCommand = Command.make("flow").pipe(
  Command.withDescription("Inspect the flows of a running node"),
  Command.withSubcommands([lsCommand]),
);

/**
 * `serval migrate flow ID to IP` and `serval migrate iface NAME|IP [to IP]`:
 * move flows of a running node to another of its locators (the SAL's RSYN
 * handshake). The command waits until the moves complete (a progress line
 * on a terminal), or returns at once with `--no-wait`.
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import { checkParams, type ManagementClient } from "@serval/management";
import { progress, runDirFlag, withDaemon } from "./manage_common.ts";
import { fail } from "./preset_command.ts";

const noWait = Flag.Boolean("no-wait").pipe(Flag.withDescription("return once the moves started, without waiting for them to complete"), Flag.withDefault(false));

const WAIT_MS = 10_000;

/**
 * Waits until no flow (or none of `flows`) is migrating, showing progress.
 *
 * @returns How many were still moving when the wait ended (0: all done).
 */
async function settle(client: ManagementClient, flows: readonly number[] | undefined): Promise<number> {
  const p = progress();
  const end = Date.now() + WAIT_MS;
  try {
    for (;;) {
      const all = (await client.request("flow.ls", {})).flows;
      const moving = all.filter((f) => f.migration !== "NONE" && (flows === undefined || flows.includes(f.id))).length;
      if (moving === 0 || Date.now() > end) return moving;
      p.update(`waiting for ${moving} flow(s) to complete the move (RSYN)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    p.done();
  }
}

/** `to` must be followed by an address; anything else is a usage error. */
function readTo(words: readonly string[], optional: boolean): string | undefined | { error: string } {
  if (words.length === 0) return optional ? undefined : { error: 'missing "to IP[:PORT]"' };
  if (words[0] !== "to" || words.length !== 2) return { error: `expected "to IP[:PORT]", got "${words.join(" ")}"` };
  return words[1];
}

const flowMigrate = Command.make(
  "flow",
  {
    flow: Argument.String("id").pipe(Argument.withDescription("flowID (as serval flow ls shows it)")),
    to: Argument.String("to").pipe(Argument.withDescription("to IP[:PORT]: one of the node's locators"), Argument.variadic()),
    noWait,
    runDir: runDirFlag,
  },
  (f) =>
    Effect.gen(function* () {
      const to = readTo(f.to, false);
      if (to === undefined || typeof to === "object") return yield* fail(2, `serval migrate flow: ${to?.error ?? "missing to"}`);
      const params = checkParams("migrate.flow", { flow: /^\d+$/.test(f.flow) ? Number(f.flow) : f.flow, to });
      if (typeof params === "string") return yield* fail(2, `serval migrate flow: ${params}`);
      const r = yield* withDaemon("migrate flow", f.runDir, async (c) => {
        const moved = await c.request("migrate.flow", params);
        const left = f.noWait ? -1 : await settle(c, [params.flow]);
        return { ...moved, left };
      });
      const state = r.left < 0 ? "moving" : r.left === 0 ? "moved" : "still moving (no answer from the peer yet)";
      yield* Console.log(`flow ${params.flow} ${state} to ${r.to}`);
    }),
).pipe(
  Command.withDescription("Move one flow to another of the node's locators"),
  Command.withExamples([{ command: "serval migrate flow 3735928559 to 198.18.2.1", description: "move flow 3735928559 to our address 198.18.2.1" }]),
);

const ifaceMigrate = Command.make(
  "iface",
  {
    from: Argument.String("from").pipe(Argument.withDescription("interface name or address whose flows move")),
    to: Argument.String("to").pipe(Argument.withDescription("[to IP[:PORT]]: where (default: another locator of the node)"), Argument.variadic()),
    noWait,
    runDir: runDirFlag,
  },
  (f) =>
    Effect.gen(function* () {
      const to = readTo(f.to, true);
      if (typeof to === "object") return yield* fail(2, `serval migrate iface: ${to.error}`);
      const params = checkParams("migrate.iface", to === undefined ? { from: f.from } : { from: f.from, to });
      if (typeof params === "string") return yield* fail(2, `serval migrate iface: ${params}`);
      const r = yield* withDaemon("migrate iface", f.runDir, async (c) => {
        const moved = await c.request("migrate.iface", params);
        const left = f.noWait || moved.moved === 0 ? -1 : await settle(c, undefined);
        return { ...moved, left };
      });
      const state = r.left <= 0 ? (r.left < 0 && r.moved > 0 ? "moving" : "moved") : `moving (${r.left} still waiting for their peer)`;
      yield* Console.log(`${r.moved} flow(s) ${state} off ${f.from}${to !== undefined ? ` to ${to}` : ""}`);
    }),
).pipe(
  Command.withDescription("Move every flow of an interface (or address) to another locator"),
  Command.withExamples([
    { command: "serval migrate iface eth0", description: "move every flow off eth0" },
    { command: "serval migrate iface 198.18.1.1 to 198.18.2.1", description: "move the flows of one address to another" },
  ]),
);

/** `serval migrate flow|iface`. */
export const migrateCommand = Command.make("migrate").pipe(
  Command.withDescription("Move flows of a running node to other locators (SAL migration)"),
  Command.withSubcommands([flowMigrate, ifaceMigrate]),
);


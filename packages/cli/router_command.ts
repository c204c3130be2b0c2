/**
 * `serval router ls` and `serval lease ls`: the routers a running node uses
 * (configured, discovered or upstream) and a router's leases.
 *
 * `serval router` itself runs a router (the preset); `ls` is its
 * subcommand, added by {@linkcode withRouterLs}.
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Command } from "effect/cli";
import type { LeaseRow, RouterRow } from "@serval/management";
import { callDaemon, isTerminal, jsonFlag, paint, runDirFlag, shortPrefix, table } from "./manage_common.ts";

/**
 * The lines of `serval router ls`.
 *
 * @param rows Routers from the daemon.
 * @param color Colours (a terminal).
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { routerLines } from "@serval/cli";
 * const lines = routerLines([{ locator: "127.0.0.1:5000", inUse: true, source: "configured", priority: null, bootId: null, announced: [], expiresInMs: null }], false);
 * console.assert(lines[1]!.startsWith("127.0.0.1:5000  yes"));
 * ```
 */
export function routerLines(rows: readonly RouterRow[], color: boolean): string[] {
  const dash = (v: unknown) => (v === null || v === undefined ? "-" : String(v));
  return table(
    ["ROUTER", "IN-USE", "SOURCE", "PRIORITY", "BOOT-ID", "EXPIRES", "ANNOUNCED"],
    rows.map((r) => [
      r.locator,
      r.inUse ? paint(color, 32, "yes") : "no",
      r.source,
      dash(r.priority),
      dash(r.bootId),
      r.expiresInMs === null ? "-" : `${(r.expiresInMs / 1000).toFixed(1)}s`,
      r.announced.join(" ") || "-",
    ]),
    color,
  );
}

/**
 * The lines of `serval lease ls`.
 *
 * @param rows Leases from the daemon.
 * @param color Colours (a terminal).
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { leaseLines } from "@serval/cli";
 * console.assert(leaseLines([], false)[0]!.startsWith("PREFIX"));
 * ```
 */
export function leaseLines(rows: readonly LeaseRow[], color: boolean): string[] {
  return table(
    ["PREFIX", "LOCATOR", "WEIGHT", "PRIORITY", "AGE", "EXPIRES"],
    rows.map((l) => [shortPrefix(l.prefix), l.locator, String(l.weight), String(l.priority), `${(l.ageMs / 1000).toFixed(1)}s`, `${(l.expiresInMs / 1000).toFixed(1)}s`]),
    color,
  );
}

const routerLs = Command.make("ls", { json: jsonFlag, runDir: runDirFlag }, (f) =>
  Effect.gen(function* () {
    const r = yield* callDaemon("router ls", f.runDir, "router.ls", {});
    if (f.json) return yield* Console.log(JSON.stringify(r, null, 2));
    for (const line of routerLines(r.routers, isTerminal())) yield* Console.log(line);
  })).pipe(
    Command.withDescription("List the routers a running node uses (host) or its upstream routers (router)"),
    Command.withExamples([{ command: "serval router ls --run-dir /run/serval-h1", description: "routers of the daemon in /run/serval-h1" }]),
  );

/**
 * Adds `ls` to the `serval router` preset command (which keeps running a
 * router when no subcommand is given).
 *
 * @param router The preset command.
 * @returns The command with `ls`.
 *
 * @example
 * ```ts
 * import { routerCommand, withRouterLs } from "@serval/cli";
 * const cmd = withRouterLs(routerCommand);
 * console.assert(cmd.name === "router");
 * ```
 */
export function withRouterLs<Name extends string, I, C, E, R>(router: Command.Command<Name, I, C, E, R>) {
  return router.pipe(Command.withSubcommands([routerLs]));
}

/** `serval lease ls`. */
export const leaseCommand = Command.make("lease").pipe(
  Command.withDescription("Inspect the leases of a running router"),
  Command.withSubcommands([
    Command.make("ls", { json: jsonFlag, runDir: runDirFlag }, (f) =>
      Effect.gen(function* () {
        const r = yield* callDaemon("lease ls", f.runDir, "lease.ls", {});
        if (f.json) return yield* Console.log(JSON.stringify(r, null, 2));
        for (const line of leaseLines(r.leases, isTerminal())) yield* Console.log(line);
      })).pipe(
        Command.withDescription("List a router's leases (services registered by hosts)"),
        Command.withExamples([{ command: "serval lease ls --json", description: "as JSON" }]),
      ),
  ]),
);

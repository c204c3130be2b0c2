/**
 * Entry point of the `serval` command (run by Bun; `bin/serval.js` starts it
 * from Node). Subcommands are built with `effect/cli`.
 *
 * @module
 */

import { NodeRuntime, NodeServices } from "@effect/platform-node";
import { Effect } from "effect";
import { CliError, Command } from "effect/cli";
import { connectCommand, listenCommand } from "./app_command.ts";
import { demoCommand } from "./demo_command.ts";
import { idCommand } from "./id_command.ts";
import { flowCommand } from "./flow_command.ts";
import { migrateCommand } from "./migrate_command.ts";
import { leaseCommand, withRouterLs } from "./router_command.ts";
import { serviceCommand } from "./service_command.ts";
import { statsCommand } from "./stats_command.ts";
import { adhocCommand, hostCommand, routerCommand } from "./preset_command.ts";
import { translateCommand } from "./translate_command.ts";
import pkg from "./package.json" with { type: "json" };

const serval = Command.make("serval").pipe(
  Command.withDescription("Serval: service-centric networking. Applications name services, not hosts."),
  Command.withSubcommands([
    demoCommand,
    idCommand,
    hostCommand,
    withRouterLs(routerCommand),
    adhocCommand,
    translateCommand,
    listenCommand,
    connectCommand,
    serviceCommand,
    flowCommand,
    statsCommand,
    migrateCommand,
    leaseCommand,
  ]),
);

// A usage error (unknown flag, bad value, missing argument): effect/cli has
// already printed the help and the error; exit 2, as command-line tools do.
// (effect/cli reports them as ShowHelp carrying the errors; plain --help carries none.)
const usageError = (e: unknown): boolean =>
  CliError.isCliError(e) && (e._tag !== "ShowHelp" || (e as { errors?: readonly unknown[] }).errors?.length !== 0);

Command.run(serval, { version: pkg.version }).pipe(
  Effect.catchIf(usageError, () => Effect.sync(() => process.exit(2))),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain,
);

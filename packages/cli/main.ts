/**
 * Entry point of the `serval` command (run by Bun; `bin/serval.js` starts it
 * from Node). Subcommands are built with `effect/cli`.
 *
 * @module
 */

import { NodeRuntime, NodeServices } from "@effect/platform-node";
import { Effect } from "effect";
import { Command } from "effect/cli";
import { demoCommand } from "./demo_command.ts";
import { idCommand } from "./id_command.ts";
import pkg from "./package.json" with { type: "json" };

const serval = Command.make("serval").pipe(
  Command.withDescription("Serval: service-centric networking. Applications name services, not hosts."),
  Command.withSubcommands([demoCommand, idCommand]),
);

Command.run(serval, { version: pkg.version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain);

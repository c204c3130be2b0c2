/**
 * `serval demo`: until the runtime exists, the foundation demo (encode,
 * parse and resolve a SYN). Later issues turn it into a live topology.
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Command } from "effect/cli";
import { foundationDemo } from "./foundation_demo.ts";

/** The `serval demo` command. */
export const demoCommand = Command.make("demo", {}, () =>
  Effect.gen(function* () {
    for (const line of foundationDemo()) yield* Console.log(line);
  })).pipe(Command.withDescription("Show Serval at work: a SYN for a service, encoded, parsed and resolved"));

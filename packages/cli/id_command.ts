/**
 * `serval id TEXT`: shows how a serviceID or prefix text is read, in every
 * form (64 hex digits, short form, bytes 0-3, prefix length).
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Argument, Command } from "effect/cli";
import { ServicePrefix } from "@serval/wire";

/**
 * Describes a service prefix text in lines for people.
 *
 * @param text Any serviceID text form, with an optional `/N` or `:N`.
 * @returns The lines to print.
 * @throws {RangeError} When the text is invalid.
 *
 * @example
 * ```ts
 * const lines = describeServiceText("web.example/32");
 * // lines[0] === "prefix   web.example/32 -> <64 hex digits>/32"
 * ```
 */
export function describeServiceText(text: string): string[] {
  const p = ServicePrefix.parse(text);
  return [
    `prefix   ${text} -> ${p.id.toString()}/${p.bits}`,
    `short    ${p.toString()}`,
    `word0    ${p.id.firstWord()} (bytes 0-3, big-endian)`,
    `selfcert ${p.id.toString().slice(24)} (bytes 12-31, reserved)`,
  ];
}

/** The `serval id` command. */
export const idCommand = Command.make(
  "id",
  {
    text: Argument.String("service").pipe(
      Argument.withDescription("serviceID or prefix: 64 hex digits, 0x.., N, default or a name; optional /N"),
      // Parse here so that bad text is a usage error with the parser's message.
      Argument.mapTryCatch(
        (t) => (describeServiceText(t), t),
        (e) => (e instanceof Error ? e.message : String(e)),
      ),
    ),
  },
  ({ text }) =>
    Effect.gen(function* () {
      for (const line of describeServiceText(text)) yield* Console.log(line);
    }),
).pipe(Command.withDescription("Show how a serviceID or prefix text is read"));

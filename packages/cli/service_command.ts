/**
 * `serval service add|del|mod|ls`: the service table of a running node, in
 * an iproute2-like syntax:
 *
 * ```text
 * serval service add web.example/16 via 198.18.1.2 weight 10
 * serval service add old.example drop
 * serval service mod web.example/16 via 198.18.1.2 priority 5 plugin round-robin
 * serval service del web.example/16 via 198.18.1.2
 * serval service ls [PREFIX] [--json]
 * ```
 *
 * Words are checked with the daemon's own Schema before anything is sent:
 * a bad one is one line and exit code 2. What the daemon refuses (a rule
 * that does not exist, a target that does) is one line and exit code 1.
 *
 * @module
 */

import { Console, Effect, Option } from "effect";
import { Argument, Command } from "effect/cli";
import { checkParams, type ParamsOf, type ResultOf, type ServiceRow } from "@serval/management";
import { callDaemon, humanBytes, isTerminal, jsonFlag, paint, runDirFlag, shortPlugin, shortPrefix, table } from "./manage_common.ts";
import { fail } from "./preset_command.ts";

type Verb = "add" | "del" | "mod";

const TARGET_WORDS = "via IP[:PORT], drop or delay";

/**
 * Reads the words of `serval service add|del|mod PREFIX ...` into the
 * request's parameters, checked as the daemon checks them.
 *
 * @param verb add, del or mod.
 * @param prefix The prefix text.
 * @param words The words after the prefix.
 * @returns The parameters, or one line saying what is wrong.
 *
 * @example
 * ```ts
 * import { parseServiceWords } from "@serval/cli";
 * const p = parseServiceWords("add", "web.example/16", ["via", "198.18.1.2", "weight", "10"]);
 * console.assert(typeof p !== "string" && p.weight === 10);
 * console.assert(parseServiceWords("add", "web.example/16", []) === "missing target: give via IP[:PORT], drop or delay");
 * ```
 */
export function parseServiceWords(verb: Verb, prefix: string, words: readonly string[]): ParamsOf<"service.add"> | ParamsOf<"service.mod"> | string {
  const params: Record<string, unknown> = { prefix };
  let target: Record<string, unknown> | undefined;
  const options = verb === "del" ? [] : ["weight", "priority", "plugin"];
  const expected = `expected ${[verb === "add" ? TARGET_WORDS : `${TARGET_WORDS.replace(" or ", ", ")} or demux N`, ...options].join(", ")}`;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const value = words[i + 1];
    const needs = (what: string) => (value === undefined ? `"${w}" needs ${what}` : undefined);
    const setTarget = (t: Record<string, unknown>) => {
      if (target !== undefined) return `two targets: give one of ${TARGET_WORDS}`;
      target = t;
      return undefined;
    };
    let err: string | undefined;
    switch (w) {
      case "via":
      case "to":
        err = needs("an address (IP or IP:PORT)") ?? setTarget({ type: "forward", to: value });
        i++;
        break;
      case "drop":
      case "delay":
        err = setTarget({ type: w });
        break;
      case "demux":
        if (verb === "add") err = "demux rules belong to listening applications: add via, drop or delay";
        else err = needs("a listener number") ?? setTarget({ type: "demux", listener: number(value!) });
        i++;
        break;
      case "weight":
      case "priority":
        if (!options.includes(w)) err = `unknown word "${w}": ${expected}`;
        else {
          err = needs("a number");
          params[w] = number(value ?? "");
          i++;
        }
        break;
      case "plugin":
        if (!options.includes(w)) err = `unknown word "${w}": ${expected}`;
        else {
          err = needs("a plugin name");
          params.plugin = value;
          i++;
        }
        break;
      default:
        err = `unknown word "${w}": ${expected}`;
    }
    if (err !== undefined) return err;
  }
  if (target === undefined) return `missing target: give ${verb === "add" ? TARGET_WORDS : `${TARGET_WORDS.replace(" or ", ", ")} or demux N`}`;
  params.target = target;
  const r = checkParams(verb === "add" ? "service.add" : verb === "del" ? "service.del" : "service.mod", params);
  return r as ParamsOf<"service.add"> | string;
}

/** Integers stay text when they are not: the schema then names the bad value. */
function number(s: string): number | string {
  return /^-?\d+$/.test(s) ? Number(s) : s;
}

/**
 * The lines of `serval service ls`: one per target.
 *
 * @param rows Rules from the daemon.
 * @param color Colours (a terminal).
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { serviceLines } from "@serval/cli";
 * const zero = { packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 };
 * const lines = serviceLines([{ prefix: "default", id: "0".repeat(64), bits: 0, counters: zero, sets: [{ priority: 0, plugin: "@serval/plugin-drop", targets: [{ type: "drop", weight: 1, counters: zero }] }] }], false);
 * console.assert(lines[1]!.startsWith("default"));
 * ```
 */
export function serviceLines(rows: readonly ServiceRow[], color: boolean): string[] {
  const cells: string[][] = [];
  for (const r of rows) {
    for (const s of r.sets) {
      for (const t of s.targets) {
        const target = t.type === "forward" ? `via ${t.to}` : t.type === "demux" ? `demux ${t.listener}` : t.type;
        cells.push([
          shortPrefix(r.prefix),
          String(s.priority),
          shortPlugin(s.plugin),
          t.type === "drop" ? paint(color, 31, target) : target,
          String(t.weight),
          String(t.counters.packetsResolved),
          humanBytes(t.counters.bytesResolved),
          String(t.counters.packetsDropped),
        ]);
      }
    }
  }
  return table(["PREFIX", "PRIO", "PLUGIN", "TARGET", "WEIGHT", "PACKETS", "BYTES", "DROPPED"], cells, color);
}

const prefixArg = Argument.String("prefix").pipe(
  Argument.withDescription("service prefix: a name, N, 0x.., 64 hex digits or default; optional /BITS (0..256)"),
);
const wordsArg = (what: string) => Argument.String("rule").pipe(Argument.withDescription(what), Argument.variadic());

function change(verb: Verb) {
  const op = verb === "add" ? "service.add" : verb === "del" ? "service.del" : "service.mod";
  const name = `service ${verb}`;
  return (f: { prefix: string; rule: readonly string[]; json: boolean; runDir: Option.Option<string> }) =>
    Effect.gen(function* () {
      const params = parseServiceWords(verb, f.prefix, f.rule);
      if (typeof params === "string") return yield* fail(2, `serval ${name}: ${params}`);
      const r: ResultOf<"service.add"> = yield* callDaemon(name, f.runDir, op, params as never);
      if (f.json) return yield* Console.log(JSON.stringify(r, null, 2));
      if (r.service === null) return yield* Console.log(`${f.prefix}: rule removed (its last target was deleted)`);
      for (const line of serviceLines([r.service], isTerminal())) yield* Console.log(line);
    });
}

const addCommand = Command.make(
  "add",
  { prefix: prefixArg, rule: wordsArg(`${TARGET_WORDS}, then [weight N] [priority N] [plugin NAME]`), json: jsonFlag, runDir: runDirFlag },
  change("add"),
).pipe(
  Command.withDescription("Add a target to the rule of a prefix (the rule is made if needed)"),
  Command.withExamples([
    { command: "serval service add web.example/16 via 198.18.1.2 weight 10", description: "forward web.example/16 to 198.18.1.2 (port 54325 on UDP)" },
    { command: "serval service add web.example/16 via 198.18.1.3:4000 priority 5 plugin round-robin", description: "a higher-priority replica set, round robin" },
    { command: "serval service add old.example drop", description: "drop connections to old.example" },
  ]),
);

const delCommand = Command.make(
  "del",
  { prefix: prefixArg, rule: wordsArg(`${TARGET_WORDS.replace(" or ", ", ")} or demux N`), json: jsonFlag, runDir: runDirFlag },
  change("del"),
).pipe(
  Command.withDescription("Delete a target from the rule of a prefix (the rule goes with its last target)"),
  Command.withExamples([{ command: "serval service del web.example/16 via 198.18.1.2", description: "stop forwarding to 198.18.1.2" }]),
);

const modCommand = Command.make(
  "mod",
  { prefix: prefixArg, rule: wordsArg("the target (as for del), then weight N, priority N and/or plugin NAME"), json: jsonFlag, runDir: runDirFlag },
  change("mod"),
).pipe(
  Command.withDescription("Change a target's weight or priority, or the plugin of its set"),
  Command.withExamples([
    { command: "serval service mod web.example/16 via 198.18.1.2 weight 3", description: "give 198.18.1.2 weight 3" },
    { command: "serval service mod web.example/16 via 198.18.1.2 plugin forward", description: "resolve its set with the built-in weighted random plugin" },
  ]),
);

const lsCommand = Command.make(
  "ls",
  { prefix: Argument.String("prefix").pipe(Argument.withDescription("only this prefix"), Argument.optional), json: jsonFlag, runDir: runDirFlag },
  (f) =>
    Effect.gen(function* () {
      const prefix = Option.getOrUndefined(f.prefix);
      if (prefix !== undefined) {
        const bad = checkParams("service.ls", { prefix });
        if (typeof bad === "string") return yield* fail(2, `serval service ls: ${bad}`);
      }
      const r = yield* callDaemon("service ls", f.runDir, "service.ls", prefix === undefined ? {} : { prefix });
      if (f.json) return yield* Console.log(JSON.stringify(r, null, 2));
      for (const line of serviceLines(r.services, isTerminal())) yield* Console.log(line);
      const t = r.table;
      yield* Console.log(`table: ${t.packetsResolved} resolved, ${t.packetsDropped} dropped, ${t.noMatch} without a rule`);
    }),
).pipe(
  Command.withDescription("List rules with their targets and counters"),
  Command.withExamples([
    { command: "serval service ls", description: "every rule" },
    { command: "serval service ls --json", description: "as JSON" },
  ]),
);

/** `serval service add|del|mod|ls`. */
export const serviceCommand = Command.make("service").pipe(
  Command.withDescription("Manage the service table of a running node (rules: prefix → targets)"),
  Command.withSubcommands([addCommand, delCommand, modCommand, lsCommand]),
);

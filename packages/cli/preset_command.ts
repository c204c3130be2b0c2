/**
 * `serval host`, `serval router` and `serval adhoc`: run one node of that
 * role until SIGINT/SIGTERM, printing one line per fact that matters (the
 * socket, the boot id, registrations, lease changes as they happen).
 *
 * Every flag value is validated by the runtime's `NodeConfig` schema (flags
 * are laid over `--config FILE`), so a bad value is one line naming the
 * field and the value, and exit code 2. On a signal the node withdraws its
 * registrations, says goodbye, closes its socket and the process exits 0.
 *
 * @module
 */

import { Console, Effect, Option, Runtime } from "effect";
import { Command, Flag } from "effect/cli";
import {
  type ConfigError,
  type DatapathError,
  loadConfig,
  type NodeConfig,
  type NodeExtraLayer,
  type NodeReport,
  NodeReporter,
  runNode,
} from "@serval/runtime";
import type { Locator } from "@serval/wire";
import { presetLayers } from "./preset_layers.ts";
import type { ServicePrefix } from "@serval/wire";

/** A node role the CLI runs. */
export type PresetRole = NodeConfig["role"];

/** Options of {@linkcode formatReport}. */
export interface FormatOptions {
  /** Colour lease changes (only when stdout is a terminal). */
  readonly color?: boolean;
}

/**
 * The printer of one node's reports: keeps what later lines need (our own
 * locator) and turns each report into zero or more lines.
 *
 * @param role The node's role (the line prefix).
 * @param opts Colours.
 * @returns A function from a report to lines.
 *
 * @example
 * ```ts
 * import { reportPrinter } from "@serval/cli";
 * const print = reportPrinter("host");
 * const lines = print({ type: "stopped" });
 * // lines => ["serval host: stopped"]
 * ```
 */
export function reportPrinter(role: PresetRole, opts: FormatOptions = {}): (r: NodeReport) => string[] {
  const p = `serval ${role}:`;
  const paint = (code: number, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  let locals: readonly Locator[] = [];
  // Which of our addresses a router sees: a loopback one for a loopback
  // router, else the first that is not loopback.
  const selfFor = (router: Locator): string => {
    const loop = (l: Locator) => l.address.length === 4 && l.address[0] === 127;
    const l = locals.find((x) => loop(x) === loop(router)) ?? locals[0];
    return l ? locatorText(l) : "";
  };
  return (r) => {
    switch (r.type) {
      case "started": {
        locals = r.locals;
        const where = r.datapath === "udp" ? `udp ${r.bind}:${r.port}` : `${r.datapath} ${r.locals.map((l) => locatorText(l)).join(", ")}`;
        const facts = [where];
        if (r.role === "router") {
          facts.push(`boot id ${r.bootId === undefined ? "?" : (r.bootId >>> 0).toString(16).padStart(8, "0")}`, `balance ${r.balance}`);
          if (r.routers.length > 0) facts.push(`upstream ${r.routers.map(locatorText).join(" ")}`);
        } else if (r.role === "host") {
          if (r.routers.length > 0) facts.push(`routers ${r.routers.map(locatorText).join(" ")}`);
          if (r.discover) facts.push("discovering routers");
        } else {
          facts.push("no router (services resolved by broadcast)");
        }
        return [`${p} ${facts.join(", ")}`, ...r.echo.map((s) => `${p} serving ${s} (echo)`)];
      }
      case "lease-added": {
        const l = r.lease;
        const prio = l.priority !== 0 ? ` priority ${l.priority}` : "";
        return [`${paint(32, "lease +")} ${prefixText(l.prefix)} ${locatorText(l.locator)} weight ${l.weight}${prio}`];
      }
      case "lease-removed":
        return [`${paint(31, "lease -")} ${prefixText(r.lease.prefix)} ${locatorText(r.lease.locator)} (${r.reason})`];
      case "registered": {
        const self = selfFor(r.router);
        return [
          `${p} registered ${r.services.map(shortPrefixText).join(", ")}${self ? ` at ${self}` : ""} with ${locatorText(r.router)} (${r.routers} router(s), lease ${r.lifetimeMs} ms)`,
        ];
      }
      case "refused":
        return [`${p} router ${locatorText(r.router)} refused our registrations`];
      case "stopping":
        return [
          r.services > 0 && r.routers > 0
            ? `${p} stopping: withdrawing ${r.services} service(s) from ${r.routers} router(s)`
            : `${p} stopping`,
        ];
      case "stopped":
        return [`${p} stopped`];
    }
  };
}

/** `a.b.c.d:port` (no port when 0: a raw-IP locator). */
function locatorText(l: Locator): string {
  const a = l.address.length === 4 ? [...l.address].join(".") : [...l.address].map((b) => b.toString(16).padStart(2, "0")).join("");
  return l.port ? `${a}:${l.port}` : a;
}

/** A prefix with the trailing zero bytes of a long serviceID cut (names hash to their first bytes). */
function prefixText(p: ServicePrefix): string {
  return shortPrefixText(p.toString());
}

/** {@linkcode prefixText} on a prefix's text form; other text (a configured name) is kept. */
function shortPrefixText(s: string): string {
  const m = /^([0-9a-f]{64})\/(\d+)$/.exec(s);
  if (!m) return s;
  const hex = m[1]!.replace(/(00)+$/, "");
  const keep = hex.length < 8 ? m[1]!.slice(0, 8) : hex;
  return `${keep}${keep.length < 64 ? "…" : ""}/${m[2]}`;
}

/** A failure that ends the command with a code, already printed (no stack trace). */
export class PresetExit extends Error {
  override readonly [Runtime.errorExitCode]: number;
  override readonly [Runtime.errorReported] = false;

  constructor(code: number, message: string) {
    super(message);
    this[Runtime.errorExitCode] = code;
  }
}

/** A string flag: every value is checked by the config schema, so a bad one is one clear line (exit 2). */
function text(name: string, metavar: string, description: string) {
  return Flag.String(name).pipe(Flag.withMetavar(metavar), Flag.withDescription(description), Flag.optional);
}

/** A repeatable string flag. */
function list(name: string, metavar: string, description: string) {
  return Flag.String(name).pipe(Flag.withMetavar(metavar), Flag.withDescription(description), Flag.atLeast(0));
}

/** The flags every preset takes (`serval translate` adds its own to these). */
export const presetFlags = {
  config: text("config", "FILE", "JSON config file (flags override it)"),
  datapath: text("datapath", "udp|packet", "udp (default) or packet (AF_PACKET, root)"),
  bind: text("bind", "IP", "IPv4 address to bind (udp; default 0.0.0.0)"),
  port: text("port", "N", "UDP port (default 54325; 0: any free port)"),
  router: list("router", "IP[:PORT]", "router to use (host) or upstream router (router); repeatable"),
  discover: Flag.Boolean("discover").pipe(Flag.withDescription("find routers by solicitation (default: when no --router)"), Flag.optional),
  warmUp: Flag.Boolean("warm-up").pipe(Flag.withDescription("run the per-packet code in memory for ~0.2 s before starting (default; --no-warm-up: skip)"), Flag.optional),
  weight: text("weight", "N", "weight of our registrations, 1..65535 (default 1)"),
  priority: text("priority", "N", "priority of our registrations (router: announced), 0..65535 (default 0)"),
  echo: list("echo", "SERVICE", "serve this service name or prefix with the built-in echo service; repeatable"),
  aggregate: list("aggregate", "PREFIX", "router: register this prefix with the upstream --router(s); repeatable"),
  interface: list("interface", "NAME", "interface of the packet datapath; repeatable (default: every one that is up)"),
  refreshMs: text("refresh-ms", "MS", "host: registration refresh period (default 800)"),
  lifetimeMs: text("lifetime-ms", "MS", "host: lease lifetime asked (default 2500); router: longest lease granted (default 60000)"),
  announceMs: text("announce-ms", "MS", "router: between announcements (default 1000)"),
  balance: text("balance", "round-robin|random", "router: target selection among replicas (default round-robin)"),
  runDir: text("run-dir", "DIR", "directory of the local management and application sockets (default $SERVAL_RUN_DIR, /run/serval as root)"),
};

/** The parsed values of {@linkcode presetFlags}. */
export type PresetFlags = {
  readonly [K in keyof typeof presetFlags]: (typeof presetFlags)[K] extends Flag.Flag<infer A> ? A : never;
};

/** Flags as config fields (names of the `NodeConfig` schema; absent flags are `undefined`). */
function flagConfig(role: PresetRole, f: PresetFlags): Record<string, unknown> {
  const v = <A>(o: Option.Option<A>) => Option.getOrUndefined(o);
  return {
    role,
    datapath: v(f.datapath),
    bind: v(f.bind),
    port: v(f.port),
    routers: f.router,
    discover: v(f.discover),
    warmUp: v(f.warmUp),
    weight: v(f.weight),
    priority: v(f.priority),
    echo: f.echo,
    aggregates: f.aggregate,
    interfaces: f.interface,
    refreshMs: v(f.refreshMs),
    lifetimeMs: v(f.lifetimeMs),
    announceMs: v(f.announceMs),
    balance: v(f.balance),
    runDir: v(f.runDir),
  };
}

/**
 * Runs a preset: loads and validates the config, runs the node and the
 * layers that live on it ({@linkcode presetLayers}, then `extras`) until a
 * signal, prints its reports on stdout (errors on stderr).
 *
 * @param role The node's role.
 * @param f The parsed preset flags.
 * @param extras More layers on the node (`serval translate`'s translator).
 * @returns The command's effect.
 */
export function runPreset(role: PresetRole, f: PresetFlags, extras: readonly NodeExtraLayer<PresetExit>[] = []): Effect.Effect<void, PresetExit> {
  const print = reportPrinter(role, { color: process.stdout.isTTY === true });
  const program = Effect.gen(function* () {
    const config = yield* loadConfig(Option.getOrUndefined(f.config), flagConfig(role, f));
    yield* Effect.sync(armShutdownGuard);
    yield* runNode(config, [...presetLayers(role), ...extras]).pipe(
      Effect.provideService(NodeReporter, (r) => {
        for (const line of print(r)) console.log(line);
      }),
    );
  });
  return program.pipe(
    Effect.catchTags({
      ConfigError: (e: ConfigError) => fail(2, `serval ${role}: ${e.message}`),
      DatapathError: (e: DatapathError) => fail(1, `serval ${role}: ${e.message}`),
    }),
    // The platform runtime turns an interruption by SIGINT/SIGTERM into exit
    // code 130; a preset that shut down cleanly on a signal exits 0. This runs
    // after the node's scope closed (registrations withdrawn, socket closed).
    Effect.onInterrupt(() => Effect.sync(() => process.exit(0))),
  );
}

/**
 * A node that has not closed 2 s after a signal (a datapath that hangs in
 * close) must not keep the process alive: exit 1 then. The timer does not
 * itself keep the process alive.
 */
function armShutdownGuard(): void {
  const guard = () => {
    setTimeout(() => {
      console.error("serval: shutdown took more than 2 s; exiting");
      process.exit(1);
    }, 2000).unref();
  };
  process.once("SIGINT", guard);
  process.once("SIGTERM", guard);
}

/**
 * Prints `line` on stderr and fails the command with exit code `code`.
 *
 * @param code The process's exit code.
 * @param line The one line that says what went wrong.
 * @returns A failing effect.
 */
export function fail(code: number, line: string): Effect.Effect<never, PresetExit> {
  return Console.error(line).pipe(Effect.andThen(Effect.fail(new PresetExit(code, line))));
}

function presetCommand<Name extends PresetRole>(role: Name, description: string) {
  return Command.make(role, presetFlags, (f) => runPreset(role, f)).pipe(Command.withDescription(description));
}

/** `serval host`: an end host that registers its services with its router(s). */
export const hostCommand = presetCommand(
  "host",
  "Run an end host: serve services and register them with routers (--router, or discovered)",
);

/** `serval router`: a service router that forwards SYNs by serviceID from leases. */
export const routerCommand = presetCommand(
  "router",
  "Run a service router: accept registrations as leases, forward connections by serviceID, announce itself",
);

/** `serval adhoc`: a host without routers; services are found by broadcast. */
export const adhocCommand = presetCommand("adhoc", "Run an ad hoc host: no router, services resolved and answered by broadcast");

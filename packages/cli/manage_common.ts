/**
 * What the management commands (`serval service|flow|stats|migrate|router|lease`)
 * share: the `--run-dir` and `--json` flags, one call to the daemon's
 * management socket (a daemon error is one line on stderr and exit code 1),
 * tables for people (colours only on a terminal), a progress line on stderr.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { Effect, Option } from "effect";
import { Flag } from "effect/cli";
import { ManagementClient, ManagementError, type Op, type ParamsOf, parseLocatorText, type ResultOf, socketPath } from "@serval/management";
import { formatIp } from "@serval/wire";
import { defaultRunDir } from "@serval/runtime";
import { fail, type PresetExit } from "./preset_command.ts";

/** `--run-dir DIR`: where the daemon's management socket is. */
export const runDirFlag = Flag.String("run-dir").pipe(
  Flag.withMetavar("DIR"),
  Flag.withDescription("run directory of the daemon to manage (default $SERVAL_RUN_DIR, /run/serval as root)"),
  Flag.optional,
);

/** `--json`: print the daemon's reply as JSON instead of a table. */
export const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("print JSON (the daemon's reply) instead of a table"), Flag.withDefault(false));

/**
 * The socket path `--run-dir` names (or the default run directory's).
 *
 * @param runDir The flag's value.
 * @returns The management socket path.
 *
 * @example
 * ```ts
 * import { Option } from "effect";
 * import { managementPath } from "@serval/cli";
 * console.assert(managementPath(Option.some("/tmp/x")) === "/tmp/x/mgmt.sock");
 * ```
 */
export function managementPath(runDir: Option.Option<string>): string {
  return socketPath(Option.getOrElse(runDir, () => defaultRunDir()));
}

/**
 * Whether output goes to a terminal (colours and progress only then).
 *
 * @param stream The stream (default stdout).
 * @returns `true` on a TTY.
 *
 * @example
 * ```ts
 * import { isTerminal } from "@serval/cli";
 * console.assert(typeof isTerminal() === "boolean");
 * ```
 */
export function isTerminal(stream: { isTTY?: boolean } = process.stdout): boolean {
  return stream.isTTY === true && process.env.NO_COLOR === undefined;
}

/**
 * Connects to the daemon: its local socket, or, when
 * `$SERVAL_MANAGEMENT_REMOTE` (IP:PORT) is set and no `--run-dir` is given,
 * its remote listener with the token in `$SERVAL_MANAGEMENT_TOKEN_FILE`.
 */
async function connect(runDir: Option.Option<string>): Promise<ManagementClient> {
  const remote = process.env.SERVAL_MANAGEMENT_REMOTE;
  if (remote === undefined || Option.isSome(runDir)) return ManagementClient.connect(managementPath(runDir));
  const l = parseLocatorText(remote);
  if (l === undefined || l.port === undefined) throw new ManagementError("no-daemon", `SERVAL_MANAGEMENT_REMOTE is "${remote}": expected IP:PORT`);
  const file = process.env.SERVAL_MANAGEMENT_TOKEN_FILE;
  if (file === undefined) throw new ManagementError("unauthorized", "SERVAL_MANAGEMENT_REMOTE needs SERVAL_MANAGEMENT_TOKEN_FILE (the token)");
  const token = (await readFile(file, "utf8")).trim();
  return ManagementClient.connectTcp(formatIp(l.address), l.port, token);
}

/**
 * Runs requests on one connection to the daemon. A failure (no daemon, a
 * refused request) is printed as one line `serval CMD: message` on stderr
 * and the command exits 1.
 *
 * @param command The command's name for the error line (`service add`).
 * @param runDir The `--run-dir` value.
 * @param f What to do with the connected client.
 * @returns The effect.
 *
 * @example
 * ```ts
 * import { Effect, Exit, Option } from "effect";
 * import { withDaemon } from "@serval/cli";
 * const exit = await Effect.runPromiseExit(withDaemon("stats", Option.some("/nonexistent"), (c) => c.request("stats", {})));
 * console.assert(Exit.isFailure(exit));
 * ```
 */
export function withDaemon<A>(command: string, runDir: Option.Option<string>, f: (client: ManagementClient) => Promise<A>): Effect.Effect<A, PresetExit> {
  return Effect.tryPromise({
    try: async () => {
      const client = await connect(runDir);
      try {
        return await f(client);
      } finally {
        client.close();
      }
    },
    catch: (e) => e,
  }).pipe(
    Effect.catch((e: unknown) => fail(1, `serval ${command}: ${e instanceof ManagementError ? e.message : e instanceof Error ? e.message : String(e)}`)),
  );
}

/**
 * One request to the daemon (see {@linkcode withDaemon}).
 *
 * @param command The command's name for the error line.
 * @param runDir The `--run-dir` value.
 * @param op The operation.
 * @param params Its parameters.
 * @returns The typed result.
 *
 * @example
 * ```ts
 * import { Effect, Exit, Option } from "effect";
 * import { callDaemon } from "@serval/cli";
 * const exit = await Effect.runPromiseExit(callDaemon("flow ls", Option.some("/nonexistent"), "flow.ls", {}));
 * console.assert(Exit.isFailure(exit));
 * ```
 */
export function callDaemon<O extends Op>(command: string, runDir: Option.Option<string>, op: O, params: ParamsOf<O>): Effect.Effect<ResultOf<O>, PresetExit> {
  return withDaemon(command, runDir, (c) => c.request(op, params));
}

/**
 * Paints text with an SGR code when `on`.
 *
 * @param on Whether to colour (a terminal).
 * @param code SGR code (1 bold, 2 dim, 31 red, 32 green, 33 yellow).
 * @param s The text.
 * @returns The text, coloured or not.
 *
 * @example
 * ```ts
 * import { paint } from "@serval/cli";
 * console.assert(paint(false, 32, "ok") === "ok");
 * ```
 */
export function paint(on: boolean, code: number, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Lays rows out in columns (two spaces apart), the header first (bold on a
 * terminal). Cells may hold colour codes: widths ignore them.
 *
 * @param header Column titles.
 * @param rows Cells.
 * @param color Bold header.
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { table } from "@serval/cli";
 * const lines = table(["A", "BB"], [["xyz", "1"]], false);
 * console.assert(lines[0] === "A    BB" && lines[1] === "xyz  1");
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], color: boolean): string[] {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").replace(ANSI, "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(width[i]! - c.replace(ANSI, "").length))).join("  ").trimEnd();
  return [paint(color, 1, line(header)), ...rows.map(line)];
}

/**
 * A progress line on stderr (a terminal only), rewritten in place.
 *
 * @returns `update(text)` and `done()`.
 *
 * @example
 * ```ts
 * import { progress } from "@serval/cli";
 * const p = progress();
 * p.update("working");
 * p.done();
 * ```
 */
export function progress(): { update(text: string): void; done(): void } {
  const on = isTerminal(process.stderr);
  const frames = "|/-\\";
  let i = 0;
  let shown = false;
  return {
    update(text) {
      if (!on) return;
      shown = true;
      process.stderr.write(`\r\x1b[2K${frames[i++ % frames.length]} ${text}`);
    },
    done() {
      if (on && shown) process.stderr.write("\r\x1b[2K");
    },
  };
}

/**
 * Bytes for people: `512`, `1.5K`, `3.2M`, `1.1G`.
 *
 * @param n A byte count.
 * @returns The short text.
 *
 * @example
 * ```ts
 * import { humanBytes } from "@serval/cli";
 * console.assert(humanBytes(1536) === "1.5K");
 * ```
 */
export function humanBytes(n: number): string {
  if (n < 1024) return String(n);
  const units = ["K", "M", "G", "T"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/**
 * A prefix for a table: a long serviceID loses its trailing zero bytes
 * (names hash to the first bytes), marked with `…`. `--json` has the full text.
 *
 * @param text A prefix text from the daemon.
 * @returns The short text.
 *
 * @example
 * ```ts
 * import { shortPrefix } from "@serval/cli";
 * console.assert(shortPrefix(`39783a9e${"0".repeat(56)}/256`) === "39783a9e…/256");
 * console.assert(shortPrefix("default") === "default");
 * ```
 */
export function shortPrefix(text: string): string {
  const m = /^([0-9a-f]{64})(?:\/(\d+))?$/.exec(text);
  if (!m) return text;
  const hex = m[1]!.replace(/(00)+$/, "");
  const keep = hex.length < 8 ? m[1]!.slice(0, 8) : hex;
  return `${keep}${keep.length < 64 ? "…" : ""}${m[2] === undefined ? "" : `/${m[2]}`}`;
}

/**
 * A plugin name without the `@serval/plugin-` of the built-ins.
 *
 * @param name A plugin name.
 * @returns The short name.
 *
 * @example
 * ```ts
 * import { shortPlugin } from "@serval/cli";
 * console.assert(shortPlugin("@serval/plugin-round-robin") === "round-robin");
 * ```
 */
export function shortPlugin(name: string): string {
  return name.replace(/^@serval\/plugin-/, "");
}

/**
 * `serval listen SERVICE` and `serval connect SERVICE`: netcat over Serval,
 * through the local daemon's application socket (`@serval/client`).
 *
 * - `connect`: stdin goes to the service, the service's bytes to stdout;
 *   exits 0 when both directions are done (our FIN after stdin's end, the
 *   peer's FIN), 1 with one line on stderr when the connect fails
 *   (refused, unreachable…) or the stream is reset.
 * - `listen`: binds the service; every connection's bytes go to stdout;
 *   stdin goes to the first connection (later ones get our FIN at once).
 *   `--once`: stop listening at the first connection, exit when it ends.
 *
 * @module
 */

import { Effect, Option } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import { type ClientConnection, connectDaemon, type ServalClient } from "@serval/client";
import { PresetExit } from "./preset_command.ts";

/** Where the commands read, write and report (the process's stdio by default). */
export interface AppStdio {
  /** Bytes to send (default stdin). */
  readonly input?: AsyncIterable<Uint8Array>;
  /** Where received bytes go (default stdout). */
  readonly output?: { write(chunk: Uint8Array, cb: (err?: Error | null) => void): unknown };
  /** One line for the operator (default: stderr). */
  readonly report?: (line: string) => void;
  /** Stops the command (closes everything) when aborted. */
  readonly signal?: AbortSignal;
}

/** Options of {@linkcode runConnect} and {@linkcode runListen}. */
export interface AppCommandOptions extends AppStdio {
  /** Service name, serviceID or prefix text. */
  readonly service: string;
  /** The daemon's run directory (default: the daemon's default). */
  readonly runDir?: string | undefined;
}

function stdio(o: AppStdio) {
  return {
    input: o.input ?? (process.stdin as AsyncIterable<Uint8Array>),
    output: o.output ?? process.stdout,
    report: o.report ?? ((line: string) => void process.stderr.write(`${line}\n`)),
  };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Writes `chunk` and waits until it is handed to the system (so nothing is lost at exit). */
function put(out: NonNullable<AppStdio["output"]>, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => void out.write(chunk, (e) => (e ? reject(e) : resolve())));
}

/** Input to the connection's writable, then our FIN. */
async function send(input: AsyncIterable<Uint8Array>, c: ClientConnection): Promise<void> {
  const w = c.writable.getWriter();
  for await (const chunk of input) await w.write(chunk);
  await w.close();
}

/** The connection's bytes to the output until the peer's FIN. */
async function receive(c: ClientConnection, out: NonNullable<AppStdio["output"]>): Promise<void> {
  for await (const chunk of c.readable) await put(out, chunk);
}

/** Both directions of one connection; rejects at the first failure (not waiting for the other). */
function both(up: Promise<void>, down: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    up.catch(reject);
    down.catch(reject);
    Promise.all([up, down]).then(() => resolve(), reject);
  });
}

async function open(name: string, o: AppCommandOptions, report: (l: string) => void): Promise<ServalClient | undefined> {
  try {
    return await connectDaemon(o.runDir !== undefined ? { runDir: o.runDir } : {});
  } catch (e) {
    report(`serval ${name}: ${message(e)}`);
    return undefined;
  }
}

/**
 * `serval connect`: stdin to the service, the service to stdout.
 *
 * @param o The service, where the daemon is, and the stdio to use.
 * @returns The exit code: 0 when both directions ended cleanly, 1 otherwise (one line reported).
 *
 * @example
 * ```ts
 * import { runConnect } from "@serval/cli";
 * const lines: string[] = [];
 * const code = await runConnect({ service: "echo.example", runDir: "/nonexistent", report: (l) => lines.push(l) });
 * console.assert(code === 1 && lines[0]!.includes("Cannot reach the Serval daemon"));
 * ```
 */
export async function runConnect(o: AppCommandOptions): Promise<number> {
  const { input, output, report } = stdio(o);
  const client = await open("connect", o, report);
  if (!client) return 1;
  const stop = () => void client.close();
  o.signal?.addEventListener("abort", stop);
  try {
    let c: ClientConnection;
    try {
      c = await client.connect(o.service);
    } catch (e) {
      report(`serval connect: ${message(e)}`);
      return 1;
    }
    try {
      await both(send(input, c), receive(c, output));
      return 0;
    } catch (e) {
      report(`serval connect: ${o.service}: ${message(e)}`);
      c.abort();
      return 1;
    }
  } finally {
    o.signal?.removeEventListener("abort", stop);
    await client.close();
  }
}

/**
 * `serval listen`: binds the service; connections to stdout, stdin to the first.
 *
 * @param o The service, where the daemon is, `once`, and the stdio to use.
 * @returns The exit code: 0 after `--once`'s connection ended cleanly or on abort; 1 on failure (one line reported).
 *
 * @example
 * ```ts
 * import { runListen } from "@serval/cli";
 * const lines: string[] = [];
 * const code = await runListen({ service: "echo.example", runDir: "/nonexistent", once: true, report: (l) => lines.push(l) });
 * console.assert(code === 1);
 * ```
 */
export async function runListen(o: AppCommandOptions & { readonly once?: boolean }): Promise<number> {
  const { input, output, report } = stdio(o);
  const client = await open("listen", o, report);
  if (!client) return 1;
  const l = client.listen(o.service);
  let aborted = false;
  const stop = () => {
    aborted = true;
    void client.close();
  };
  o.signal?.addEventListener("abort", stop);
  try {
    try {
      await l.ready;
    } catch (e) {
      report(`serval listen: ${message(e)}`);
      return 1;
    }
    report(`serval listen: listening on ${o.service}`);
    let first = true;
    const serve = async (c: ClientConnection): Promise<void> => {
      const up = first ? send(input, c) : c.close();
      first = false;
      await both(up, receive(c, output));
    };
    for (;;) {
      let c: ClientConnection;
      try {
        c = await l.accept();
      } catch (e) {
        // The listener ends only by a signal (abort) or when the daemon goes.
        if (aborted) return 0;
        report(`serval listen: ${message(e)}`);
        return 1;
      }
      const served = serve(c).then(
        () => 0,
        (e) => {
          c.abort();
          report(`serval listen: ${o.service}: ${message(e)}`);
          return 1;
        },
      );
      if (o.once) {
        l.close(); // one connection only: withdraw the service now
        return await served;
      }
    }
  } finally {
    o.signal?.removeEventListener("abort", stop);
    await client.close();
  }
}

const runDirFlag = Flag.String("run-dir").pipe(
  Flag.withMetavar("DIR"),
  Flag.withDescription("run directory of the local daemon (default $SERVAL_RUN_DIR, /run/serval as root)"),
  Flag.optional,
);

const serviceArg = Argument.String("service").pipe(Argument.withDescription("service name, serviceID or prefix"));

/** Ends the process with `code` once the command is done (stdin may still hold the event loop). */
function exitWith(code: number): Effect.Effect<void, PresetExit> {
  if (code !== 0) return Effect.fail(new PresetExit(code, `exit ${code}`));
  return Effect.sync(() => process.exit(0));
}

/** The `serval connect` command. */
export const connectCommand = Command.make(
  "connect",
  { service: serviceArg, runDir: runDirFlag },
  ({ service, runDir }) =>
    Effect.promise((signal) => runConnect({ service, runDir: Option.getOrUndefined(runDir), signal })).pipe(Effect.flatMap(exitWith)),
).pipe(Command.withDescription("Connect to a service through the local daemon: stdin to it, its bytes to stdout (netcat-like)"));

/** The `serval listen` command. */
export const listenCommand = Command.make(
  "listen",
  {
    service: serviceArg,
    runDir: runDirFlag,
    once: Flag.Boolean("once").pipe(Flag.withDescription("stop listening at the first connection; exit when it ends"), Flag.optional),
  },
  ({ service, runDir, once }) =>
    Effect.promise((signal) => runListen({ service, runDir: Option.getOrUndefined(runDir), once: Option.getOrElse(once, () => false), signal })).pipe(
      Effect.flatMap(exitWith),
      // Stopped by SIGINT/SIGTERM: the normal end of a listener.
      Effect.onInterrupt(() => Effect.sync(() => process.exit(0))),
    ),
).pipe(Command.withDescription("Listen on a service through the local daemon: connections to stdout, stdin to the first (netcat-like)"));

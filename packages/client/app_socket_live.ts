/**
 * {@linkcode AppSocketLive}: the application socket as a layer on a running
 * node: `<runDir>/app.sock` opens after the node starts and closes (every
 * application connection with it, the file removed) before the node stops.
 *
 * @module
 */

import { Data, Effect, Layer } from "effect";
import { defaultRunDir, type NodeExtraLayer, RunningNode, ServalConfig } from "@serval/runtime";
import { type AppSocketOptions, AppSocketServer } from "./app_socket_server.ts";
import { appSocketPath } from "./serval_client.ts";

/** The application socket could not be opened (path in use, no permission…). */
export class AppSocketError extends Data.TaggedError("AppSocketError")<{ readonly message: string }> {}

/** Options of {@linkcode appSocketLayer}. */
export interface AppSocketLayerOptions extends AppSocketOptions {
  /** Told the socket's path once it accepts applications. */
  readonly onReady?: (path: string) => void;
}

/**
 * The application socket of the node, with options.
 *
 * @param opts Window, file mode, and a callback once ready.
 * @returns A layer for {@linkcode runNode}'s extras.
 *
 * @example
 * ```ts
 * import { Effect, Fiber } from "effect";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { appSocketLayer } from "@serval/client";
 * import { parseConfig, runNode } from "@serval/runtime";
 * const runDir = mkdtempSync(`${tmpdir()}/serval-`);
 * let ready = (_: string) => {};
 * const up = new Promise<string>((r) => (ready = r));
 * const fiber = Effect.runFork(runNode(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0, runDir }), [appSocketLayer({ onReady: ready })]));
 * console.assert((await up).endsWith("/app.sock"));
 * await Effect.runPromise(Fiber.interrupt(fiber));
 * rmSync(runDir, { recursive: true });
 * ```
 */
export function appSocketLayer(opts: AppSocketLayerOptions = {}): NodeExtraLayer<AppSocketError> {
  return Layer.effectDiscard(
    Effect.gen(function* () {
      const node = yield* RunningNode;
      const config = yield* ServalConfig;
      const path = appSocketPath(config.runDir ?? defaultRunDir());
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => AppSocketServer.listen(node, path, opts),
          catch: (e) => new AppSocketError({ message: `application socket: ${e instanceof Error ? e.message : String(e)}` }),
        }),
        (server) => Effect.promise(() => server.close()),
      );
      if (opts.onReady) yield* Effect.sync(() => opts.onReady!(path));
    }),
  );
}

/** The application socket of the node with default options (see {@linkcode appSocketLayer}). */
export const AppSocketLive: NodeExtraLayer<AppSocketError> = appSocketLayer();

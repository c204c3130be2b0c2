/**
 * The Effect-flavoured application interface (DESIGN §8): the calls of
 * {@linkcode ServalApi} as scoped resources. A connection, listener or
 * datagram socket acquired in a `Scope` is closed when the scope ends,
 * whether the program succeeded, failed or was interrupted. Failures are
 * typed ({@linkcode ConnectError}).
 *
 * @module
 */

import { Data, Effect, type Scope } from "effect";
import type { ConnectionOptions, DatagramSocket, ServalApi, ServiceLike, ServiceListener } from "./serval_api.ts";
import type { StreamConnection } from "./stream_connection.ts";

/** A connect that failed: refused, timed out or unreachable. */
export class ConnectError extends Data.TaggedError("ConnectError")<{ readonly service: string; readonly message: string }> {}

/**
 * Connects in a scope: the flow is closed gracefully (our FIN) when the
 * scope ends normally, reset when it ends by failure or interruption.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { connectScoped, type ServalApi } from "@serval/runtime";
 * declare const api: ServalApi;
 * const hello = Effect.scoped(Effect.gen(function* () {
 *   const c = yield* connectScoped(api, "echo.example");
 *   yield* Effect.promise(() => c.writable.getWriter().write(new TextEncoder().encode("hi")));
 * }));
 * ```
 */
export function connectScoped(
  api: ServalApi,
  service: ServiceLike,
  opts?: ConnectionOptions,
): Effect.Effect<StreamConnection, ConnectError, Scope.Scope> {
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: () => api.connect(service, opts),
      catch: (e) => new ConnectError({ service: String(service), message: e instanceof Error ? e.message : String(e) }),
    }),
    (c, exit) =>
      Effect.sync(() => {
        if (c.gone) return;
        // Success: FIN after what was written (never a reset: it would lose
        // data still in flight); failure or interruption: reset.
        if (exit._tag === "Success") c.close().catch(() => {});
        else c.abort();
      }),
  );
}

/**
 * Listens in a scope: the service is withdrawn when the scope ends.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { listenScoped, type ServalApi } from "@serval/runtime";
 * declare const api: ServalApi;
 * const serveOne = Effect.scoped(Effect.gen(function* () {
 *   const l = yield* listenScoped(api, "echo.example");
 *   const c = yield* Effect.promise(() => l.accept());
 *   yield* Effect.promise(() => c.readable.pipeTo(c.writable));
 * }));
 * ```
 */
export function listenScoped(
  api: ServalApi,
  prefix: ServiceLike,
  opts?: ConnectionOptions & { backlog?: number },
): Effect.Effect<ServiceListener, never, Scope.Scope> {
  return Effect.acquireRelease(Effect.sync(() => api.listen(prefix, opts)), (l) => Effect.sync(() => l.close()));
}

/**
 * Opens a datagram socket in a scope: closed (and unbound) when the scope ends.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { datagramScoped, type ServalApi } from "@serval/runtime";
 * declare const api: ServalApi;
 * const ping = Effect.scoped(Effect.gen(function* () {
 *   const s = yield* datagramScoped(api);
 *   s.send("time.example", new Uint8Array([1]));
 * }));
 * ```
 */
export function datagramScoped(api: ServalApi, prefix?: ServiceLike): Effect.Effect<DatagramSocket, never, Scope.Scope> {
  return Effect.acquireRelease(Effect.sync(() => api.openDatagram(prefix)), (s) => Effect.sync(() => s.close()));
}

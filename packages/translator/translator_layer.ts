/**
 * The translator as Effect layers on a running node ({@linkcode NodeExtraLayer}s
 * of `@serval/runtime`): {@linkcode TranslatorLive} owns one
 * {@linkcode Translator} (closed when its scope ends: listeners closed,
 * services withdrawn, open connections reset), and one layer per front end
 * ({@linkcode mapPortLayer}, {@linkcode socksLayer}, {@linkcode exportLayer})
 * binds when built and unbinds when released. {@linkcode translatorLayer}
 * puts a whole {@linkcode TranslatorSpec} together.
 *
 * @module
 */

import { Context, Data, Effect, Layer } from "effect";
import { type NodeExtraLayer, RunningNode } from "@serval/runtime";
import { type ExportOptions, type MapOptions, type SocksOptions, Translator, type TranslatorOptions } from "./translator.ts";
import type { TranslatorSpec } from "./translator_spec.ts";

/** A front end that could not start (a port in use, a bad service text). */
export class TranslatorError extends Data.TaggedError("TranslatorError")<{ readonly message: string }> {}

/** The node's translator (owned by {@linkcode TranslatorLive}). */
export class RunningTranslator extends Context.Service<RunningTranslator, Translator>()("@serval/translator/RunningTranslator") {}

/**
 * Makes a {@linkcode Translator} on the running node; closes it when the
 * layer's scope ends.
 *
 * @param opts Cap, timeouts, logging.
 * @returns The layer.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect";
 * import { nodeLayer, parseConfig } from "@serval/runtime";
 * import { RunningTranslator, TranslatorLive } from "@serval/translator";
 * const program = Effect.gen(function* () {
 *   return (yield* RunningTranslator).stats.active;
 * });
 * const node = nodeLayer(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0 }));
 * const active = await Effect.runPromise(program.pipe(Effect.provide(TranslatorLive().pipe(Layer.provide(node)))));
 * console.assert(active === 0);
 * ```
 */
export function TranslatorLive(opts: TranslatorOptions = {}): Layer.Layer<RunningTranslator, never, RunningNode> {
  return Layer.effect(
    RunningTranslator,
    Effect.gen(function* () {
      const node = yield* RunningNode;
      return yield* Effect.acquireRelease(
        Effect.sync(() => new Translator(node, opts)),
        (t) => Effect.promise(() => t.close()),
      );
    }),
  );
}

const message = (e: unknown) => new TranslatorError({ message: e instanceof Error ? e.message : String(e) });

/**
 * A mapped port: bound when built, closed when released.
 *
 * @param m Address, port, service.
 * @returns The layer.
 *
 * @example Built (bound) and released (closed) in a scope
 * ```ts
 * import { Effect, Layer } from "effect";
 * import { nodeLayer, parseConfig } from "@serval/runtime";
 * import { mapPortLayer, TranslatorLive } from "@serval/translator";
 * const node = nodeLayer(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0 }));
 * const layer = mapPortLayer({ port: 0, service: "web.example" }).pipe(Layer.provide(TranslatorLive()), Layer.provide(node));
 * await Effect.runPromise(Effect.scoped(Layer.build(layer)));
 * ```
 */
export function mapPortLayer(m: MapOptions): Layer.Layer<never, TranslatorError, RunningTranslator> {
  return Layer.effectDiscard(Effect.gen(function* () {
    const t = yield* RunningTranslator;
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => t.mapPort(m), catch: message }),
      (front) => Effect.promise(() => front.close()),
    );
  }));
}

/**
 * The SOCKS5 server: bound when built, closed when released.
 *
 * @param s Address and port.
 * @returns The layer.
 *
 * @example Built (bound) and released (closed) in a scope
 * ```ts
 * import { Effect, Layer } from "effect";
 * import { nodeLayer, parseConfig } from "@serval/runtime";
 * import { socksLayer, TranslatorLive } from "@serval/translator";
 * const node = nodeLayer(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0 }));
 * const layer = socksLayer({ port: 0 }).pipe(Layer.provide(TranslatorLive()), Layer.provide(node));
 * await Effect.runPromise(Effect.scoped(Layer.build(layer)));
 * ```
 */
export function socksLayer(s: SocksOptions): Layer.Layer<never, TranslatorError, RunningTranslator> {
  return Layer.effectDiscard(Effect.gen(function* () {
    const t = yield* RunningTranslator;
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => t.socks(s), catch: message }),
      (front) => Effect.promise(() => front.close()),
    );
  }));
}

/**
 * An exported legacy server: the service is listened on (and registered)
 * when built, withdrawn when released.
 *
 * @param e Service, host, port.
 * @returns The layer.
 *
 * @example Built (bound) and released (closed) in a scope
 * ```ts
 * import { Effect, Layer } from "effect";
 * import { nodeLayer, parseConfig } from "@serval/runtime";
 * import { exportLayer, TranslatorLive } from "@serval/translator";
 * const node = nodeLayer(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0 }));
 * const layer = exportLayer({ service: "web.example", host: "127.0.0.1", port: 8000 }).pipe(Layer.provide(TranslatorLive()), Layer.provide(node));
 * await Effect.runPromise(Effect.scoped(Layer.build(layer)));
 * ```
 */
export function exportLayer(e: ExportOptions): Layer.Layer<never, TranslatorError, RunningTranslator> {
  return Layer.effectDiscard(Effect.gen(function* () {
    const t = yield* RunningTranslator;
    yield* Effect.acquireRelease(
      Effect.try({ try: () => t.exportService(e), catch: message }),
      (h) => Effect.sync(() => h.close()),
    );
  }));
}

/**
 * Everything a spec asks for, on one translator, as one layer on the node.
 *
 * @param spec Mapped ports, SOCKS, exports.
 * @param opts The translator's options.
 * @returns A layer for `runNode(config, [layer])`.
 *
 * @example
 * ```ts
 * import { Effect, Fiber } from "effect";
 * import { parseConfig, runNode } from "@serval/runtime";
 * import { translatorLayer } from "@serval/translator";
 * const layer = translatorLayer({ maps: [{ port: 0, service: "web.example" }], socks: { port: 0 }, exports: [] });
 * const fiber = Effect.runFork(runNode(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0 }), [layer]));
 * await new Promise((r) => setTimeout(r, 50));
 * await Effect.runPromise(Fiber.interrupt(fiber));
 * ```
 */
export function translatorLayer(spec: TranslatorSpec, opts: TranslatorOptions = {}): NodeExtraLayer<TranslatorError> {
  const fronts: Layer.Layer<never, TranslatorError, RunningTranslator>[] = [
    ...spec.exports.map(exportLayer),
    ...spec.maps.map(mapPortLayer),
    ...(spec.socks ? [socksLayer(spec.socks)] : []),
  ];
  const [first, ...rest] = fronts;
  const all = first ? Layer.mergeAll(first, ...rest) : Layer.empty;
  return all.pipe(Layer.provide(TranslatorLive(opts)));
}

/**
 * Effect services and layers that own a node's resources: the config
 * ({@linkcode ServalConfig}), the datapath ({@linkcode DatapathLive}: opened
 * when the layer is built, closed when its scope ends) and the running node
 * ({@linkcode NodeLive}: started, then withdrawn, said goodbye and closed).
 * {@linkcode runNode} runs a node until interrupted.
 *
 * Effect wraps the node; it is never inside the packet loop. The node's own
 * loop ({@linkcode ServalNode}) runs batch by batch without Effect; this file
 * only watches the control plane once per batch (lease and registration
 * changes) and reports them through {@linkcode NodeReporter}.
 *
 * @example Run a router for a while, then stop it
 * ```ts
 * import { Effect, Fiber } from "effect";
 * import { parseConfig, runNode } from "@serval/runtime";
 * const fiber = Effect.runFork(runNode(parseConfig({ role: "router", bind: "127.0.0.1", port: 0 })));
 * await new Promise((r) => setTimeout(r, 50));
 * await Effect.runPromise(Fiber.interrupt(fiber)); // closes the node and its socket
 * ```
 *
 * @module
 */

import { Context, Effect, Layer } from "effect";
import type { Datapath, DatapathKind } from "@serval/datapath";
import type { Lease } from "@serval/discovery";
import { type Locator, locatorKey, ServicePrefix } from "@serval/wire";
import { ConfigError, DatapathError, loadConfig, type NodeConfig, openDatapath, serveEcho, toNodeOptions } from "./config.ts";
import { ServalNode } from "./serval_node.ts";
import { warmUp } from "./warm_up.ts";

// ---------------------------------------------------------------------------
// What a running node reports

/** Something worth one line to an operator. */
export type NodeReport =
  | {
    readonly type: "started";
    readonly role: NodeConfig["role"];
    readonly datapath: DatapathKind;
    /** Bound address (UDP) or "" (packet). */
    readonly bind: string;
    /** Bound port (UDP; the real one when 0 was asked) or 0. */
    readonly port: number;
    /** Where peers reach us. */
    readonly locals: readonly Locator[];
    /** Router boot id. */
    readonly bootId: number | undefined;
    /** Configured routers (host) or upstream routers (router). */
    readonly routers: readonly Locator[];
    /** Whether the host looks for routers by itself. */
    readonly discover: boolean;
    readonly balance: NodeConfig["balance"];
    readonly echo: readonly string[];
  }
  | { readonly type: "lease-added"; readonly lease: Lease }
  | { readonly type: "lease-removed"; readonly lease: Lease; readonly reason: "unregistered" | "expired" | "cleared" }
  | {
    /** A router accepted our registrations (first time, or after a change). */
    readonly type: "registered";
    readonly router: Locator;
    readonly lifetimeMs: number;
    /** Services registered (names as configured where known). */
    readonly services: readonly string[];
    /** Routers in use now. */
    readonly routers: number;
  }
  | { readonly type: "refused"; readonly router: Locator }
  | { readonly type: "stopping"; readonly services: number; readonly routers: number }
  | { readonly type: "stopped" };

/**
 * Where a node's reports go (default: nowhere). The CLI prints them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { NodeReporter } from "@serval/runtime";
 * const lines: string[] = [];
 * const program = Effect.gen(function* () {
 *   const report = yield* NodeReporter;
 *   report({ type: "stopped" });
 * }).pipe(Effect.provideService(NodeReporter, (r) => lines.push(r.type)));
 * await Effect.runPromise(program);
 * console.assert(lines[0] === "stopped");
 * ```
 */
export const NodeReporter: Context.Reference<(report: NodeReport) => void> = Context.Reference<(report: NodeReport) => void>(
  "@serval/runtime/NodeReporter",
  { defaultValue: () => () => {} },
);

// ---------------------------------------------------------------------------
// Services and layers

/**
 * The validated config of the node.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { parseConfig, ServalConfig } from "@serval/runtime";
 * const program = Effect.gen(function* () {
 *   const config = yield* ServalConfig;
 *   return config.port;
 * });
 * const port = await Effect.runPromise(program.pipe(Effect.provide(ServalConfig.layer(parseConfig({ role: "host" })))));
 * console.assert(port === 54325);
 * ```
 */
export class ServalConfig extends Context.Service<ServalConfig, NodeConfig>()("@serval/runtime/ServalConfig") {
  /** A layer holding an already valid config. */
  static layer(config: NodeConfig): Layer.Layer<ServalConfig> {
    return Layer.succeed(ServalConfig, config);
  }

  /** A layer that loads a config file (optional) under flags; fails with {@linkcode ConfigError}. */
  static load(file: string | undefined, flags: Readonly<Record<string, unknown>>): Layer.Layer<ServalConfig, ConfigError> {
    return Layer.effect(ServalConfig, loadConfig(file, flags));
  }
}

/** The node's open datapath (owned by {@linkcode DatapathLive}). */
export class ServalDatapath extends Context.Service<ServalDatapath, Datapath>()("@serval/runtime/ServalDatapath") {}

/** The running node (owned by {@linkcode NodeLive}). */
export class RunningNode extends Context.Service<RunningNode, ServalNode>()("@serval/runtime/RunningNode") {}

/**
 * Opens the datapath the config asks for when built; closes it when the
 * layer's scope ends (after the node, which needs it to say goodbye).
 */
export const DatapathLive: Layer.Layer<ServalDatapath, DatapathError, ServalConfig> = Layer.effect(
  ServalDatapath,
  Effect.gen(function* () {
    const config = yield* ServalConfig;
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => openDatapath(config),
        catch: (e) => (e instanceof DatapathError ? e : new DatapathError({ message: errorText(e) })),
      }),
      (dp) => Effect.promise(() => dp.close()),
    );
  }),
);

/**
 * Starts the node over the datapath when built (and the echo services the
 * config names); when the scope ends, withdraws its registrations, says
 * goodbye and closes. Reports through {@linkcode NodeReporter}.
 */
export const NodeLive: Layer.Layer<RunningNode, ConfigError, ServalConfig | ServalDatapath> = Layer.effect(
  RunningNode,
  Effect.gen(function* () {
    const config = yield* ServalConfig;
    const datapath = yield* ServalDatapath;
    const report = yield* NodeReporter;
    const running = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: (signal) => startNode(config, datapath, report, signal),
        // ServalNode.start throws RangeError on options out of range: a config problem.
        catch: (e) => new ConfigError({ message: errorText(e) }),
      }),
      (r) => Effect.promise(() => r.stop()),
    );
    return running.node;
  }),
);

/**
 * Every layer of a node from a valid config: the config, the datapath and
 * the running node.
 *
 * @param config A valid config ({@linkcode parseConfig}, {@linkcode loadConfig}).
 * @returns The layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { nodeLayer, parseConfig, RunningNode } from "@serval/runtime";
 * const program = Effect.gen(function* () {
 *   const node = yield* RunningNode;
 *   return node.agent.role;
 * });
 * const role = await Effect.runPromise(program.pipe(Effect.provide(nodeLayer(parseConfig({ role: "router", bind: "127.0.0.1", port: 0 })))));
 * console.assert(role === "router");
 * ```
 */
export function nodeLayer(config: NodeConfig): Layer.Layer<RunningNode | ServalDatapath | ServalConfig, ConfigError | DatapathError> {
  return NodeLive.pipe(Layer.provideMerge(DatapathLive), Layer.provideMerge(ServalConfig.layer(config)));
}

/**
 * Runs a node until interrupted (SIGINT/SIGTERM through the platform
 * runtime, or `Fiber.interrupt`), then shuts it down gracefully.
 *
 * @param config A valid config.
 * @param extras Layers that run on the node ({@linkcode NodeExtraLayer}).
 * @returns An effect that never succeeds; it fails when the node (or an extra layer) cannot start.
 *
 * @example
 * ```ts
 * import { Effect, Fiber } from "effect";
 * import { parseConfig, runNode } from "@serval/runtime";
 * const fiber = Effect.runFork(runNode(parseConfig({ role: "adhoc", bind: "127.0.0.1", port: 0, echo: ["echo.example"] })));
 * await new Promise((r) => setTimeout(r, 20));
 * await Effect.runPromise(Fiber.interrupt(fiber));
 * ```
 */
export function runNode<E = never>(
  config: NodeConfig,
  extras: readonly NodeExtraLayer<E>[] = [],
): Effect.Effect<never, ConfigError | DatapathError | E> {
  const node = nodeLayer(config);
  if (extras.length === 0) return Layer.launch(node);
  const [first, ...rest] = extras;
  return Layer.launch(Layer.mergeAll(first!, ...rest).pipe(Layer.provideMerge(node)));
}

/**
 * A layer built on a running node (a management socket, an application
 * socket, a translator): built after the node started, released before it
 * stops, so the node still withdraws its registrations after them.
 */
export type NodeExtraLayer<E = never> = Layer.Layer<never, E, RunningNode | ServalConfig | ServalDatapath>;

// ---------------------------------------------------------------------------
// Starting, watching and stopping (plain code: runs once, or once per batch)

interface Started {
  readonly node: ServalNode;
  stop(): Promise<void>;
}

async function startNode(config: NodeConfig, inner: Datapath, report: (r: NodeReport) => void, signal?: AbortSignal): Promise<Started> {
  const names = new Map(config.echo.map((s) => [ServicePrefix.parse(s).toString(), s] as const));
  const opts = toNodeOptions(config, inner);
  // Before the node starts: its first packets then run on warm (JIT-compiled) code (issue 6).
  if (config.warmUp !== false) await warmUp({ once: true });
  // Interrupted meanwhile: the datapath is being closed, start nothing on it.
  if (signal?.aborted) throw new Error("Cannot start Serval node: interrupted while warming up");
  const node = await ServalNode.start(opts);
  let stopEcho: () => void = () => {};
  try {
    stopEcho = serveEcho(node, config.echo);
  } catch (e) {
    await node.close();
    throw e;
  }
  const first = inner.localAddresses()[0];
  report({
    type: "started",
    role: config.role,
    datapath: inner.kind,
    bind: inner.kind === "udp" ? config.bind : "",
    port: first?.port ?? 0,
    locals: node.locals,
    bootId: opts.control?.bootId,
    routers: opts.control?.routers ?? [],
    discover: node.agent.discovery !== undefined,
    balance: config.balance,
    echo: config.echo,
  });
  const registeredWith = new Map<string, string>();
  // The control plane's news, looked at once per step of the node (and in
  // the last step of close()): lease and registration changes.
  const watch = () => {
    const leases = node.agent.leases;
    for (let e = leases?.pollEvent(); e; e = leases?.pollEvent()) {
      report(e.type === "lease-added" ? { type: "lease-added", lease: e.lease } : { type: "lease-removed", lease: e.lease, reason: e.reason });
    }
    const reg = node.agent.registrar;
    for (let e = reg?.pollEvent(); e; e = reg?.pollEvent()) {
      const k = locatorKey(e.router);
      if (e.type === "refused") {
        registeredWith.delete(k);
        report({ type: "refused", router: e.router });
        continue;
      }
      // Acks of refreshes and of withdrawals (lifetime 0) are not news.
      if (e.lifetimeMs === 0) continue;
      const services = reg!.services().map((s) => names.get(s.prefix.toString()) ?? s.prefix.toString());
      const state = `${e.lifetimeMs} ${services.join(" ")}`;
      if (registeredWith.get(k) === state) continue;
      registeredWith.set(k, state);
      report({ type: "registered", router: e.router, lifetimeMs: e.lifetimeMs, services, routers: node.agent.routers().length });
    }
  };
  watch();
  const unwatch = node.onStep(watch);
  return {
    node,
    async stop() {
      report({
        type: "stopping",
        services: node.agent.registrar?.services().length ?? 0,
        routers: node.agent.routers().length,
      });
      stopEcho();
      await node.close();
      unwatch();
      report({ type: "stopped" });
    },
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

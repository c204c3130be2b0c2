/**
 * The configuration of a `serval host`, `serval router` or `serval adhoc`
 * node: a {@linkcode NodeConfig} Schema (validated once at start, with one
 * clear message per bad field), {@linkcode loadConfig} (a JSON file merged
 * under command-line flags), and the plain functions that turn a config into
 * a running node: {@linkcode openDatapath}, {@linkcode toNodeOptions} and
 * {@linkcode serveEcho}.
 *
 * Effect is used here only at the edge (decoding, reading the file, typed
 * errors); nothing in this file runs per packet.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { Effect, Exit, Schema, SchemaIssue } from "effect";
import type { Datapath } from "@serval/datapath";
import type { ControlAgentOptions } from "@serval/discovery";
import type { ActionPluginFactory } from "@serval/sal";
import { type Locator, SERVAL_UDP_PORT, ServicePrefix } from "@serval/wire";
import { ROUND_ROBIN_PLUGIN, roundRobin } from "@serval/plugin-round-robin";
import { describeSchemaIssue, showValue as show } from "./describe_schema_issue.ts";
import type { ServalNode, ServalNodeOptions } from "./serval_node.ts";
import { openUdpDatapath } from "./udp_datapath.ts";
import { ServalApi } from "./serval_api.ts";

// ---------------------------------------------------------------------------
// Field schemas

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function int(min: number, max: number) {
  const message = `expected an integer ${min}..${max}`;
  return Schema.Number.annotate({ message }).check(
    Schema.makeFilter((n: number) => Number.isInteger(n) && n >= min && n <= max, { message }),
  );
}

function withDefault<S extends Schema.Top>(schema: S, value: S["Encoded"]) {
  return schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));
}

const Ipv4Text = Schema.String.check(Schema.makeFilter((s: string) => IPV4.test(s), { message: "expected an IPv4 address" }));

/** "IP" or "IP:PORT". */
const RouterText = Schema.String.check(
  Schema.makeFilter((s: string) => parseLocatorText(s) !== undefined, { message: "expected IPv4 or IPv4:PORT (port 1..65535)" }),
);

const ServiceText = Schema.String.check(
  Schema.makeFilter((s: string) => serviceError(s) === undefined, {
    message: "expected a service name or prefix (a name, N, 0x.., 64 hex digits; optional /BITS)",
  }),
);

const InterfaceName = Schema.String.check(
  Schema.makeFilter((s: string) => /^[^\s/]{1,15}$/.test(s), { message: "expected an interface name (1..15 characters)" }),
);

/** Default UDP port of a node (the Serval-over-UDP port). */
export const DEFAULT_PORT: number = SERVAL_UDP_PORT;

/**
 * The configuration of one node. Every field but `role` has a default, so
 * `{ role: "router" }` is a complete config. Times are milliseconds.
 *
 * - `role`: host, router or adhoc.
 * - `datapath`: "udp" (SAL in UDP, default) or "packet" (AF_PACKET, root).
 * - `bind`, `port`: the UDP socket (default 0.0.0.0:54325; port 0: any).
 * - `interfaces`: packet datapath interfaces (default: every one that is up).
 * - `routers`: "IP" or "IP:PORT" (host: routers to use; router: upstream).
 * - `discover`: host: find routers by solicitation (default: when no routers).
 * - `weight` (1..65535), `priority` (0..65535): of the host's registrations
 *   (router: announced priority).
 * - `refreshMs`, `lifetimeMs`: host: refresh period and lease lifetime asked
 *   (default 800 / 2500: a silent host ages out within 3 s); router: `lifetimeMs` caps granted leases
 *   (default 60000); adhoc: lifetime of its answers (default 10000).
 * - `announceMs`: router: between announcements (default 1000).
 * - `balance`: router: target selection among replicas, "round-robin"
 *   (default, `@serval/plugin-round-robin`) or "random" (weighted random).
 * - `echo`: services this node serves with the built-in echo service.
 * - `aggregates`: router: prefixes it registers with its upstream `routers`
 *   (what the hosts behind it serve, summarised).
 * - `warmUp`: run a short in-memory warm-up before starting (default true).
 *
 * @example Decode a minimal config
 * ```ts
 * import { Schema } from "effect";
 * import { NodeConfig } from "@serval/runtime";
 * const c = Schema.decodeUnknownSync(NodeConfig)({ role: "router" });
 * console.assert(c.port === 54325 && c.balance === "round-robin" && c.datapath === "udp");
 * ```
 */
export const NodeConfig = Schema.Struct({
  role: Schema.Literals(["host", "router", "adhoc"]).annotate({ message: "expected host, router or adhoc" }),
  datapath: withDefault(Schema.Literals(["udp", "packet"]).annotate({ message: "expected udp or packet" }), "udp"),
  bind: withDefault(Ipv4Text, "0.0.0.0"),
  port: withDefault(int(0, 65535), DEFAULT_PORT),
  interfaces: withDefault(Schema.Array(InterfaceName), []),
  routers: withDefault(Schema.Array(RouterText), []),
  discover: Schema.optionalKey(Schema.Boolean.annotate({ message: "expected true or false" })),
  weight: withDefault(int(1, 65535), 1),
  priority: withDefault(int(0, 65535), 0),
  refreshMs: Schema.optionalKey(int(1, 3_600_000)),
  lifetimeMs: Schema.optionalKey(int(1, 4_294_967_295)),
  announceMs: Schema.optionalKey(int(1, 3_600_000)),
  balance: withDefault(Schema.Literals(["round-robin", "random"]).annotate({ message: "expected round-robin or random" }), "round-robin"),
  echo: withDefault(Schema.Array(ServiceText), []),
  aggregates: withDefault(Schema.Array(ServiceText), []),
  /** Run `warmUp` before the node starts (default true): its first connections then run on warm code. */
  warmUp: Schema.optionalKey(Schema.Boolean.annotate({ message: "expected true or false" })),
  /** Directory of the daemon's local sockets (management, applications); default {@linkcode defaultRunDir}. */
  runDir: Schema.optionalKey(Schema.String.annotate({ message: "expected a directory path" }).check(
    Schema.makeFilter((s: string) => s.length > 0 && s.length < 90, { message: "expected a directory path (1..89 characters: socket paths are short)" }),
  )),
  /** Remote management (off unless given): a TCP listener at `listen` ("IP:PORT"), each connection authenticated with the token in `tokenFile` (owner-only file). */
  management: Schema.optionalKey(Schema.Struct({
    listen: Schema.String.check(Schema.makeFilter((s: string) => { const l = parseLocatorText(s); return l !== undefined && l.port !== undefined; }, { message: "expected IPv4:PORT" })),
    tokenFile: Schema.String.check(Schema.makeFilter((s: string) => s.length > 0, { message: "expected a file path" })),
  })),
}).check(Schema.makeFilter(crossFieldIssues));

/** A decoded, valid node configuration. */
export type NodeConfig = typeof NodeConfig.Type;

/** What a config file or the flags may say (everything optional but the role). */
export type NodeConfigInput = typeof NodeConfig.Encoded;

/** Rules between fields, each reported at the field to fix. */
function crossFieldIssues(c: {
  readonly role: string;
  readonly datapath: string;
  readonly interfaces: readonly string[];
  readonly routers: readonly string[];
  readonly echo: readonly string[];
  readonly aggregates: readonly string[];
  readonly refreshMs?: number;
  readonly lifetimeMs?: number;
}): Schema.FilterIssue[] {
  const issues: Schema.FilterIssue[] = [];
  if (c.datapath === "udp" && c.interfaces.length > 0) {
    issues.push({ path: ["interfaces"], issue: "only the packet datapath takes interfaces (add datapath packet)" });
  }
  if (c.datapath === "packet") {
    c.routers.forEach((r, i) => {
      if (r.includes(":")) issues.push({ path: ["routers", i], issue: "the packet datapath takes an IPv4 address without a port" });
    });
  }
  const served = new Map<string, number>();
  c.echo.forEach((e, i) => {
    if (serviceError(e) !== undefined) return; // reported at the field itself
    const key = ServicePrefix.parse(e).toString();
    const first = served.get(key);
    if (first !== undefined) issues.push({ path: ["echo", i], issue: `the same service as echo[${first}]` });
    else served.set(key, i);
  });
  if (c.role === "adhoc" && c.routers.length > 0) issues.push({ path: ["routers"], issue: "an adhoc node uses no router" });
  if (c.aggregates.length > 0 && (c.role !== "router" || c.routers.length === 0)) {
    issues.push({ path: ["aggregates"], issue: "only a router with upstream routers (routers) registers aggregates" });
  }
  if (c.role === "host") {
    const refresh = c.refreshMs ?? 800;
    const lifetime = c.lifetimeMs ?? 2500;
    if (refresh >= lifetime) {
      issues.push({ path: ["refreshMs"], issue: `must be less than the lease lifetime (lifetimeMs ${lifetime}) or leases lapse between refreshes` });
    }
  }
  return issues;
}

// ---------------------------------------------------------------------------
// Errors

/**
 * A configuration that cannot be used: a bad field (the message names it and
 * the bad value), an unreadable or malformed file.
 *
 * @example
 * ```ts
 * import { ConfigError } from "@serval/runtime";
 * const e = new ConfigError({ message: "weight: expected an integer 1..65535, got 0" });
 * console.assert(e._tag === "ConfigError");
 * ```
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { message: Schema.String }) {}

/**
 * A datapath that cannot be opened (port in use, not root, the packet
 * datapath not installed).
 *
 * @example
 * ```ts
 * import { DatapathError } from "@serval/runtime";
 * const e = new DatapathError({ message: "Cannot bind 0.0.0.0:1: permission denied" });
 * console.assert(e._tag === "DatapathError");
 * ```
 */
export class DatapathError extends Schema.TaggedError<DatapathError>()("DatapathError", { message: Schema.String }) {}

// ---------------------------------------------------------------------------
// Decoding and loading

const decodeExit = Schema.decodeUnknownExit(NodeConfig);
/**
 * Decodes and validates a config object.
 *
 * @param input Anything (parsed JSON, flags).
 * @returns The valid config with defaults filled in.
 * @throws {ConfigError} With one line naming the first bad field and its value.
 *
 * @example
 * ```ts
 * import { ConfigError, parseConfig } from "@serval/runtime";
 * const c = parseConfig({ role: "host", routers: ["127.0.0.1:5000"], echo: ["echo.example"] });
 * console.assert(c.routers.length === 1 && c.weight === 1);
 * try {
 *   parseConfig({ role: "host", weight: 0 });
 * } catch (e) {
 *   console.assert(e instanceof ConfigError && e.message === "weight: expected an integer 1..65535, got 0");
 * }
 * ```
 */
export function parseConfig(input: unknown): NodeConfig {
  const r = decodeExit(input, { onExcessProperty: "error" });
  if (Exit.isSuccess(r)) return r.value;
  const err = r.cause.reasons.find((x) => x._tag === "Fail")?.error;
  const issue = err !== undefined && typeof err === "object" && "issue" in err ? (err as { issue: SchemaIssue.Issue }).issue : undefined;
  if (!issue) throw new ConfigError({ message: `invalid config: ${String(err)}` });
  throw new ConfigError({ message: describeSchemaIssue(issue, input, "config") });
}

/**
 * Loads a config: the JSON file (if any) with the flags laid over it (a
 * flag that is `undefined` or an empty list leaves the file's value).
 *
 * @param file Path of a JSON config file, or `undefined`.
 * @param flags Values from the command line (numbers may still be text:
 *   they are read as integers when they look like one, else reported).
 * @returns The valid config, or fails with {@linkcode ConfigError}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { loadConfig } from "@serval/runtime";
 * const c = await Effect.runPromise(loadConfig(undefined, { role: "router", port: "0" }));
 * console.assert(c.port === 0);
 * ```
 */
export function loadConfig(
  file: string | undefined,
  flags: Readonly<Record<string, unknown>>,
): Effect.Effect<NodeConfig, ConfigError> {
  return Effect.gen(function* () {
    let base: Record<string, unknown> = {};
    if (file !== undefined) {
      const text = yield* Effect.tryPromise({
        try: () => readFile(file, "utf8"),
        catch: (e) => new ConfigError({ message: `Cannot read config file "${file}": ${errorText(e)}` }),
      });
      const json = yield* Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (e) => new ConfigError({ message: `Cannot parse config file "${file}": ${errorText(e)}` }),
      });
      if (json === null || typeof json !== "object" || Array.isArray(json)) {
        return yield* new ConfigError({ message: `Cannot use config file "${file}": expected a JSON object, got ${show(json)}` });
      }
      base = json as Record<string, unknown>;
    }
    const merged: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(flags)) {
      if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
      merged[k] = typeof v === "string" && INT_FIELDS.has(k) && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
    }
    return yield* Effect.try({
      try: () => parseConfig(merged),
      catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ message: errorText(e) })),
    });
  });
}

const INT_FIELDS = new Set(["port", "weight", "priority", "refreshMs", "lifetimeMs", "announceMs"]);

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------
// Locators and services

/** `IP` or `IP:PORT` → address bytes and port (`undefined` when invalid). */
function parseLocatorText(text: string): { address: Uint8Array; port: number | undefined } | undefined {
  const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m || !IPV4.test(m[1]!)) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { address: new Uint8Array(m[1]!.split(".").map(Number)), port };
}

/**
 * Parses a router given as "IP" or "IP:PORT" into a locator.
 *
 * @param text The router text.
 * @param defaultPort Port when none is given: {@linkcode DEFAULT_PORT} on
 *   the UDP datapath, 0 on the packet datapath (a raw-IP locator).
 * @returns The locator.
 * @throws {RangeError} When the text is not an IPv4 address with an optional port.
 *
 * @example
 * ```ts
 * import { parseRouter } from "@serval/runtime";
 * const l = parseRouter("127.0.0.1:4000");
 * console.assert(l.port === 4000 && l.address[0] === 127);
 * console.assert(parseRouter("198.18.0.1").port === 54325);
 * ```
 */
export function parseRouter(text: string, defaultPort: number = DEFAULT_PORT): Locator {
  const l = parseLocatorText(text);
  if (!l) throw new RangeError(`Cannot parse router "${text}": expected IPv4 or IPv4:PORT`);
  return { address: l.address, port: l.port ?? defaultPort };
}

function serviceError(text: string): string | undefined {
  try {
    ServicePrefix.parse(text);
    return undefined;
  } catch (e) {
    return errorText(e);
  }
}

// ---------------------------------------------------------------------------
// From config to node

/** A packet datapath module, as far as this file needs it. */
interface PacketDatapathModule {
  openPacketDatapath(opts: { interfaces?: readonly string[]; ringVersion?: 2 | 3 }): Promise<Datapath>;
}

// A variable, so that type checking and bundling do not require the package:
// it is optional (Bun and root only) and loaded only when asked for.
const PACKET_MODULE = "@serval/datapath-ffi";

/**
 * Opens the datapath a config asks for: UDP at `bind:port`, or the packet
 * datapath (loaded on demand from `@serval/datapath-ffi`; Bun and root only).
 *
 * @param config The node config.
 * @returns The open datapath (the caller closes it).
 * @throws {DatapathError} When it cannot be opened, with the reason.
 *
 * @example
 * ```ts
 * import { openDatapath, parseConfig } from "@serval/runtime";
 * const dp = await openDatapath(parseConfig({ role: "router", bind: "127.0.0.1", port: 0 }));
 * console.assert(dp.kind === "udp");
 * await dp.close();
 * ```
 */
export async function openDatapath(config: NodeConfig): Promise<Datapath> {
  if (config.datapath === "udp") {
    try {
      return await openUdpDatapath({ address: config.bind, port: config.port, broadcast: true });
    } catch (e) {
      throw new DatapathError({ message: errorText(e) });
    }
  }
  let mod: PacketDatapathModule;
  try {
    mod = (await import(PACKET_MODULE)) as PacketDatapathModule;
  } catch (e) {
    throw new DatapathError({
      message: `Cannot open the packet datapath: ${PACKET_MODULE} is not available (${errorText(e)}); use --datapath udp`,
    });
  }
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new DatapathError({ message: "Cannot open the packet datapath: not root (AF_PACKET needs CAP_NET_RAW); run as root or use --datapath udp" });
  }
  try {
    // TPACKET_V2: a wake-up per packet. V3 waits for its block timer (1 ms)
    // when traffic is light, which would add a millisecond to every hop of a
    // connect (bench/forward.bench.ts: round trip p50 0.1 ms on V2, 1.0 on V3).
    return await mod.openPacketDatapath({ ringVersion: 2, ...(config.interfaces.length > 0 ? { interfaces: config.interfaces } : {}) });
  } catch (e) {
    throw new DatapathError({ message: errorText(e) });
  }
}

/** Extras of {@linkcode toNodeOptions}. */
export interface NodeOptionsExtras {
  /** Router boot id (default: drawn at random). */
  readonly bootId?: number;
}

/**
 * Turns a config into the options of {@linkcode ServalNode.start}.
 *
 * @param config The node config.
 * @param datapath The open datapath (the node will own it).
 * @param extras Boot id.
 * @returns The node options.
 *
 * @example A router balancing round robin
 * ```ts
 * import { parseConfig, toNodeOptions } from "@serval/runtime";
 * import type { Datapath } from "@serval/datapath";
 * const opts = toNodeOptions(parseConfig({ role: "router" }), {} as Datapath, { bootId: 7 });
 * console.assert(opts.control?.leases?.plugin === "@serval/plugin-round-robin" && opts.plugins?.length === 1);
 * console.assert(opts.control?.bootId === 7);
 * ```
 */
export function toNodeOptions(config: NodeConfig, datapath: Datapath, extras: NodeOptionsExtras = {}): ServalNodeOptions {
  const defaultPort = config.datapath === "udp" ? DEFAULT_PORT : 0;
  const roundRobinBalance = config.balance === "round-robin";
  const control: { -readonly [K in keyof Omit<ControlAgentOptions, "role">]: ControlAgentOptions[K] } = {
    routers: config.routers.map((r) => parseRouter(r, defaultPort)),
    weight: config.weight,
    priority: config.priority,
  };
  if (config.discover !== undefined) control.discover = config.discover;
  if (config.aggregates.length > 0) control.aggregates = config.aggregates.map((a) => ServicePrefix.parse(a));
  if (config.role === "host" || (config.role === "router" && config.routers.length > 0)) {
    control.registrar = {
      ...(config.refreshMs !== undefined ? { refreshUs: config.refreshMs * 1000 } : {}),
      ...(config.role === "host" && config.lifetimeMs !== undefined ? { lifetimeMs: config.lifetimeMs } : {}),
    };
  }
  if (config.role === "router") {
    control.bootId = extras.bootId ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
    control.leases = {
      ...(roundRobinBalance ? { plugin: ROUND_ROBIN_PLUGIN } : {}),
      ...(config.lifetimeMs !== undefined ? { maxLifetimeMs: config.lifetimeMs } : {}),
    };
    if (config.announceMs !== undefined) control.announcer = { intervalUs: config.announceMs * 1000 };
  }
  if (config.role === "adhoc" && config.lifetimeMs !== undefined) control.adhocLifetimeMs = config.lifetimeMs;
  const plugins: ActionPluginFactory[] = roundRobinBalance ? [roundRobin()] : [];
  return { role: config.role, datapath, control, plugins };
}

/**
 * Serves each service with the built-in echo service over Serval TCP: every
 * connection gets back what it sends (through the application API's streams,
 * with backpressure) and is closed when its peer closes. Meant for tests, the
 * demo and checking a deployment (`serval host --echo web.example`).
 *
 * @param node A started node.
 * @param services Service names or prefixes (as in {@linkcode NodeConfig}).
 * @returns A function that stops serving (withdraws the services; open connections finish).
 * @throws {RangeError} When a service text is invalid or already served.
 *
 * @example
 * ```ts
 * import { openUdpDatapath, serveEcho, ServalNode } from "@serval/runtime";
 * const node = await ServalNode.start({ role: "adhoc", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0 }) });
 * const stop = serveEcho(node, ["echo.example"]);
 * stop();
 * await node.close();
 * ```
 */
export function serveEcho(node: ServalNode, services: readonly string[]): () => void {
  if (services.length === 0) return () => {};
  const api = new ServalApi(node);
  const listeners = services.map((s) => api.listen(s));
  for (const l of listeners) {
    (async () => {
      for await (const c of l) c.readable.pipeTo(c.writable).catch(() => c.abort());
    })();
  }
  return () => {
    for (const l of listeners) l.close();
  };
}

/**
 * Where a daemon puts its local sockets when the config names no `runDir`:
 * `$SERVAL_RUN_DIR`, else `/run/serval` for root, else
 * `$XDG_RUNTIME_DIR/serval`, else `/tmp/serval-<uid>`.
 *
 * @param env The environment (default `process.env`).
 * @param uid The user id (default the process's).
 * @returns The directory.
 *
 * @example
 * ```ts
 * import { defaultRunDir } from "@serval/runtime";
 * console.assert(defaultRunDir({}, 0) === "/run/serval");
 * console.assert(defaultRunDir({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000) === "/run/user/1000/serval");
 * console.assert(defaultRunDir({ SERVAL_RUN_DIR: "/tmp/x" }, 0) === "/tmp/x");
 * ```
 */
export function defaultRunDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  uid: number = process.getuid?.() ?? 0,
): string {
  if (env.SERVAL_RUN_DIR) return env.SERVAL_RUN_DIR;
  if (uid === 0) return "/run/serval";
  if (env.XDG_RUNTIME_DIR) return `${env.XDG_RUNTIME_DIR}/serval`;
  return `/tmp/serval-${uid}`;
}

/**
 * The management protocol: newline-delimited JSON over a unix stream socket
 * (`<runDir>/mgmt.sock`, mode 0600). One request per line, one reply line per
 * request, in order:
 *
 * - request: `{"v":1,"id":N,"op":"service.add", ...params}`
 * - reply: `{"v":1,"id":N,"ok":true,"result":{...}}` or
 *   `{"v":1,"id":N,"ok":false,"error":{"code":"not-found","message":"..."}}`
 *
 * Every request is decoded with Schema before anything is touched: a bad one
 * gets one line naming the bad field and changes nothing. A line longer than
 * {@linkcode MAX_REQUEST_BYTES} is answered `too-large` and the connection is
 * closed.
 *
 * @module
 */

import { Exit, Schema, SchemaIssue } from "effect";
import { describeSchemaIssue, showValue as show } from "@serval/runtime";
import { formatIp, type Locator, parseIp, ServicePrefix } from "@serval/wire";

/** Protocol version: the `v` of every request and reply. */
export const PROTOCOL_VERSION = 1;

/** Longest request line accepted (bytes, without the newline). */
export const MAX_REQUEST_BYTES = 65536;

/** The socket's file name inside the run directory. */
export const SOCKET_NAME = "mgmt.sock";

/**
 * The management socket path of a run directory.
 *
 * @param runDir The daemon's run directory.
 * @returns `<runDir>/mgmt.sock`.
 *
 * @example
 * ```ts
 * import { socketPath } from "@serval/management";
 * console.assert(socketPath("/run/serval") === "/run/serval/mgmt.sock");
 * ```
 */
export function socketPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "") || "/"}/${SOCKET_NAME}`;
}

// ---------------------------------------------------------------------------
// Field schemas

function int(min: number, max: number) {
  const message = `expected an integer ${min}..${max}`;
  return Schema.Number.annotate({ message }).check(
    Schema.makeFilter((n: number) => Number.isInteger(n) && n >= min && n <= max, { message }),
  );
}

/** Why a prefix text is bad, or `undefined`. */
function prefixError(s: string): string | undefined {
  try {
    ServicePrefix.parse(s);
    return undefined;
  } catch (e) {
    return (e instanceof Error ? e.message : String(e)).replace(/^Cannot parse service prefix "[^"]*": /, "");
  }
}

/** A service prefix text: a name, N, 0x.., 64 hex digits or `default`, with an optional `/BITS` (0..256). */
const PrefixText = Schema.String.annotate({ message: "expected a service prefix text" }).check(
  Schema.makeFilter((s: string) => s.length > 256 ? "expected a service prefix (at most 256 characters)" : prefixError(s)),
);

/**
 * Parses a locator text: `IPv4`, `IPv4:PORT`, `IPv6` or `[IPv6]:PORT`.
 *
 * @param text The text.
 * @returns The address and the port (`undefined` when none was given), or `undefined` when invalid.
 *
 * @example
 * ```ts
 * import { parseLocatorText } from "@serval/management";
 * console.assert(parseLocatorText("198.18.1.2:4000")?.port === 4000);
 * console.assert(parseLocatorText("198.18.1.2")?.port === undefined);
 * console.assert(parseLocatorText("198.18.1.300") === undefined);
 * ```
 */
export function parseLocatorText(text: string): { address: Uint8Array; port: number | undefined } | undefined {
  if (typeof text !== "string" || text.length > 64) return undefined;
  let m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (!m) m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) m = /^([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)()$/.exec(text);
  if (!m) return undefined;
  let address: Uint8Array;
  try {
    address = parseIp(m[1]!);
  } catch {
    return undefined;
  }
  const port = m[2] ? Number(m[2]) : undefined;
  if (port !== undefined && port > 65535) return undefined;
  return { address, port };
}

/**
 * The text of a locator (`198.18.0.1:54325`; no port when 0; `[v6]:port`).
 *
 * @param l A locator.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { locatorText } from "@serval/management";
 * console.assert(locatorText({ address: new Uint8Array([198, 18, 0, 1]), port: 0 }) === "198.18.0.1");
 * ```
 */
export function locatorText(l: Locator): string {
  const a = formatIp(l.address);
  if (l.port === 0) return a;
  return l.address.length === 16 ? `[${a}]:${l.port}` : `${a}:${l.port}`;
}

const LocatorText = Schema.String.annotate({ message: "expected a locator text" }).check(
  Schema.makeFilter((s: string) => parseLocatorText(s) !== undefined, { message: "expected IP or IP:PORT (port 0..65535)" }),
);

const TARGET_TYPES = ["forward", "drop", "delay", "demux"] as const;

/**
 * A rule target: `{type:"forward",to:"IP[:PORT]"}`, `{type:"drop"}`,
 * `{type:"delay"}`, or `{type:"demux",listener:N}` (to delete or modify a
 * listener's rule; demux rules are added by listening applications).
 */
export const TargetSpec = Schema.Struct({
  type: Schema.Literals(TARGET_TYPES).annotate({ message: "expected forward, drop, delay or demux" }),
  to: Schema.optionalKey(LocatorText),
  listener: Schema.optionalKey(int(0, 0xffffffff)),
}).check(Schema.makeFilter((t: { type: string; to?: string; listener?: number }) => {
  const issues: Schema.FilterIssue[] = [];
  if (t.type === "forward" && t.to === undefined) issues.push({ path: ["to"], issue: "a forward target needs a locator (to)" });
  if (t.type !== "forward" && t.to !== undefined) issues.push({ path: ["to"], issue: `a ${t.type} target takes no locator` });
  if (t.type === "demux" && t.listener === undefined) issues.push({ path: ["listener"], issue: "a demux target needs a listener number" });
  if (t.type !== "demux" && t.listener !== undefined) issues.push({ path: ["listener"], issue: `a ${t.type} target takes no listener` });
  return issues;
}));

/** A decoded target. */
export type TargetSpec = typeof TargetSpec.Type;

const Weight = int(1, 65535);
const Priority = int(0, 0xffffffff);
const PluginName = Schema.String.annotate({ message: "expected a plugin name" }).check(
  Schema.makeFilter((s: string) => /^[@A-Za-z0-9._/-]{1,100}$/.test(s), { message: "expected a plugin name (1..100 of A-Z a-z 0-9 @ . _ / -)" }),
);
const FlowIdValue = int(1, 0xffffffff);
const InterfaceOrAddress = Schema.String.annotate({ message: "expected an interface name or address" }).check(
  Schema.makeFilter((s: string) => /^[^\s]{1,64}$/.test(s), { message: "expected an interface name or address (1..64 characters, no spaces)" }),
);

// ---------------------------------------------------------------------------
// Requests

/** The parameters of every operation (the request object less `v`, `id`, `op`). */
export const RequestParams = {
  /** Who is there: version, role, pid, locators. */
  hello: Schema.Struct({}),
  /** Authenticates a remote (TCP) connection; the first request there. Accepted as is on the local socket. */
  auth: Schema.Struct({
    token: Schema.String.check(Schema.makeFilter((s: string) => s.length > 0 && s.length <= 1024, { message: "expected a token (1..1024 characters)" })),
  }),
  /** Adds a target to the rule of a prefix (creating the rule). */
  "service.add": Schema.Struct({
    prefix: PrefixText,
    target: TargetSpec,
    weight: Schema.optionalKey(Weight),
    priority: Schema.optionalKey(Priority),
    plugin: Schema.optionalKey(PluginName),
  }),
  /** Removes a target (the rule goes with its last target). */
  "service.del": Schema.Struct({ prefix: PrefixText, target: TargetSpec }),
  /** Changes a target's weight or priority, or the plugin of its set. */
  "service.mod": Schema.Struct({
    prefix: PrefixText,
    target: TargetSpec,
    weight: Schema.optionalKey(Weight),
    priority: Schema.optionalKey(Priority),
    plugin: Schema.optionalKey(PluginName),
  }).check(Schema.makeFilter((r: { weight?: number; priority?: number; plugin?: string }) =>
    r.weight === undefined && r.priority === undefined && r.plugin === undefined
      ? "nothing to change: give weight, priority or plugin"
      : undefined
  )),
  /** Every rule (or those of one prefix) with targets and counters. */
  "service.ls": Schema.Struct({ prefix: Schema.optionalKey(PrefixText) }),
  /** Every live flow with its state and transport counters. */
  "flow.ls": Schema.Struct({}),
  /** Node, datapath, SAL, table, control plane and management counters. */
  stats: Schema.Struct({}),
  /** Moves one flow to another of our locators. */
  "migrate.flow": Schema.Struct({ flow: FlowIdValue, to: LocatorText }),
  /** Moves every flow of an interface (name or address) to another locator (`to`, or one the node picks). */
  "migrate.iface": Schema.Struct({ from: InterfaceOrAddress, to: Schema.optionalKey(LocatorText) }),
  /** Routers in use (host) or upstream routers (router), with what discovery knows of them. */
  "router.ls": Schema.Struct({}),
  /** Leases of a router. */
  "lease.ls": Schema.Struct({}),
} as const;

/** An operation name. */
export type Op = keyof typeof RequestParams;

/** Every operation name. */
export const OPS: readonly Op[] = Object.keys(RequestParams) as Op[];

/** The decoded parameters of `op`. */
export type ParamsOf<O extends Op> = (typeof RequestParams)[O]["Type"];

/** A decoded request. */
export type Request = { [O in Op]: { readonly v: 1; readonly id: number; readonly op: O } & ParamsOf<O> }[Op];

const Envelope = Schema.Struct({
  v: Schema.Literal(PROTOCOL_VERSION).annotate({ message: `expected protocol version ${PROTOCOL_VERSION}` }),
  id: int(0, 0x7fffffff),
  op: Schema.Literals(OPS as readonly [Op, ...Op[]]).annotate({ message: `expected one of ${OPS.join(", ")}` }),
});

// ---------------------------------------------------------------------------
// Replies

/** Why a request failed. */
export const ERROR_CODES = [
  /** The request is malformed or a value is out of range (nothing changed). */
  "bad-request",
  /** The protocol version differs. */
  "version",
  /** The line is longer than {@linkcode MAX_REQUEST_BYTES}. */
  "too-large",
  /** What the request names does not exist (a rule, a target, a flow, an interface). */
  "not-found",
  /** The request contradicts the state (a target that exists, a DROP rule at that priority, a flow that cannot move now). */
  "conflict",
  /** This node cannot do it (leases on a host, demux rules added remotely). */
  "unsupported",
  /** Too many connections. */
  "busy",
  /** A remote connection without a valid `auth` first. */
  "unauthorized",
  /** A bug: the request was not carried out. */
  "internal",
] as const;

/** An error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

const ErrorBody = Schema.Struct({ code: Schema.Literals(ERROR_CODES), message: Schema.String });

/** A reply line. */
export const Reply = Schema.Union([
  Schema.Struct({ v: Schema.Literal(PROTOCOL_VERSION), id: Schema.NullOr(Schema.Number), ok: Schema.Literal(true), result: Schema.Unknown }),
  Schema.Struct({ v: Schema.Literal(PROTOCOL_VERSION), id: Schema.NullOr(Schema.Number), ok: Schema.Literal(false), error: ErrorBody }),
]);

/** A decoded reply. */
export type Reply = typeof Reply.Type;

const Count = Schema.Number;
const Counters = Schema.Struct({ packetsResolved: Count, bytesResolved: Count, packetsDropped: Count, bytesDropped: Count });
const CountMap = Schema.Record(Schema.String, Count);

/** One target of a rule as listed. */
export const TargetRow = Schema.Struct({
  type: Schema.Literals(TARGET_TYPES),
  to: Schema.optionalKey(Schema.String),
  listener: Schema.optionalKey(Count),
  weight: Count,
  counters: Counters,
});

/** One rule (prefix) as listed: target sets highest priority first. */
export const ServiceRow = Schema.Struct({
  prefix: Schema.String,
  /** The 64 hex digits of the prefix's ID and its length. */
  id: Schema.String,
  bits: Count,
  counters: Counters,
  sets: Schema.Array(Schema.Struct({ priority: Count, plugin: Schema.String, targets: Schema.Array(TargetRow) })),
});

/** One flow as listed. */
export const FlowRow = Schema.Struct({
  id: Count,
  peerId: Count,
  state: Schema.String,
  migration: Schema.String,
  protocol: Schema.String,
  side: Schema.Literals(["client", "server"]),
  service: Schema.String,
  local: Schema.NullOr(Schema.String),
  peer: Schema.NullOr(Schema.String),
  /** SAL control RTT estimate (µs; -1 before a sample). */
  salSrttUs: Count,
  transport: Schema.NullOr(Schema.Struct({
    cwnd: Count,
    ssthresh: Count,
    srttUs: Count,
    rtoUs: Count,
    bytesSent: Count,
    bytesAcked: Count,
    bytesReceived: Count,
    bytesRetransmitted: Count,
    /** Retransmission timeouts, fast recoveries and lost retransmissions. */
    retransmits: Count,
  })),
});

/** One router as listed. */
export const RouterRow = Schema.Struct({
  locator: Schema.String,
  /** Whether the node uses it now (host) or it is configured upstream (router). */
  inUse: Schema.Boolean,
  source: Schema.Literals(["configured", "discovered", "upstream"]),
  priority: Schema.NullOr(Count),
  bootId: Schema.NullOr(Schema.String),
  announced: Schema.Array(Schema.String),
  expiresInMs: Schema.NullOr(Count),
});

/** One lease as listed. */
export const LeaseRow = Schema.Struct({
  prefix: Schema.String,
  locator: Schema.String,
  weight: Count,
  priority: Count,
  ageMs: Count,
  expiresInMs: Count,
});

/** The result of each operation. */
export const Results = {
  hello: Schema.Struct({
    version: Count,
    role: Schema.Literals(["host", "router", "adhoc"]),
    pid: Count,
    datapath: Schema.String,
    locals: Schema.Array(Schema.String),
  }),
  auth: Schema.Struct({ authenticated: Schema.Boolean }),
  "service.add": Schema.Struct({ service: Schema.NullOr(ServiceRow) }),
  "service.del": Schema.Struct({ service: Schema.NullOr(ServiceRow) }),
  "service.mod": Schema.Struct({ service: Schema.NullOr(ServiceRow) }),
  "service.ls": Schema.Struct({
    services: Schema.Array(ServiceRow),
    table: Schema.Struct({ ...Counters.fields, noMatch: Count }),
  }),
  "flow.ls": Schema.Struct({ flows: Schema.Array(FlowRow) }),
  stats: Schema.Struct({
    role: Schema.String,
    uptimeMs: Count,
    node: Schema.Struct({ batches: Count, packetsIn: Count, packetsOut: Count, eventsOut: Count, appErrors: Count }),
    datapath: Schema.Struct({ kind: Schema.String, rxPackets: Count, rxBytes: Count, txPackets: Count, txBytes: Count, drops: CountMap }),
    host: Schema.Struct({ flows: Count, drops: CountMap }),
    table: Schema.Struct({ rules: Count, ...Counters.fields, noMatch: Count }),
    control: Schema.Struct({ routers: Count, leases: Schema.NullOr(Count), drops: CountMap }),
    management: Schema.Struct({ connections: Count, requests: Count, errors: Count }),
  }),
  "migrate.flow": Schema.Struct({ moved: Count, to: Schema.String }),
  "migrate.iface": Schema.Struct({ moved: Count }),
  "router.ls": Schema.Struct({ routers: Schema.Array(RouterRow) }),
  "lease.ls": Schema.Struct({ leases: Schema.Array(LeaseRow) }),
} as const;

/** The result of `op`. */
export type ResultOf<O extends Op> = (typeof Results)[O]["Type"];

/** A listed rule. */
export type ServiceRow = typeof ServiceRow.Type;
/** A listed flow. */
export type FlowRow = typeof FlowRow.Type;
/** A listed router. */
export type RouterRow = typeof RouterRow.Type;
/** A listed lease. */
export type LeaseRow = typeof LeaseRow.Type;

// ---------------------------------------------------------------------------
// Decoding

/** A request that cannot be carried out, with the reply's error. */
export interface RequestFault {
  readonly code: ErrorCode;
  readonly message: string;
  /** The request id when it could be read (else `null`). */
  readonly id: number | null;
}

/**
 * Decodes one request line. Never throws.
 *
 * @param line The line (without its newline).
 * @returns The request, or the fault to reply with.
 *
 * @example
 * ```ts
 * import { decodeRequest } from "@serval/management";
 * const r = decodeRequest('{"v":1,"id":1,"op":"service.add","prefix":"web.example/300","target":{"type":"drop"}}');
 * console.assert("code" in r && r.message.startsWith("prefix: prefix length is 300"));
 * ```
 */
export function decodeRequest(line: string): Request | RequestFault {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { code: "bad-request", message: "not JSON: expected one JSON object per line", id: null };
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return { code: "bad-request", message: "expected a JSON object", id: null };
  }
  const o = json as Record<string, unknown>;
  const id = typeof o.id === "number" && Number.isInteger(o.id) && o.id >= 0 && o.id <= 0x7fffffff ? o.id : null;
  if (o.v !== PROTOCOL_VERSION) {
    return { code: "version", message: `unsupported protocol version ${show(o.v)}, this daemon speaks ${PROTOCOL_VERSION}`, id };
  }
  const env = decodeWith(Envelope, { v: o.v, id: o.id, op: o.op }, false) as typeof Envelope.Type | string;
  if (typeof env === "string") return { code: "bad-request", message: env, id };
  const op = env.op as Op;
  const { v: _v, id: _id, op: _op, ...params } = o;
  const p = decodeWith(RequestParams[op] as unknown as Schema.Top, params, true);
  if (typeof p === "string") return { code: "bad-request", message: p, id };
  return { v: PROTOCOL_VERSION, id: env.id, op, ...(p as object) } as Request;
}

/**
 * Decodes the parameters of `op` (what a client is about to send): the same
 * check the daemon makes.
 *
 * @param op The operation.
 * @param params Its parameters.
 * @returns The decoded parameters, or one line naming the bad field.
 *
 * @example
 * ```ts
 * import { checkParams } from "@serval/management";
 * console.assert(checkParams("service.add", { prefix: "web.example/16", target: { type: "drop" }, weight: 0 }) === "weight: expected an integer 1..65535, got 0");
 * ```
 */
export function checkParams<O extends Op>(op: O, params: unknown): ParamsOf<O> | string {
  return decodeWith(RequestParams[op] as unknown as Schema.Top, params, true) as ParamsOf<O> | string;
}

/**
 * Decodes a result of `op` from a reply.
 *
 * @param op The operation.
 * @param result The reply's `result`.
 * @returns The typed result, or a line saying what is wrong with it.
 *
 * @example
 * ```ts
 * import { decodeResult } from "@serval/management";
 * const r = decodeResult("migrate.iface", { moved: 2 });
 * console.assert(typeof r !== "string" && r.moved === 2);
 * ```
 */
export function decodeResult<O extends Op>(op: O, result: unknown): ResultOf<O> | string {
  return decodeWith(Results[op] as unknown as Schema.Top, result, false) as ResultOf<O> | string;
}

function decodeWith(schema: Schema.Top, input: unknown, exact: boolean): unknown {
  const r = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>)(input, exact ? { onExcessProperty: "error" } : {});
  if (Exit.isSuccess(r)) return r.value;
  const err = r.cause.reasons.find((x) => x._tag === "Fail") as { error?: unknown } | undefined;
  const issue = err?.error !== null && typeof err?.error === "object" && "issue" in err.error
    ? (err.error as { issue: SchemaIssue.Issue }).issue
    : undefined;
  return issue ? describeSchemaIssue(issue, input, "request") : "invalid request";
}


/**
 * `serval translate`: a `serval host` that also translates for unmodified
 * programs (`@serval/translator`):
 *
 * - `--map [ADDR:]PORT=SERVICE` (repeatable): a local TCP port stands for a
 *   service (bound to 127.0.0.1 unless ADDR is given);
 * - `--socks [ADDR:]PORT`: a SOCKS5 server (loopback unless ADDR is given)
 *   where the host name is the service name
 *   (`curl --socks5-hostname 127.0.0.1:1080 http://web.example/`);
 * - `--export SERVICE=HOST:PORT` (repeatable): a legacy TCP server serves
 *   the service, registered with the routers like any other.
 *
 * `--max-connections N` caps the connections open at once (past it: an
 * RST); `--keepalive-ms MS` is the silence after which a Serval connection
 * probes its peer (a dead one's clients are reset). Takes every flag of
 * `serval host` besides. A bad flag value is one line
 * and exit code 2; a port that cannot be bound is one line and exit code 1.
 *
 * @module
 */

import { Effect, Layer, Option } from "effect";
import { Command, Flag } from "effect/cli";
import type { NodeExtraLayer } from "@serval/runtime";
import {
  parseExportSpec,
  parseMapSpec,
  parseSocksSpec,
  type TranslatorError,
  translatorLayer,
  type TranslatorOptions,
  type TranslatorSpec,
} from "@serval/translator";
import { fail, type PresetExit, presetFlags, runPreset } from "./preset_command.ts";

const translateFlags = {
  ...presetFlags,
  map: Flag.String("map").pipe(
    Flag.withMetavar("[ADDR:]PORT=SERVICE"),
    Flag.withDescription("map a local TCP port to a service (ADDR default 127.0.0.1); repeatable"),
    Flag.atLeast(0),
  ),
  socks: Flag.String("socks").pipe(
    Flag.withMetavar("[ADDR:]PORT"),
    Flag.withDescription("run a SOCKS5 server there (ADDR default 127.0.0.1); the host name is the service name"),
    Flag.optional,
  ),
  export: Flag.String("export").pipe(
    Flag.withMetavar("SERVICE=HOST:PORT"),
    Flag.withDescription("serve SERVICE with the TCP server at HOST:PORT; repeatable"),
    Flag.atLeast(0),
  ),
  keepaliveMs: Flag.String("keepalive-ms").pipe(
    Flag.withMetavar("MS"),
    Flag.withDescription("idle time before a Serval connection probes its peer; a dead peer's clients are reset after about twice this (default 10000; 0: never)"),
    Flag.optional,
  ),
  maxConnections: Flag.String("max-connections").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("connections open at once, all kinds together (default 4096); past it new ones are refused"),
    Flag.optional,
  ),
};

/** The parsed flags of `serval translate`. */
type TranslateFlags = {
  readonly [K in keyof typeof translateFlags]: (typeof translateFlags)[K] extends Flag.Flag<infer A> ? A : never;
};

/** The flags' texts as a spec and options; a RangeError names the bad text. */
function readFlags(f: TranslateFlags): { spec: TranslatorSpec; opts: TranslatorOptions } {
  const socks = Option.getOrUndefined(f.socks);
  const max = Option.getOrUndefined(f.maxConnections);
  const maxConnections = max === undefined ? undefined : Number(max);
  if (maxConnections !== undefined && (!/^\d+$/.test(max!) || maxConnections < 1)) {
    throw new RangeError(`Cannot parse --max-connections "${max}": expected a whole number >= 1`);
  }
  const ka = Option.getOrUndefined(f.keepaliveMs);
  if (ka !== undefined && !/^\d+$/.test(ka)) throw new RangeError(`Cannot parse --keepalive-ms "${ka}": expected a whole number of milliseconds`);
  const spec: TranslatorSpec = {
    maps: f.map.map(parseMapSpec),
    socks: socks === undefined ? undefined : parseSocksSpec(socks),
    exports: f.export.map(parseExportSpec),
  };
  if (spec.maps.length === 0 && spec.socks === undefined && spec.exports.length === 0) {
    throw new RangeError("Cannot translate: give at least one --map, --socks or --export");
  }
  return {
    spec,
    opts: {
      log: (line) => console.log(`serval translate: ${line}`),
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...(ka !== undefined ? { keepaliveMs: Number(ka) } : {}),
    },
  };
}

/** The translator as a layer of the host preset; a front end that cannot start ends the command (exit 1). */
function layerOf(spec: TranslatorSpec, opts: TranslatorOptions): NodeExtraLayer<PresetExit> {
  return Layer.catch(translatorLayer(spec, opts), (e: TranslatorError) => Layer.effectDiscard(fail(1, `serval translate: ${e.message}`)));
}

/** `serval translate`: the host preset plus mapped ports, SOCKS5 and exports. */
export const translateCommand = Command.make("translate", translateFlags, (f) =>
  Effect.suspend(() => {
    let read: ReturnType<typeof readFlags>;
    try {
      read = readFlags(f);
    } catch (e) {
      return fail(2, `serval translate: ${e instanceof Error ? e.message : String(e)}`);
    }
    return runPreset("host", f, [layerOf(read.spec, read.opts)]);
  })).pipe(
    Command.withDescription(
      "Run a host that translates for unmodified programs: TCP ports mapped to services, SOCKS5, legacy servers exported as services",
    ),
  );

/**
 * The text forms of the translator's settings, as `serval translate`
 * takes them: `--map [ADDR:]PORT=SERVICE`, `--socks [ADDR:]PORT`,
 * `--export SERVICE=HOST:PORT`. Parsing is strict and every error names the
 * text and what was expected.
 *
 * @module
 */

import { ServiceId, ServicePrefix } from "@serval/wire";
import type { ExportOptions, MapOptions, SocksOptions } from "./translator.ts";

/** What a translator runs: mapped ports, a SOCKS server, exports. */
export interface TranslatorSpec {
  readonly maps: readonly MapOptions[];
  readonly socks: SocksOptions | undefined;
  readonly exports: readonly ExportOptions[];
}

const PORT = /^\d{1,5}$/;

/** A port number; `what` is the flag and the whole text, for the message. */
function port(text: string, what: string, zeroOk: boolean): number {
  const n = Number(text);
  if (!PORT.test(text) || n > 65535 || (!zeroOk && n === 0)) {
    throw new RangeError(`Cannot parse ${what}: the port must be ${zeroOk ? "0" : "1"}..65535, got "${text}"`);
  }
  return n;
}

/** `[ADDR:]PORT` with an IPv4 address or a host name; the address defaults to 127.0.0.1. */
function endpoint(text: string, what: string): { address: string; port: number } {
  const i = text.lastIndexOf(":");
  if (i < 0) return { address: "127.0.0.1", port: port(text, what, true) };
  const address = text.slice(0, i);
  if (address === "") throw new RangeError(`Cannot parse ${what}: the address before ":" is empty`);
  return { address, port: port(text.slice(i + 1), what, true) };
}

/**
 * Parses `--map [ADDR:]PORT=SERVICE`.
 *
 * @param text E.g. `8080=web.example` or `0.0.0.0:8080=web.example`.
 * @returns The mapping (address 127.0.0.1 unless given).
 * @throws {RangeError} On bad text; the message quotes it.
 *
 * @example
 * ```ts
 * import { parseMapSpec } from "@serval/translator";
 * parseMapSpec("8080=web.example"); // => { address: "127.0.0.1", port: 8080, service: "web.example" }
 * ```
 */
export function parseMapSpec(text: string): MapOptions {
  const eq = text.indexOf("=");
  if (eq < 0) throw new RangeError(`Cannot parse --map "${text}": expected [ADDR:]PORT=SERVICE`);
  const service = text.slice(eq + 1);
  const at = endpoint(text.slice(0, eq), `--map "${text}"`);
  try {
    ServiceId.parse(service);
  } catch (e) {
    throw new RangeError(`Cannot parse --map "${text}": ${(e as Error).message}`);
  }
  return { ...at, service };
}

/**
 * Parses `--socks [ADDR:]PORT`.
 *
 * @param text E.g. `1080` or `127.0.0.1:1080`.
 * @returns Where the SOCKS server binds (127.0.0.1 unless given).
 * @throws {RangeError} On bad text.
 *
 * @example
 * ```ts
 * import { parseSocksSpec } from "@serval/translator";
 * parseSocksSpec("1080"); // => { address: "127.0.0.1", port: 1080 }
 * ```
 */
export function parseSocksSpec(text: string): SocksOptions {
  return endpoint(text, `--socks "${text}"`);
}

/**
 * Parses `--export SERVICE=HOST:PORT`.
 *
 * @param text E.g. `web.example=127.0.0.1:8000` (the service may be a prefix: `example/32=…`).
 * @returns The export.
 * @throws {RangeError} On bad text.
 *
 * @example
 * ```ts
 * import { parseExportSpec } from "@serval/translator";
 * parseExportSpec("web.example=127.0.0.1:8000"); // => { service: "web.example", host: "127.0.0.1", port: 8000 }
 * ```
 */
export function parseExportSpec(text: string): ExportOptions {
  const eq = text.indexOf("=");
  if (eq < 0) throw new RangeError(`Cannot parse --export "${text}": expected SERVICE=HOST:PORT`);
  const service = text.slice(0, eq);
  const target = text.slice(eq + 1);
  try {
    ServicePrefix.parse(service);
  } catch (e) {
    throw new RangeError(`Cannot parse --export "${text}": ${(e as Error).message}`);
  }
  const i = target.lastIndexOf(":");
  if (i <= 0) throw new RangeError(`Cannot parse --export "${text}": expected HOST:PORT after "="`);
  return { service, host: target.slice(0, i), port: port(target.slice(i + 1), `--export "${text}"`, false) };
}

/**
 * {@linkcode describeSchemaIssue}: one line for the first problem Schema
 * found in untrusted input (a config file, flags, a management request), in
 * the form operators read fastest: `path: what is wrong, got value`.
 *
 * @module
 */

import { SchemaIssue } from "effect";

const formatter = SchemaIssue.makeFormatterStandardSchemaV1();

/**
 * Describes the first issue of a failed decode.
 *
 * @param issue The issue Schema reported.
 * @param input What was decoded (to quote the offending value).
 * @param whole How to name the input itself when the issue has no path ("config", "request").
 * @returns One line: `path: message, got value` (no value for missing or unknown fields).
 *
 * @example
 * ```ts
 * import { Cause, Exit, Schema } from "effect";
 * import { describeSchemaIssue } from "@serval/runtime";
 * const input = { port: "x" };
 * const r = Schema.decodeUnknownExit(Schema.Struct({ port: Schema.Number }))(input);
 * if (Exit.isFailure(r)) {
 *   const { issue } = Cause.squash(r.cause) as { issue: Parameters<typeof describeSchemaIssue>[0] };
 *   console.assert(describeSchemaIssue(issue, input, "config") === 'port: expected number, got "x"');
 * }
 * ```
 */
export function describeSchemaIssue(issue: SchemaIssue.Issue, input: unknown, whole: string): string {
  const first = formatter(issue).issues[0];
  if (!first) return `invalid ${whole}`;
  const keys = (first.path ?? []).map((k) => (typeof k === "object" && k !== null && "key" in k ? k.key : k)) as PropertyKey[];
  const path = keys.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("").replace(/^\./, "");
  let message = first.message;
  if (message === "Expected no excess property") message = "unknown field";
  else if (message === "Missing key") message = "missing";
  else message = message.charAt(0).toLowerCase() + message.slice(1);
  let value: unknown = input;
  for (const k of keys) value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[k] : undefined;
  // No value to quote: a missing or unknown field, a message that already
  // quotes it, or an issue about the whole input (quoting it all helps nobody).
  const got = keys.length === 0 || message === "missing" || message === "unknown field" || /, got /.test(message) || value === undefined
    ? ""
    : `, got ${showValue(value)}`;
  return `${path || whole}: ${message}${got}`;
}

/**
 * A value quoted for an error line: JSON, cut at 80 characters (a line must
 * stay one line); `nothing` for `undefined`.
 *
 * @param v Any value.
 * @returns Its short text.
 *
 * @example
 * ```ts
 * import { showValue } from "@serval/runtime";
 * console.assert(showValue("x") === '"x"');
 * console.assert(showValue(undefined) === "nothing");
 * ```
 */
export function showValue(v: unknown): string {
  if (v === undefined) return "nothing";
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}

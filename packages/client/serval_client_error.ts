/**
 * {@linkcode ServalClientError}: why a call of the client library failed.
 *
 * @module
 */

import type { AppErrorCode } from "./app_protocol.ts";

/** What went wrong: a code of the protocol, or `unavailable` (no daemon at the socket). */
export type ServalClientErrorCode = AppErrorCode | "unavailable";

/**
 * A failed call: `code` says why in one word (`refused`: nobody listens on
 * the service; `unreachable`: no route to it; `unavailable`: no daemon),
 * `message` in one line.
 *
 * @example
 * ```ts
 * import { ServalClientError } from "@serval/client";
 * const e = new ServalClientError("refused", "Cannot connect to web.example: refused");
 * console.assert(e.code === "refused" && e instanceof Error);
 * ```
 */
export class ServalClientError extends Error {
  override readonly name = "ServalClientError";

  constructor(readonly code: ServalClientErrorCode, message: string) {
    super(message);
  }
}

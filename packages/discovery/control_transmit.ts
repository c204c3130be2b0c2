/**
 * {@linkcode ControlTransmit}: a control message a state machine wants sent,
 * and {@linkcode locatorKey}, the map key of a locator.
 *
 * @module
 */

import type { ControlMessage, Locator } from "@serval/wire";

/** A control message to send, to one locator or by broadcast on every link. */
export interface ControlTransmit {
  readonly to: Locator | "broadcast";
  readonly message: ControlMessage;
}

/**
 * A stable text key for a locator (`198.18.0.1`, `198.18.0.1:54325`, hex for IPv6).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { locatorKey } from "@serval/discovery";
 * assertEquals(locatorKey({ address: new Uint8Array([198, 18, 0, 1]), port: 0 }), "198.18.0.1");
 * assertEquals(locatorKey({ address: new Uint8Array([198, 18, 0, 1]), port: 54325 }), "198.18.0.1:54325");
 * ```
 */
export function locatorKey(l: Locator): string {
  const a = l.address.length === 4 ? [...l.address].join(".") : `[${[...l.address].map((b) => b.toString(16).padStart(2, "0")).join("")}]`;
  return l.port === 0 ? a : `${a}:${l.port}`;
}

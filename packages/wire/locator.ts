/**
 * Helpers over {@linkcode Locator}s: the limited broadcast locator every
 * node uses for "everybody on the link", and a stable text key for maps.
 *
 * @module
 */

import type { Locator } from "./sal_header.ts";

/**
 * The limited broadcast locator (255.255.255.255, port 0): SAL packets to it
 * go to every node on the link. It is also the pseudo-header destination of
 * a broadcast packet's transport checksum, whatever address the link used.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BROADCAST_LOCATOR } from "@serval/wire";
 * assertEquals([...BROADCAST_LOCATOR.address], [255, 255, 255, 255]);
 * ```
 */
export const BROADCAST_LOCATOR: Locator = { address: new Uint8Array([255, 255, 255, 255]), port: 0 };

/**
 * Whether a locator is the limited broadcast address (any port).
 *
 * @param l A locator.
 * @returns `true` for 255.255.255.255.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BROADCAST_LOCATOR, isBroadcastLocator } from "@serval/wire";
 * assertEquals(isBroadcastLocator(BROADCAST_LOCATOR), true);
 * assertEquals(isBroadcastLocator({ address: new Uint8Array([198, 18, 0, 1]), port: 0 }), false);
 * ```
 */
export function isBroadcastLocator(l: Locator): boolean {
  const a = l.address;
  return a.length === 4 && a[0] === 255 && a[1] === 255 && a[2] === 255 && a[3] === 255;
}

/**
 * A stable text key for a locator (`198.18.0.1`, `198.18.0.1:54325`, hex for
 * IPv6): equal locators, equal keys.
 *
 * @param l A locator.
 * @returns The key.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { locatorKey } from "@serval/wire";
 * assertEquals(locatorKey({ address: new Uint8Array([198, 18, 0, 1]), port: 0 }), "198.18.0.1");
 * assertEquals(locatorKey({ address: new Uint8Array([198, 18, 0, 1]), port: 54325 }), "198.18.0.1:54325");
 * ```
 */
export function locatorKey(l: Locator): string {
  const a = l.address.length === 4 ? l.address.join(".") : `[${[...l.address].map((b) => b.toString(16).padStart(2, "0")).join("")}]`;
  return l.port === 0 ? a : `${a}:${l.port}`;
}

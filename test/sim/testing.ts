/**
 * Helpers for scenarios on a {@linkcode SimNet}: leak checks.
 *
 * @module
 */

import type { SimNet } from "./sim_net.ts";

/**
 * Throws unless `net` has no frame in flight and no node timer armed (the
 * quinn-style leak check that ends every scenario).
 *
 * @param net The network.
 * @throws {Error} Naming what is still pending.
 *
 * @example
 * ```ts
 * import { SimNet } from "./sim_net.ts";
 * const net = new SimNet({ seed: 1 });
 * net.drive();
 * expectIdle(net);
 * ```
 */
export function expectIdle(net: SimNet): void {
  const frames = net.inFlight;
  const timers = net.pendingTimeouts();
  if (frames !== 0 || timers !== 0) {
    throw new Error(
      `Expected an idle network at ${net.now}µs, found ${frames} frames in flight and ${timers} timers armed`,
    );
  }
}

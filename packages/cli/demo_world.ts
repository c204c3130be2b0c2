/**
 * The topology `serval demo` runs on, whatever it is made of: a service
 * router, three replicas of `echo.demo` with weights 1, 2 and 3, and a
 * client — in-process {@linkcode ServalNode}s, either in network namespaces
 * over the packet datapath (root) or over UDP on loopback (anyone).
 *
 * @module
 */

import type { ServalNode } from "@serval/runtime";
import { formatIp, type Locator } from "@serval/wire";

/** One replica of the demo service. */
export interface DemoReplica {
  /** `replica-1`… */
  readonly name: string;
  /** Its registration weight. */
  readonly weight: number;
  readonly node: ServalNode;
}

/** A running demo topology. */
export interface DemoWorld {
  /** What the nodes run on, for the title line. */
  readonly variant: "namespaces" | "udp";
  /** One line per node saying where it is (addresses, namespaces or sockets). */
  readonly description: readonly string[];
  readonly router: ServalNode;
  readonly replicas: readonly DemoReplica[];
  readonly client: ServalNode;
  /** Names of the namespaces it made (empty over UDP). */
  readonly namespaces: readonly string[];
  /**
   * The client's address changes: a new one is added, then the old one
   * removed (`ip addr add`/`ip addr del`; over UDP a new socket, the old one closed).
   *
   * @returns What the two addresses were, the commands run (for the output), and when (performance.now()) the old address started going.
   */
  moveClient(): Promise<{ readonly from: string; readonly to: string; readonly how: string; readonly removedAt: number }>;
  /** Replica `i` dies silently: no goodbye, no withdrawal (its cable is cut / its socket vanishes). */
  crash(i: number): Promise<string>;
  /** Stops every node and removes everything made; idempotent, never throws. */
  close(): Promise<void>;
}

/** The replicas' weights. */
export const DEMO_WEIGHTS = [1, 2, 3] as const;

/** The demo's service name. */
export const DEMO_SERVICE = "echo.demo";

/**
 * A locator as the demo prints it: the address, and the port when there is one.
 *
 * @example
 * ```ts
 * import { locatorLabel } from "@serval/cli";
 * locatorLabel({ address: new Uint8Array([127, 0, 0, 1]), port: 4000 }); // "127.0.0.1:4000"
 * ```
 */
export function locatorLabel(l: Locator): string {
  return l.port === 0 ? formatIp(l.address) : `${formatIp(l.address)}:${l.port}`;
}

/**
 * Runs `p`, but gives up waiting after `ms` (closing a node must not hang the demo's cleanup).
 *
 * @example
 * ```ts
 * import { within } from "@serval/cli";
 * await within(Promise.resolve(1), 10); // 1
 * ```
 */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

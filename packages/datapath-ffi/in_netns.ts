/**
 * {@linkcode inNetns}: run a function with the calling thread inside a named
 * network namespace (`ip netns add NAME` → `/run/netns/NAME`).
 *
 * @module
 */

import { CLONE_NEWNET, cstr, errno, libc, O_CLOEXEC, O_RDONLY } from "./_libc.ts";
import { errnoName } from "./errno.ts";
import { PacketDatapathError } from "./packet_datapath_error.ts";

/**
 * Runs `fn` with the calling thread in network namespace `name`, then moves
 * the thread back to its original namespace (also when `fn` throws).
 *
 * Sockets created inside `fn` stay in `name` for their whole life: this is how
 * the packet datapath opens its packet, raw and netlink sockets in another
 * namespace. setns(2) changes only the calling thread, so other threads of the
 * process (Workers, Bun's I/O threads) are unaffected. `fn` must be
 * synchronous: an `await` would run the rest elsewhere.
 *
 * **Gotchas**: needs root (CAP_SYS_ADMIN); only under Bun (bun:ffi).
 *
 * @param name Namespace name (a file in `/run/netns/`).
 * @param fn Synchronous work to run inside it.
 * @returns What `fn` returned.
 * @throws {PacketDatapathError} When the namespace cannot be opened or entered.
 *
 * @example List the interfaces of a namespace (root only)
 * ```ts ignore
 * import { readFileSync } from "node:fs";
 * import { inNetns } from "@serval/datapath-ffi";
 * // /proc/thread-self/net follows the calling thread's namespace.
 * const dev = inNetns("blue", () => readFileSync("/proc/thread-self/net/dev", "utf8"));
 * ```
 */
export function inNetns<T>(name: string, fn: () => T): T {
  if (name.length === 0 || name.includes("/") || name === "." || name === "..") {
    throw new PacketDatapathError(`Cannot enter network namespace "${name}": not a plain name in /run/netns`);
  }
  const c = libc();
  const self = c.open(cstr("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    const e = errnoName(errno());
    throw new PacketDatapathError(`Cannot open the current network namespace: ${e}`, e);
  }
  try {
    const target = c.open(cstr(`/run/netns/${name}`), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      const e = errnoName(errno());
      throw new PacketDatapathError(
        `Cannot open network namespace "${name}": ${e} (create it with "ip netns add ${name}")`,
        e,
      );
    }
    try {
      if (c.setns(target, CLONE_NEWNET) !== 0) {
        const e = errnoName(errno());
        throw new PacketDatapathError(`Cannot enter network namespace "${name}": ${e} (needs root)`, e);
      }
    } finally {
      c.close(target);
    }
    try {
      return fn();
    } finally {
      if (c.setns(self, CLONE_NEWNET) !== 0) {
        // Staying in the wrong namespace would silently misroute every later socket.
        const e = errnoName(errno());
        throw new PacketDatapathError(`Cannot return to the original network namespace: ${e}`, e);
      }
    }
  } finally {
    c.close(self);
  }
}

/**
 * Serval: an end-host network stack for service-centric networking.
 *
 * This root module re-exports the pure packages, which perform no I/O, read
 * no clock and run unchanged on Bun, Deno and Node:
 *
 * - `@serval/wire`: serviceIDs, flowIDs, the SAL header and its extensions,
 *   TCP/UDP layouts after SAL, Ethernet/IPv4/IPv6/UDP framing, checksums;
 * - `@serval/lpm`: longest-prefix match over 256-bit serviceIDs.
 *
 * The runtime (datapaths, the driver loop, presets) and the `serval` command
 * live in their own packages, because they use Bun, Node or Effect.
 *
 * @example Resolve a serviceID by longest-prefix match
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LpmTrie, ServiceId, ServicePrefix } from "./mod.ts";
 * const table = new LpmTrie<string>();
 * const rule = ServicePrefix.parse("example/32");
 * table.insert(rule.id.bytes, rule.bits, "198.18.1.1");
 * assertEquals(table.longestMatch(ServiceId.parse("web.example").bytes), "198.18.1.1");
 * ```
 *
 * @module
 */

export * from "./packages/wire/mod.ts";
export * from "./packages/lpm/mod.ts";

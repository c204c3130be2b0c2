/**
 * Longest-prefix match over 256-bit keys (Serval serviceIDs): `LpmTrie<V>`, a
 * stride-8 multibit trie with prefix expansion and path compression, held in
 * typed arrays. A key is 32 bytes; bit 0 is the most significant bit of
 * byte 0.
 *
 * Pure: performs no I/O, reads no clock and allocates nothing per lookup.
 *
 * @example Route serviceIDs by prefix
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LpmTrie } from "@serval/lpm";
 *
 * const routes = new LpmTrie<string>();
 * routes.insert(new Uint8Array(32), 0, "default");
 * routes.insert(new Uint8Array([0x5e, 0x72]), 12, "5e7/12");
 * routes.insert(new Uint8Array([0x5e, 0x72, 0x01]), 24, "5e7201/24");
 *
 * const serviceId = new Uint8Array(32);
 * serviceId.set([0x5e, 0x72, 0x01, 0xff]);
 * assertEquals(routes.longestMatch(serviceId), "5e7201/24");
 * assertEquals(routes.longestMatchBits(serviceId), 24);
 *
 * routes.remove(new Uint8Array([0x5e, 0x72, 0x01]), 24);
 * assertEquals(routes.longestMatch(serviceId), "5e7/12");
 * serviceId[0] = 0;
 * assertEquals(routes.longestMatch(serviceId), "default");
 * ```
 *
 * @module
 */

export { LpmTrie } from "./lpm_trie.ts";

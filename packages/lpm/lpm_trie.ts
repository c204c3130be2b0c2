/**
 * Longest-prefix match over 256-bit keys (Serval serviceIDs).
 *
 * A key is 32 bytes; bit 0 is the most significant bit of byte 0. A prefix is
 * a key plus a length 0..256; key bits beyond the length are ignored.
 *
 * **Design.** A stride-8 multibit trie with controlled prefix expansion,
 * path-compressed nodes and single-prefix leaves, held in typed-array pools
 * (structure of arrays, free lists, growth by 1.5x):
 *
 * - A node consumes one key byte, at byte index `depth` (0..31), and has 256
 *   slots. A prefix of length L > 0 is *owned* by the node at depth
 *   d = ceil(L/8) - 1 on its path, with k = L - 8d in 1..8 bits inside that
 *   byte; the default route (L = 0) is owned by the root with k = 0. Owned
 *   prefixes are the node's *internal* prefixes.
 * - Per slot: `child` (0 empty, > 0 a node reference, < 0 a leaf
 *   `~prefixId`: the only prefix below this slot, longer than 8(d+1)) and
 *   `best` (prefixId + 1 of the longest internal prefix covering the slot:
 *   the expansion).
 * - Nodes come in three kinds, each in its own pool. **Full** (a node with
 *   internal prefixes): child and best interleaved in one `Int32Array` block
 *   of 512, so one cache line holds both values of a slot. **Bare** (no
 *   internal prefixes, more than 8 children): 256 children, half the size.
 *   **Sparse** (no internal prefixes, at most 8 children): 8 (slot + 1) tags
 *   and 8 children, 64 bytes, scanned linearly. Deep nodes are sparse and
 *   rarely own a prefix; with 100 k random prefixes nearly all 28 k nodes
 *   hold 2 or 3 children, and the sparse kind takes the table from about
 *   510 to 160 bytes per prefix (1 M: 210 to 177; lookups pay a few ns for
 *   the scan). A node changes kind when it gains its first internal prefix
 *   or a 9th child, and on removal when it loses its last internal prefix or
 *   drops to 4 children (hysteresis); its parent's slot is then relinked.
 * - A node reference is `block * 128 + kind + depth`: lookup learns where a
 *   child's slots are and which byte it consumes from the reference itself,
 *   without reading per-node metadata: one dependent memory access per
 *   level instead of two. With the word-wise leaf compare below, this took
 *   lookups of keys under stored prefixes at 1 M prefixes from about 200 to
 *   100 ns (`bench/lpm.bench.ts`, hot key set).
 * - Path compression: a child may sit deeper than its parent's depth + 1;
 *   the skipped bytes are checked against the node's key (its subtree's
 *   common leading bytes, 32 bytes per block). Inserting a prefix whose
 *   owner depth, or whose first byte differing from the subtree, falls
 *   inside a skipped range splits in a new node there.
 * - Internal prefixes are also recorded in one `Map` keyed by
 *   `fullBlock * 512 + ((1 << k) | v)` (v: the k owned bits). Exact `get`,
 *   `forEachMatch` and removal (which restores the covering prefix in the
 *   slots the removed prefix expanded into) use it; lookup never does. A
 *   shared map costs memory per internal prefix, not 2 KiB per node.
 * - Removal frees what is no longer needed: a node with no internal prefixes
 *   and no children is freed, one with a single child (leaf or node) is
 *   spliced out (its parent points at the child), and the root is freed when
 *   empty, so an emptied trie holds no nodes.
 * - Prefixes: the masked key as 8 big-endian `Int32` words (32 B each), so a
 *   leaf is compared with the key 4 bytes per step; lengths in a
 *   `Uint16Array`; values in a plain array; ids recycled through a free list.
 *
 * **Performance.** Lookup reads one slot per node on the key's path (at most
 * 32; 3 to 4 with a million random prefixes), then compares the key with at
 * most one leaf prefix. Allocation: none on lookup. Insert and remove
 * allocate only when a pool grows (geometric, amortized O(1)); an insert or
 * removal may rewrite up to 256 slots of one node.
 *
 * @module
 */

import { BLOCK_KEY_BYTES, BlockPool, grownCapacity } from "./_block_pool.ts";

/** Bytes in a key. */
const KEY_BYTES = 32;
/** Int32 words in a key. */
const KEY_WORDS = 8;
/** Longest prefix length in bits. */
const MAX_BITS = 256;
/** Int32s in a full node block: [child, best] per slot. */
const FULL_BLOCK = 512;
/** Int32s in a bare node block: child per slot. */
const BARE_BLOCK = 256;
/** Children a sparse node holds. */
const SPARSE_CAP = 8;
/**
 * Int32s in a sparse node block: SPARSE_CAP tags (slot byte + 1; 0 marks an
 * unused entry, and used entries come first), then SPARSE_CAP children.
 */
const SPARSE_BLOCK = 2 * SPARSE_CAP;
/** A bare node left with at most this many children becomes sparse again. */
const SPARSE_SHRINK = SPARSE_CAP / 2;
/** Positions (1 << k) | v per node, k 0..8: 1..511. */
const POSITIONS = 512;
/** A node reference is `block * REF_BLOCK + kind + depth`; kind is REF_BARE, REF_FULL or REF_SPARSE. */
const REF_BLOCK = 128;
/** Node reference bits: the node's kind (the pool holding its block). */
const REF_KIND = 96;
const REF_BARE = 0;
const REF_FULL = 32;
const REF_SPARSE = 64;
/** Node reference bits: the byte index the node consumes, 0..31. */
const REF_DEPTH = 31;
/** `plen` of a free prefix id. */
const FREE_LEN = 0xffff;
/** Rough bytes per `Map` entry (hash table slot, key and value), for `memoryBytes()`. */
const MAP_ENTRY_BYTES = 48;
/** Rough bytes per slot of the values array, for `memoryBytes()`. */
const VALUE_SLOT_BYTES = 8;
/** Initial blocks per node pool and prefixes in the prefix pool. */
const INITIAL_FULL = 4;
const INITIAL_BARE = 4;
const INITIAL_SPARSE = 16;
const INITIAL_PREFIXES = 64;

/** Masks for the top r bits of a byte, r 0..8. */
const TOP_MASK = new Uint8Array([0x00, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe, 0xff]);

function rangeError(action: string, msg: string): RangeError {
  return new RangeError(`Cannot ${action}: ${msg}`);
}

function checkOffset(action: string, key: Uint8Array, keyOff: number, need: number, what: string): void {
  if (!Number.isInteger(keyOff) || keyOff < 0) {
    throw rangeError(action, `key offset is ${keyOff}, must be a non-negative integer`);
  }
  if (keyOff + need > key.length) {
    throw rangeError(action, `key has ${Math.max(0, key.length - keyOff)} bytes after offset ${keyOff}, needs ${need}${what}`);
  }
}

/**
 * A longest-prefix-match table from 256-bit prefixes to values of type `V`.
 *
 * **Details.** `insert` replaces the value of an existing (prefix, length);
 * `get`/`has`/`remove` are exact; `longestMatch` and `longestMatchBits` find
 * the longest stored prefix of a full 32-byte key; `forEachMatch` visits all
 * matching prefixes, longest first.
 *
 * **Gotchas.** Lookups need 32 bytes at `keyOff` and throw a `RangeError`
 * otherwise (a programmer error: check packet length first). Mutating the
 * trie from inside `forEachMatch` throws; mutating it while iterating
 * `entries()` gives unspecified (but memory-safe) results.
 *
 * **Performance.** `longestMatch` allocates nothing and reads one slot per
 * trie level plus at most one stored prefix (see the module notes).
 *
 * @typeParam V The type of stored values.
 *
 * @example Route by service prefix
 * ```ts
 * import { assertEquals } from "@std/assert";
 *
 * const t = new LpmTrie<string>();
 * t.insert(new Uint8Array(32), 0, "default");
 * t.insert(new Uint8Array([0xab, 0xcd]), 16, "abcd/16");
 * const key = new Uint8Array(32);
 * key[0] = 0xab;
 * key[1] = 0xcd;
 * assertEquals(t.longestMatch(key), "abcd/16");
 * key[1] = 0xce;
 * assertEquals(t.longestMatch(key), "default");
 * ```
 */
export class LpmTrie<V> {
  // ---- nodes: a node is a block in one of two pools; see REF_* ----
  #root = 0;
  #fp = new BlockPool(FULL_BLOCK, INITIAL_FULL);
  #bp = new BlockPool(BARE_BLOCK, INITIAL_BARE);
  #sp = new BlockPool(SPARSE_BLOCK, INITIAL_SPARSE);
  /** (full block * 512 + position) -> prefix id, for internal prefixes. */
  #internals = new Map<number, number>();
  // ---- prefixes ----
  /** Masked key of each prefix as 8 big-endian Int32 words; a free id's word 0 links the free list. */
  #pkw = new Int32Array(INITIAL_PREFIXES * KEY_WORDS);
  #plen = new Uint16Array(INITIAL_PREFIXES);
  #pcap = INITIAL_PREFIXES;
  #ptop = 0;
  #pfree = -1;
  #values: (V | undefined)[] = [];
  #size = 0;
  // ---- scratch ----
  /** The masked prefix being inserted, removed or looked up exactly: bytes, then words. */
  readonly #pbuf = new Uint8Array(KEY_BYTES);
  readonly #pwords = new Int32Array(KEY_WORDS);
  /** Node path for `remove` and `forEachMatch` (at most 32 nodes). */
  readonly #stack = new Int32Array(KEY_BYTES + 1);
  #busy = false;
  #version = 0;

  /**
   * Inserts a prefix, or replaces the value of an equal prefix.
   *
   * @param key Bytes holding the prefix; bits beyond `bits` are ignored.
   * @param bits Prefix length, an integer 0..256.
   * @param value The value to store.
   * @param keyOff Offset of the prefix's first byte in `key` (default 0).
   *   `key` needs ceil(bits / 8) bytes from there.
   * @throws {RangeError} If `bits` or `keyOff` is out of range, or `key` is too short.
   *
   * @example Insert and replace
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<number>();
   * t.insert(new Uint8Array([0x0a, 0xff]), 12, 1); // stored as 0a f0 / 12
   * t.insert(new Uint8Array([0x0a, 0xf7]), 12, 2); // same prefix: replaces
   * assertEquals(t.size, 1);
   * assertEquals(t.get(new Uint8Array([0x0a, 0xf0]), 12), 2);
   * ```
   */
  insert(key: Uint8Array, bits: number, value: V, keyOff = 0): void {
    this.#load("insert prefix", key, bits, keyOff);
    this.#version++;
    const P = this.#pbuf;
    const L = bits;
    const od = L === 0 ? 0 : ((L + 7) >> 3) - 1;
    const k = L - 8 * od;
    if (this.#root === 0) this.#root = this.#allocNode(0);
    let parent = 0;
    let pslot = 0;
    let n = this.#root;
    for (;;) {
      const d = n & REF_DEPTH;
      if (d === od) {
        const v = k === 0 ? 0 : P[od]! >> (8 - k);
        if ((n & REF_FULL) !== 0) {
          const existing = this.#internals.get((n >>> 7) * POSITIONS + ((1 << k) | v));
          if (existing !== undefined) {
            this.#values[existing] = value;
            return;
          }
        }
        const m = this.#setInternal(n, k, v, this.#newPrefix(L, value));
        if (m !== n) this.#link(parent, pslot, m);
        return;
      }
      const b = P[d]!;
      const c = this.#child(n, b);
      if (c === 0) {
        const m = this.#setChild(n, b, ~this.#newPrefix(L, value));
        this.#addChildren(m, 1);
        if (m !== n) this.#link(parent, pslot, m);
        return;
      }
      if (c > 0) {
        const dm = c & REF_DEPTH;
        const lim = od < dm ? od : dm;
        const nk = this.#pool(c).keys;
        const ck = (c >>> 7) * BLOCK_KEY_BYTES;
        let j = d + 1;
        while (j < lim && P[j] === nk[ck + j]) j++;
        if (j === dm) {
          parent = n;
          pslot = b;
          n = c;
          continue;
        }
        // The new prefix leaves the child's path, or is owned, at byte j,
        // inside the child's skipped range: split in a node at depth j.
        let m = this.#allocNode(j);
        m = this.#setChild(m, this.#nodeKeyByte(c, j), c);
        this.#addChildren(m, 1);
        m = this.#place(m, j, this.#newPrefix(L, value));
        this.#setChild(n, b, m);
        return;
      }
      // A leaf: an equal prefix gets the new value; else both go into a new
      // node at the first byte where they part or where one is owned.
      const q = ~c;
      const Lq = this.#plen[q]!;
      if (Lq === L && this.#sameWords(q)) {
        this.#values[q] = value;
        return;
      }
      const oq = ((Lq + 7) >> 3) - 1;
      const lim = od < oq ? od : oq;
      let j = d + 1;
      while (j < lim && P[j] === this.#prefixByte(q, j)) j++;
      let m = this.#allocNode(j);
      m = this.#place(m, j, q);
      m = this.#place(m, j, this.#newPrefix(L, value));
      this.#setChild(n, b, m);
      return;
    }
  }

  /**
   * Removes a prefix.
   *
   * @param key Bytes holding the prefix; bits beyond `bits` are ignored.
   * @param bits Prefix length, an integer 0..256.
   * @param keyOff Offset of the prefix's first byte in `key` (default 0).
   * @returns `true` if the prefix was stored, `false` otherwise.
   * @throws {RangeError} If `bits` or `keyOff` is out of range, or `key` is too short.
   *
   * @example Removal uncovers the shorter prefix
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<string>();
   * t.insert(new Uint8Array([0x80]), 1, "/1");
   * t.insert(new Uint8Array([0xc0]), 2, "/2");
   * const key = new Uint8Array(32).fill(0xff);
   * assertEquals(t.longestMatch(key), "/2");
   * assertEquals(t.remove(new Uint8Array([0xc0]), 2), true);
   * assertEquals(t.remove(new Uint8Array([0xc0]), 2), false);
   * assertEquals(t.longestMatch(key), "/1");
   * ```
   */
  remove(key: Uint8Array, bits: number, keyOff = 0): boolean {
    this.#load("remove prefix", key, bits, keyOff);
    const L = bits;
    const P = this.#pbuf;
    const od = L === 0 ? 0 : ((L + 7) >> 3) - 1;
    const k = L - 8 * od;
    const stack = this.#stack;
    let top = 0;
    let n = this.#root;
    if (n === 0) return false;
    for (;;) {
      const d = n & REF_DEPTH;
      if (d === od) {
        if ((n & REF_FULL) === 0) return false;
        const v = k === 0 ? 0 : P[od]! >> (8 - k);
        const p = this.#internals.get((n >>> 7) * POSITIONS + ((1 << k) | v));
        if (p === undefined) return false;
        this.#version++;
        this.#removeInternal(n, k, v, p);
        this.#freePrefix(p);
        this.#cleanup(n, top);
        return true;
      }
      const b = P[d]!;
      const c = this.#child(n, b);
      if (c === 0) return false;
      if (c < 0) {
        const q = ~c;
        if (this.#plen[q] !== L || !this.#sameWords(q)) return false;
        this.#version++;
        this.#setChild(n, b, 0);
        this.#addChildren(n, -1);
        this.#freePrefix(q);
        this.#cleanup(n, top);
        return true;
      }
      if (!this.#entersNode(c, d, od)) return false;
      stack[top++] = n;
      n = c;
    }
  }

  /**
   * Returns the value stored for exactly this prefix.
   *
   * @param key Bytes holding the prefix; bits beyond `bits` are ignored.
   * @param bits Prefix length, an integer 0..256.
   * @param keyOff Offset of the prefix's first byte in `key` (default 0).
   * @returns The value, or `undefined` if the prefix is not stored.
   * @throws {RangeError} If `bits` or `keyOff` is out of range, or `key` is too short.
   *
   * @example Exact, not longest, match
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<string>();
   * t.insert(new Uint8Array([10]), 8, "10/8");
   * assertEquals(t.get(new Uint8Array([10]), 8), "10/8");
   * assertEquals(t.get(new Uint8Array([10, 1]), 16), undefined);
   * ```
   */
  get(key: Uint8Array, bits: number, keyOff = 0): V | undefined {
    this.#load("get prefix", key, bits, keyOff);
    const p = this.#find(bits);
    return p < 0 ? undefined : this.#values[p];
  }

  /**
   * Tells whether exactly this prefix is stored.
   *
   * @param key Bytes holding the prefix; bits beyond `bits` are ignored.
   * @param bits Prefix length, an integer 0..256.
   * @param keyOff Offset of the prefix's first byte in `key` (default 0).
   * @returns `true` if stored (even with the value `undefined`).
   * @throws {RangeError} If `bits` or `keyOff` is out of range, or `key` is too short.
   *
   * @example Bits beyond the length are ignored
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<number>();
   * t.insert(new Uint8Array([0xf0]), 4, 1);
   * assertEquals(t.has(new Uint8Array([0xff]), 4), true);
   * assertEquals(t.has(new Uint8Array([0xf0]), 5), false);
   * ```
   */
  has(key: Uint8Array, bits: number, keyOff = 0): boolean {
    this.#load("check prefix", key, bits, keyOff);
    return this.#find(bits) >= 0;
  }

  /**
   * Finds the value of the longest stored prefix of a 32-byte key.
   *
   * **Performance.** Allocation: none. One slot read per trie level, then at
   * most one stored prefix compared byte by byte.
   *
   * @param key Bytes holding the key.
   * @param keyOff Offset of the key's first byte in `key` (default 0); 32
   *   bytes must follow.
   * @returns The value of the longest matching prefix, or `undefined` if none.
   * @throws {RangeError} If fewer than 32 bytes follow `keyOff`.
   *
   * @example A key inside a packet
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<string>();
   * t.insert(new Uint8Array([0xde, 0xad]), 15, "dead/15");
   * const frame = new Uint8Array(64);
   * frame[20] = 0xde;
   * frame[21] = 0xac; // differs from 0xad only in bit 15
   * assertEquals(t.longestMatch(frame, 20), "dead/15");
   * assertEquals(t.longestMatch(frame, 0), undefined);
   * ```
   */
  longestMatch(key: Uint8Array, keyOff = 0): V | undefined {
    if (keyOff >>> 0 !== keyOff || keyOff + KEY_BYTES > key.length) this.#badLookup(key, keyOff);
    const p = this.#lookup(key, keyOff);
    return p < 0 ? undefined : this.#values[p];
  }

  /**
   * Finds the length of the longest stored prefix of a 32-byte key.
   *
   * **Performance.** Allocation: none; same cost as `longestMatch`.
   *
   * @param key Bytes holding the key.
   * @param keyOff Offset of the key's first byte in `key` (default 0); 32
   *   bytes must follow.
   * @returns The matched prefix length 0..256, or -1 if no prefix matches.
   * @throws {RangeError} If fewer than 32 bytes follow `keyOff`.
   *
   * @example Matched length
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<string>();
   * const key = new Uint8Array(32).fill(7);
   * assertEquals(t.longestMatchBits(key), -1);
   * t.insert(key, 256, "host");
   * t.insert(key, 0, "default");
   * assertEquals(t.longestMatchBits(key), 256);
   * key[31] = 8;
   * assertEquals(t.longestMatchBits(key), 0);
   * ```
   */
  longestMatchBits(key: Uint8Array, keyOff = 0): number {
    if (keyOff >>> 0 !== keyOff || keyOff + KEY_BYTES > key.length) this.#badLookup(key, keyOff);
    const p = this.#lookup(key, keyOff);
    return p < 0 ? -1 : this.#plen[p]!;
  }

  /**
   * Visits every stored prefix that matches a 32-byte key, longest first.
   *
   * **Gotchas.** `fn` must not insert or remove (that throws an `Error` once
   * `fn` returns). Reading the trie, including a nested `forEachMatch`, is fine.
   *
   * **Performance.** Allocates nothing unless nested; a map probe per
   * candidate length in each node on the path.
   *
   * @param key Bytes holding the key.
   * @param keyOff Offset of the key's first byte in `key`; 32 bytes must follow.
   * @param fn Called with each matching prefix's value and length; return
   *   `false` to stop.
   * @throws {RangeError} If fewer than 32 bytes follow `keyOff`.
   *
   * @example Longest prefix that satisfies a predicate
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<{ local: boolean }>();
   * t.insert(new Uint8Array([0x12]), 8, { local: true });
   * t.insert(new Uint8Array([0x12, 0x34]), 16, { local: false });
   * const key = new Uint8Array(32);
   * key.set([0x12, 0x34]);
   * const seen: number[] = [];
   * let found = -1;
   * t.forEachMatch(key, 0, (v, bits) => {
   *   seen.push(bits);
   *   if (!v.local) return;
   *   found = bits;
   *   return false;
   * });
   * assertEquals(seen, [16, 8]);
   * assertEquals(found, 8);
   * ```
   */
  forEachMatch(key: Uint8Array, keyOff: number, fn: (value: V, bits: number) => boolean | void): void {
    if (keyOff >>> 0 !== keyOff || keyOff + KEY_BYTES > key.length) this.#badLookup(key, keyOff);
    const nested = this.#busy;
    const stack = nested ? new Int32Array(KEY_BYTES + 1) : this.#stack;
    this.#busy = true;
    try {
      const version = this.#version;
      let top = 0;
      let leaf = -1;
      let pd = -1;
      let n = this.#root;
      while (n !== 0) {
        const d = n & REF_DEPTH;
        if (d > pd + 1 && !this.#skipMatches(key, keyOff, n, pd, d)) break;
        stack[top++] = n;
        const c = this.#child(n, key[keyOff + d]!);
        if (c < 0) {
          if (this.#leafMatches(key, keyOff, ~c, d)) leaf = ~c;
          break;
        }
        pd = d;
        n = c;
      }
      if (leaf >= 0) {
        if (fn(this.#values[leaf]!, this.#plen[leaf]!) === false) return;
        this.#checkVersion(version);
      }
      const internals = this.#internals;
      while (top > 0) {
        n = stack[--top]!;
        const d = n & REF_DEPTH;
        const b = key[keyOff + d]!;
        const bp = this.#bestOf(n, b);
        if (bp === 0) continue;
        // The best covering prefix, then the shorter ones in this node.
        let kk = this.#plen[bp - 1]! - 8 * d;
        if (fn(this.#values[bp - 1]!, this.#plen[bp - 1]!) === false) return;
        this.#checkVersion(version);
        const base = (n >>> 7) * POSITIONS;
        while (--kk >= 0) {
          const p = internals.get(base + ((1 << kk) | (b >> (8 - kk))));
          if (p === undefined) continue;
          if (fn(this.#values[p]!, this.#plen[p]!) === false) return;
          this.#checkVersion(version);
        }
      }
    } finally {
      this.#busy = nested;
    }
  }

  /**
   * Iterates over the stored prefixes, in no particular order.
   *
   * @returns An iterator of `[prefix, bits, value]`; `prefix` is a new
   *   32-byte array with bits beyond `bits` cleared.
   *
   * @example List prefixes
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<string>();
   * t.insert(new Uint8Array([0xff]), 3, "e0/3");
   * const [[prefix, bits, value]] = [...t.entries()];
   * assertEquals([prefix[0], prefix.length, bits, value], [0xe0, 32, 3, "e0/3"]);
   * ```
   */
  *entries(): IterableIterator<[prefix: Uint8Array, bits: number, value: V]> {
    for (let p = 0; p < this.#ptop; p++) {
      const L = this.#plen[p]!;
      if (L === FREE_LEN) continue;
      const prefix = new Uint8Array(KEY_BYTES);
      for (let i = 0; i < KEY_BYTES; i++) prefix[i] = this.#prefixByte(p, i);
      yield [prefix, L, this.#values[p]!];
    }
  }

  /**
   * The number of stored prefixes.
   *
   * @example Count
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<number>();
   * t.insert(new Uint8Array(32), 0, 1);
   * t.insert(new Uint8Array(32), 0, 2);
   * assertEquals(t.size, 1);
   * ```
   */
  get size(): number {
    return this.#size;
  }

  /**
   * The number of live trie nodes (0 when the trie is empty).
   *
   * @example Nodes are freed with the prefixes
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<number>();
   * t.insert(new Uint8Array([1, 2, 3]), 24, 1);
   * assertEquals(t.nodeCount, 1);
   * t.remove(new Uint8Array([1, 2, 3]), 24);
   * assertEquals(t.nodeCount, 0);
   * ```
   */
  get nodeCount(): number {
    return this.#fp.live + this.#bp.live + this.#sp.live;
  }

  /**
   * Approximate bytes held: all typed-array pools at their current capacity,
   * plus an estimate for the values array and the internal-prefix map.
   *
   * @returns Bytes.
   *
   * @example Memory grows with prefixes
   * ```ts
   * import { assert } from "@std/assert";
   *
   * const t = new LpmTrie<number>();
   * const before = t.memoryBytes();
   * for (let i = 0; i < 1000; i++) t.insert(new Uint8Array([i >> 8, i & 255, 1]), 24, i);
   * assert(t.memoryBytes() > before);
   * ```
   */
  memoryBytes(): number {
    return (
      this.#fp.bytes() +
      this.#bp.bytes() +
      this.#sp.bytes() +
      this.#pkw.byteLength +
      this.#plen.byteLength +
      this.#values.length * VALUE_SLOT_BYTES +
      this.#internals.size * MAP_ENTRY_BYTES
    );
  }

  /**
   * Removes every prefix and releases the pools.
   *
   * @example Clear
   * ```ts
   * import { assertEquals } from "@std/assert";
   *
   * const t = new LpmTrie<number>();
   * t.insert(new Uint8Array(32), 0, 1);
   * t.clear();
   * assertEquals([t.size, t.nodeCount, t.longestMatch(new Uint8Array(32))], [0, 0, undefined]);
   * ```
   */
  clear(): void {
    this.#version++;
    this.#root = 0;
    this.#fp = new BlockPool(FULL_BLOCK, INITIAL_FULL);
    this.#bp = new BlockPool(BARE_BLOCK, INITIAL_BARE);
    this.#sp = new BlockPool(SPARSE_BLOCK, INITIAL_SPARSE);
    this.#internals.clear();
    this.#pkw = new Int32Array(INITIAL_PREFIXES * KEY_WORDS);
    this.#plen = new Uint16Array(INITIAL_PREFIXES);
    this.#pcap = INITIAL_PREFIXES;
    this.#ptop = 0;
    this.#pfree = -1;
    this.#values = [];
    this.#size = 0;
  }

  // ------------------------------------------------------------------------
  // Lookup

  /** The hot path: prefix id of the longest match, or -1. Allocates nothing. */
  #lookup(key: Uint8Array, off: number): number {
    let n = this.#root;
    if (n === 0) return -1;
    const full = this.#fp.slots;
    const bare = this.#bp.slots;
    const sparse = this.#sp.slots;
    let best = 0;
    let pd = -1;
    for (;;) {
      const d = n & REF_DEPTH;
      // Path compression: the bytes this node skipped must match its key.
      if (d > pd + 1 && !this.#skipMatches(key, off, n, pd, d)) return best - 1;
      const b = key[off + d]!;
      const kind = n & REF_KIND;
      let c = 0;
      if (kind === REF_FULL) {
        const i = (n >>> 7) * FULL_BLOCK + (b << 1);
        const bp = full[i + 1]!;
        if (bp !== 0) best = bp;
        c = full[i]!;
      } else if (kind === REF_BARE) {
        c = bare[(n >>> 7) * BARE_BLOCK + b]!;
      } else {
        const base = (n >>> 7) * SPARSE_BLOCK;
        for (let i = 0; i < SPARSE_CAP; i++) {
          const e = sparse[base + i]!;
          if (e === b + 1) {
            c = sparse[base + SPARSE_CAP + i]!;
            break;
          }
          if (e === 0) break;
        }
      }
      if (c > 0) {
        pd = d;
        n = c;
        continue;
      }
      if (c === 0) return best - 1;
      // A leaf: the key matches it, or falls back to the best seen so far.
      // Compared a 32-bit word at a time (bytes 0..d matched already; the
      // first word may recheck up to three of them, which is harmless).
      const p = ~c;
      const L = this.#plen[p]!;
      const pkw = this.#pkw;
      const base = p * KEY_WORDS;
      const words = L >> 5;
      let w = (d + 1) >> 2;
      for (; w < words; w++) {
        const o = off + (w << 2);
        if (((key[o]! << 24) | (key[o + 1]! << 16) | (key[o + 2]! << 8) | key[o + 3]!) !== pkw[base + w]) {
          return best - 1;
        }
      }
      const r = L & 31;
      if (r !== 0) {
        const o = off + (w << 2);
        const kw = (key[o]! << 24) | (key[o + 1]! << 16) | (key[o + 2]! << 8) | key[o + 3]!;
        if ((kw & (-1 << (32 - r))) !== pkw[base + w]) return best - 1;
      }
      return p;
    }
  }

  #skipMatches(key: Uint8Array, off: number, n: number, pd: number, d: number): boolean {
    const nk = this.#pool(n).keys;
    const nb = (n >>> 7) * BLOCK_KEY_BYTES;
    for (let i = pd + 1; i < d; i++) if (key[off + i] !== nk[nb + i]) return false;
    return true;
  }

  /** Whether leaf prefix `p`, found in a slot of a node at depth `d`, matches the key. */
  #leafMatches(key: Uint8Array, off: number, p: number, d: number): boolean {
    const L = this.#plen[p]!;
    const whole = L >> 3;
    for (let i = d + 1; i < whole; i++) if (key[off + i] !== this.#prefixByte(p, i)) return false;
    const r = L & 7;
    return r === 0 || (key[off + whole]! & TOP_MASK[r]!) === this.#prefixByte(p, whole);
  }

  #badLookup(key: Uint8Array, keyOff: number): never {
    checkOffset("look up key", key, keyOff, KEY_BYTES, "");
    throw rangeError("look up key", `key offset is ${keyOff}, must be a non-negative integer`);
  }

  #checkVersion(version: number): void {
    if (version !== this.#version) {
      throw new Error("Cannot continue forEachMatch: the trie was modified by the callback");
    }
  }

  // ------------------------------------------------------------------------
  // Exact search (on the masked prefix in #pbuf / #pwords)

  /** Validates arguments and loads the masked prefix into `#pbuf` and `#pwords`. */
  #load(action: string, key: Uint8Array, bits: number, keyOff: number): void {
    if (!Number.isInteger(bits) || bits < 0 || bits > MAX_BITS) {
      throw rangeError(action, `length is ${bits}, must be 0..${MAX_BITS}`);
    }
    const nb = (bits + 7) >> 3;
    checkOffset(action, key, keyOff, nb, ` for length ${bits}`);
    const P = this.#pbuf;
    for (let i = 0; i < nb; i++) P[i] = key[keyOff + i]!;
    P.fill(0, nb);
    if ((bits & 7) !== 0) P[nb - 1] = P[nb - 1]! & TOP_MASK[bits & 7]!;
    const W = this.#pwords;
    for (let w = 0; w < KEY_WORDS; w++) {
      W[w] = (P[w * 4]! << 24) | (P[w * 4 + 1]! << 16) | (P[w * 4 + 2]! << 8) | P[w * 4 + 3]!;
    }
  }

  /** Prefix id of the exact prefix in `#pbuf` with length `L`, or -1. */
  #find(L: number): number {
    const P = this.#pbuf;
    const od = L === 0 ? 0 : ((L + 7) >> 3) - 1;
    const k = L - 8 * od;
    let n = this.#root;
    if (n === 0) return -1;
    for (;;) {
      const d = n & REF_DEPTH;
      if (d === od) {
        if ((n & REF_FULL) === 0) return -1;
        const v = k === 0 ? 0 : P[od]! >> (8 - k);
        return this.#internals.get((n >>> 7) * POSITIONS + ((1 << k) | v)) ?? -1;
      }
      const c = this.#child(n, P[d]!);
      if (c === 0) return -1;
      if (c < 0) {
        const q = ~c;
        return this.#plen[q] === L && this.#sameWords(q) ? q : -1;
      }
      if (!this.#entersNode(c, d, od)) return -1;
      n = c;
    }
  }

  /**
   * Whether the prefix in `#pbuf` (owner depth `od`), having reached a slot of
   * a node at depth `d` that holds node `c`, may be in `c`'s subtree: `c` must
   * not be deeper than the owner depth, and the skipped bytes must match.
   */
  #entersNode(c: number, d: number, od: number): boolean {
    const dm = c & REF_DEPTH;
    if (dm > od) return false;
    const P = this.#pbuf;
    const nk = this.#pool(c).keys;
    const ck = (c >>> 7) * BLOCK_KEY_BYTES;
    for (let i = d + 1; i < dm; i++) if (P[i] !== nk[ck + i]) return false;
    return true;
  }

  /** Whether stored prefix `q` has the key in `#pwords` (lengths compared by the caller). */
  #sameWords(q: number): boolean {
    const pkw = this.#pkw;
    const W = this.#pwords;
    const base = q * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) if (pkw[base + w] !== W[w]) return false;
    return true;
  }

  /** Byte `i` of stored prefix `p`. */
  #prefixByte(p: number, i: number): number {
    return (this.#pkw[p * KEY_WORDS + (i >> 2)]! >>> (24 - ((i & 3) << 3))) & 0xff;
  }

  // ------------------------------------------------------------------------
  // Nodes

  #pool(n: number): BlockPool {
    const kind = n & REF_KIND;
    return kind === REF_FULL ? this.#fp : kind === REF_BARE ? this.#bp : this.#sp;
  }

  #child(n: number, b: number): number {
    const kind = n & REF_KIND;
    if (kind === REF_FULL) return this.#fp.slots[(n >>> 7) * FULL_BLOCK + (b << 1)]!;
    if (kind === REF_BARE) return this.#bp.slots[(n >>> 7) * BARE_BLOCK + b]!;
    const sparse = this.#sp.slots;
    const base = (n >>> 7) * SPARSE_BLOCK;
    for (let i = 0; i < SPARSE_CAP; i++) {
      const e = sparse[base + i]!;
      if (e === b + 1) return sparse[base + SPARSE_CAP + i]!;
      if (e === 0) break;
    }
    return 0;
  }

  /**
   * Sets slot `b` of node `n` to `c` (0 clears it). Returns `n`'s reference,
   * which changes only when a full sparse node gets a new child and becomes
   * bare: the caller relinks it. Replacing or clearing a child never moves
   * the node.
   */
  #setChild(n: number, b: number, c: number): number {
    const kind = n & REF_KIND;
    if (kind === REF_FULL) {
      this.#fp.slots[(n >>> 7) * FULL_BLOCK + (b << 1)] = c;
      return n;
    }
    if (kind === REF_BARE) {
      this.#bp.slots[(n >>> 7) * BARE_BLOCK + b] = c;
      return n;
    }
    const sparse = this.#sp.slots;
    const base = (n >>> 7) * SPARSE_BLOCK;
    let i = 0;
    while (i < SPARSE_CAP && sparse[base + i] !== 0 && sparse[base + i] !== b + 1) i++;
    if (i < SPARSE_CAP && sparse[base + i] !== 0) {
      // Slot b is present: replace, or remove by moving the last entry here.
      if (c !== 0) {
        sparse[base + SPARSE_CAP + i] = c;
        return n;
      }
      let last = i;
      while (last + 1 < SPARSE_CAP && sparse[base + last + 1] !== 0) last++;
      sparse[base + i] = sparse[base + last]!;
      sparse[base + SPARSE_CAP + i] = sparse[base + SPARSE_CAP + last]!;
      sparse[base + last] = 0;
      sparse[base + SPARSE_CAP + last] = 0;
      return n;
    }
    if (c === 0) return n;
    if (i === SPARSE_CAP) {
      const m = this.#convert(n, REF_BARE);
      this.#bp.slots[(m >>> 7) * BARE_BLOCK + b] = c;
      return m;
    }
    sparse[base + i] = b + 1;
    sparse[base + SPARSE_CAP + i] = c;
    return n;
  }

  /** Prefix id + 1 of the best internal prefix covering slot `b`, or 0. */
  #bestOf(n: number, b: number): number {
    return (n & REF_FULL) !== 0 ? this.#fp.slots[(n >>> 7) * FULL_BLOCK + (b << 1) + 1]! : 0;
  }

  #childCount(n: number): number {
    return this.#pool(n).counts[(n >>> 7) * 2]!;
  }

  #addChildren(n: number, delta: number): void {
    this.#pool(n).counts[(n >>> 7) * 2]! += delta;
  }

  #internalCount(n: number): number {
    return (n & REF_FULL) !== 0 ? this.#fp.counts[(n >>> 7) * 2 + 1]! : 0;
  }

  /** Byte `i` (< depth) of node `n`'s key. */
  #nodeKeyByte(n: number, i: number): number {
    return this.#pool(n).keys[(n >>> 7) * BLOCK_KEY_BYTES + i]!;
  }

  /** Points slot `pslot` of `parent` (or the root, when `parent` is 0) at `n`. */
  #link(parent: number, pslot: number, n: number): void {
    if (parent === 0) this.#root = n;
    else this.#setChild(parent, pslot, n);
  }

  /**
   * Puts stored prefix `p` into new node `m` at depth `t`: as an internal
   * prefix if `m` owns it, else as a leaf in the slot of its byte `t`.
   * Returns `m`'s reference, which changes if `m` became full.
   */
  #place(m: number, t: number, p: number): number {
    const L = this.#plen[p]!;
    const byte = this.#prefixByte(p, t);
    if (((L + 7) >> 3) - 1 === t) {
      const k = L - 8 * t;
      return this.#setInternal(m, k, byte >> (8 - k), p);
    }
    this.#setChild(m, byte, ~p);
    this.#addChildren(m, 1);
    return m;
  }

  /**
   * Records `p` as internal prefix (k, v) of node `n` and expands it into the
   * slots it covers. Returns `n`'s reference, which changes if `n` was bare:
   * the caller relinks it.
   */
  #setInternal(n: number, k: number, v: number, p: number): number {
    if ((n & REF_FULL) === 0) n = this.#convert(n, REF_FULL);
    const blk = n >>> 7;
    this.#internals.set(blk * POSITIONS + ((1 << k) | v), p);
    this.#fp.counts[blk * 2 + 1]!++;
    const full = this.#fp.slots;
    const plen = this.#plen;
    const L = plen[p]!;
    const so = blk * FULL_BLOCK;
    const hi = (v + 1) << (8 - k);
    for (let s = v << (8 - k); s < hi; s++) {
      const i = so + (s << 1) + 1;
      const bp = full[i]!;
      if (bp === 0 || plen[bp - 1]! < L) full[i] = p + 1;
    }
    return n;
  }

  /**
   * Forgets internal prefix `p` at (k, v) of full node `n`; the slots it was
   * best for fall back to the longest internal prefix covering it, if any.
   */
  #removeInternal(n: number, k: number, v: number, p: number): void {
    const internals = this.#internals;
    const blk = n >>> 7;
    const base = blk * POSITIONS;
    internals.delete(base + ((1 << k) | v));
    this.#fp.counts[blk * 2 + 1]!--;
    let rep = 0;
    for (let kk = k - 1; kk >= 0; kk--) {
      const q = internals.get(base + ((1 << kk) | (v >> (k - kk))));
      if (q !== undefined) {
        rep = q + 1;
        break;
      }
    }
    const full = this.#fp.slots;
    const so = blk * FULL_BLOCK;
    const hi = (v + 1) << (8 - k);
    for (let s = v << (8 - k); s < hi; s++) {
      const i = so + (s << 1) + 1;
      if (full[i] === p + 1) full[i] = rep;
    }
  }

  /**
   * After a removal in node `n` (ancestors in `#stack[0..top)`): frees nodes
   * left with nothing, splices out a node left with one child and no
   * internal prefixes, and makes a full node that lost its last internal
   * prefix bare.
   */
  #cleanup(n: number, top: number): void {
    const stack = this.#stack;
    for (;;) {
      if (this.#internalCount(n) !== 0) return;
      const children = this.#childCount(n);
      if (children === 0) {
        if (top === 0) {
          this.#freeNode(n);
          this.#root = 0;
          return;
        }
        const parent = stack[--top]!;
        this.#setChild(parent, this.#nodeKeyByte(n, parent & REF_DEPTH), 0);
        this.#addChildren(parent, -1);
        this.#freeNode(n);
        n = parent;
        continue;
      }
      if (children === 1 && top !== 0) {
        let c = 0;
        this.#forEachChild(n, (_, child) => {
          c = child;
        });
        const parent = stack[top - 1]!;
        this.#setChild(parent, this.#nodeKeyByte(n, parent & REF_DEPTH), c);
        this.#freeNode(n);
        return;
      }
      // Keep the node, in the smallest kind that holds it.
      const kind = n & REF_KIND;
      const to = children <= SPARSE_CAP && (kind === REF_FULL || children <= SPARSE_SHRINK) ? REF_SPARSE : REF_BARE;
      if (kind !== to) {
        const m = this.#convert(n, to);
        const parent = top === 0 ? 0 : stack[top - 1]!;
        this.#link(parent, parent === 0 ? 0 : this.#nodeKeyByte(m, parent & REF_DEPTH), m);
      }
      return;
    }
  }

  /** A new sparse node at `depth`, keyed by the first `depth` bytes of `#pbuf`. */
  #allocNode(depth: number): number {
    const sp = this.#sp;
    const blk = sp.alloc();
    const nk = sp.keys;
    const P = this.#pbuf;
    for (let i = 0; i < depth; i++) nk[blk * BLOCK_KEY_BYTES + i] = P[i]!;
    return blk * REF_BLOCK + REF_SPARSE + depth;
  }

  #freeNode(n: number): void {
    this.#pool(n).release(n >>> 7);
  }

  /** Calls `fn` with each (slot, child) of node `n`. */
  #forEachChild(n: number, fn: (slot: number, child: number) => void): void {
    const kind = n & REF_KIND;
    const blk = n >>> 7;
    if (kind === REF_SPARSE) {
      const sparse = this.#sp.slots;
      const base = blk * SPARSE_BLOCK;
      for (let i = 0; i < SPARSE_CAP && sparse[base + i] !== 0; i++) fn(sparse[base + i]! - 1, sparse[base + SPARSE_CAP + i]!);
      return;
    }
    const slots = kind === REF_FULL ? this.#fp.slots : this.#bp.slots;
    const base = kind === REF_FULL ? blk * FULL_BLOCK : blk * BARE_BLOCK;
    const step = kind === REF_FULL ? 2 : 1;
    for (let s = 0; s < 256; s++) {
      const c = slots[base + s * step]!;
      if (c !== 0) fn(s, c);
    }
  }

  /**
   * Moves node `n` to a block of kind `to` (its internal prefixes, if any,
   * stay only when `to` is full: callers convert away from full only when
   * there are none). Returns the new reference; the caller relinks it.
   */
  #convert(n: number, to: number): number {
    const from = this.#pool(n);
    const ob = n >>> 7;
    const dest = to === REF_FULL ? this.#fp : to === REF_BARE ? this.#bp : this.#sp;
    const nb = dest.alloc();
    const m = nb * REF_BLOCK + to + (n & REF_DEPTH);
    this.#forEachChild(n, (s, c) => {
      this.#setChild(m, s, c);
    });
    for (let i = 0; i < BLOCK_KEY_BYTES; i++) dest.keys[nb * BLOCK_KEY_BYTES + i] = from.keys[ob * BLOCK_KEY_BYTES + i]!;
    dest.counts[nb * 2] = from.counts[ob * 2]!;
    from.release(ob);
    return m;
  }

  // ------------------------------------------------------------------------
  // Prefixes

  /** Stores `#pwords` / `L` with `value` under a new prefix id. */
  #newPrefix(L: number, value: V): number {
    let p: number;
    if (this.#pfree >= 0) {
      p = this.#pfree;
      this.#pfree = this.#pkw[p * KEY_WORDS]!;
    } else {
      if (this.#ptop === this.#pcap) {
        const cap = grownCapacity(this.#pcap, INITIAL_PREFIXES);
        const pkw = new Int32Array(cap * KEY_WORDS);
        pkw.set(this.#pkw);
        const plen = new Uint16Array(cap);
        plen.set(this.#plen);
        this.#pkw = pkw;
        this.#plen = plen;
        this.#pcap = cap;
      }
      p = this.#ptop++;
    }
    this.#pkw.set(this.#pwords, p * KEY_WORDS);
    this.#plen[p] = L;
    this.#values[p] = value;
    this.#size++;
    return p;
  }

  #freePrefix(p: number): void {
    this.#plen[p] = FREE_LEN;
    this.#values[p] = undefined;
    this.#pkw[p * KEY_WORDS] = this.#pfree;
    this.#pfree = p;
    this.#size--;
  }
}

/**
 * Fixed-size blocks of `Int32` slots with per-block metadata, for the trie's
 * nodes: structure of arrays, a free list threaded through free blocks, and
 * geometric growth. Private to `@serval/lpm`.
 *
 * @module
 * @private
 */

/** Bytes of node key kept per block. */
export const BLOCK_KEY_BYTES = 32;

/**
 * Largest block count per pool: node references keep the block index in 24
 * bits (see `lpm_trie.ts`). 2^24 nodes of one kind take tens of millions of
 * prefixes; past that, `alloc` throws a `RangeError`.
 */
export const MAX_BLOCKS = 1 << 24;

/**
 * Pools grow by this factor. 1.5 instead of 2: the trie's memory is mostly
 * node blocks, and a doubling pool leaves up to half of it unused; 1.5 bounds
 * the slack at a third for the same amortized O(1) copying.
 */
export const GROWTH = 1.5;

/** The next capacity after `cap`, at least `min`. */
export function grownCapacity(cap: number, min: number): number {
  return Math.max(min, cap + 1, Math.ceil(cap * GROWTH));
}

/**
 * A pool of blocks of `blockInts` Int32 slots. Block 0 is never handed out,
 * so that a block index of 0 can mean "none".
 *
 * @private
 */
export class BlockPool {
  /** Slots, `blockInts` per block; a free block's first slot links the free list. */
  slots: Int32Array;
  /** Node key bytes, 32 per block. */
  keys: Uint8Array;
  /** Two counters per block: [children, internal prefixes]. */
  counts: Uint16Array;
  /** Blocks in use. */
  live = 0;
  #cap: number;
  #top = 1;
  #free = 0;

  constructor(readonly blockInts: number, initialBlocks: number) {
    this.#cap = initialBlocks;
    this.slots = new Int32Array(initialBlocks * blockInts);
    this.keys = new Uint8Array(initialBlocks * BLOCK_KEY_BYTES);
    this.counts = new Uint16Array(initialBlocks * 2);
  }

  /** A zeroed block (slots and counters; keys are left as they were). */
  alloc(): number {
    let blk = this.#free;
    if (blk !== 0) {
      this.#free = this.slots[blk * this.blockInts]!;
    } else {
      if (this.#top === this.#cap) this.#grow();
      blk = this.#top++;
    }
    this.slots.fill(0, blk * this.blockInts, (blk + 1) * this.blockInts);
    this.counts[blk * 2] = 0;
    this.counts[blk * 2 + 1] = 0;
    this.live++;
    return blk;
  }

  /** Returns a block to the free list. */
  release(blk: number): void {
    this.slots[blk * this.blockInts] = this.#free;
    this.#free = blk;
    this.live--;
  }

  /** Bytes held by the pool's arrays at their current capacity. */
  bytes(): number {
    return this.slots.byteLength + this.keys.byteLength + this.counts.byteLength;
  }

  #grow(): void {
    if (this.#cap >= MAX_BLOCKS) throw new RangeError(`Cannot add a trie node: the pool holds ${MAX_BLOCKS} blocks, the most it can`);
    const cap = Math.min(MAX_BLOCKS, grownCapacity(this.#cap, 4));
    const slots = new Int32Array(cap * this.blockInts);
    slots.set(this.slots);
    const keys = new Uint8Array(cap * BLOCK_KEY_BYTES);
    keys.set(this.keys);
    const counts = new Uint16Array(cap * 2);
    counts.set(this.counts);
    this.slots = slots;
    this.keys = keys;
    this.counts = counts;
    this.#cap = cap;
  }
}

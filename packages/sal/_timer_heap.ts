/**
 * A binary min-heap of (deadline, key) pairs with lazy deletion: the owner
 * pushes a new pair whenever a key's deadline changes and skips pairs that no
 * longer match when they surface. Lets a host with many flows find its next
 * timer in O(log n) instead of scanning every flow.
 *
 * @private
 * @module
 */

/** Deadlines (µs) keyed by a number (a flowID). */
export class TimerHeap {
  #at: number[] = [];
  #key: number[] = [];

  /** Number of pairs held, stale ones included. */
  get size(): number {
    return this.#at.length;
  }

  /** Adds a pair. */
  push(at: number, key: number): void {
    const a = this.#at;
    const k = this.#key;
    let i = a.length;
    a.push(at);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      k[i] = k[p]!;
      i = p;
    }
    a[i] = at;
    k[i] = key;
  }

  /** The earliest deadline, or `Infinity`. */
  peekAt(): number {
    return this.#at.length > 0 ? this.#at[0]! : Infinity;
  }

  /** The key of the earliest pair (undefined when empty). */
  peekKey(): number | undefined {
    return this.#key[0];
  }

  /** Removes the earliest pair. */
  pop(): void {
    const a = this.#at;
    const k = this.#key;
    const lastAt = a.pop()!;
    const lastKey = k.pop()!;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! < a[l]! ? r : l;
      if (a[c]! >= lastAt) break;
      a[i] = a[c]!;
      k[i] = k[c]!;
      i = c;
    }
    a[i] = lastAt;
    k[i] = lastKey;
  }

  /** Drops every pair. */
  clear(): void {
    this.#at.length = 0;
    this.#key.length = 0;
  }
}

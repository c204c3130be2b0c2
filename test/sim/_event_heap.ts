/**
 * A binary min-heap of timed events, ordered by time and then by insertion
 * sequence, so events due at the same instant pop in the order they were
 * pushed (the simulator's determinism rests on this).
 *
 * @module
 */

interface Entry<T> {
  readonly time: number;
  readonly seq: number;
  readonly value: T;
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * A min-heap keyed by `(time, insertion sequence)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const h = new EventHeap<string>();
 * h.push(5, "late");
 * h.push(1, "first");
 * h.push(1, "second");
 * assertEquals([h.pop()?.value, h.pop()?.value, h.pop()?.value], ["first", "second", "late"]);
 * ```
 */
export class EventHeap<T> {
  readonly #items: Entry<T>[] = [];
  #seq = 0;

  /** The number of queued events. */
  get size(): number {
    return this.#items.length;
  }

  /** The time of the earliest event, or `undefined` when empty. */
  peekTime(): number | undefined {
    return this.#items[0]?.time;
  }

  /** Queues `value` at `time`. */
  push(time: number, value: T): void {
    const items = this.#items;
    const e: Entry<T> = { time, seq: this.#seq++, value };
    let i = items.length;
    items.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, items[p]!)) break;
      items[i] = items[p]!;
      i = p;
    }
    items[i] = e;
  }

  /** Removes and returns the earliest event, or `undefined` when empty. */
  pop(): { time: number; value: T } | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= items.length) break;
        const r = l + 1;
        const c = r < items.length && before(items[r]!, items[l]!) ? r : l;
        if (!before(items[c]!, last)) break;
        items[i] = items[c]!;
        i = c;
      }
      items[i] = last;
    }
    return { time: top.time, value: top.value };
  }

  /** Removes every event. */
  clear(): void {
    this.#items.length = 0;
  }
}

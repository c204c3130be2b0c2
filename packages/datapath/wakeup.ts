/**
 * {@linkcode Wakeup}: the "something arrived" signal of a datapath's
 * `wait()`: one pending promise shared by every waiter, resolved by the next
 * {@linkcode Wakeup.wake} (then a fresh one is made on demand).
 *
 * @module
 */

/**
 * A reusable one-shot wake-up.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Wakeup } from "@serval/datapath";
 * const w = new Wakeup();
 * const p = w.wait();
 * assertEquals(w.wait() === p, true); // one promise for every waiter
 * assertEquals(w.waiting, true);
 * w.wake();
 * await p;
 * assertEquals(w.waiting, false);
 * ```
 */
export class Wakeup {
  #wake: (() => void) | undefined;
  #waiting: Promise<void> | undefined;

  /** Whether a `wait()` promise is pending. */
  get waiting(): boolean {
    return this.#wake !== undefined;
  }

  /** A promise the next {@linkcode Wakeup.wake} resolves. */
  wait(): Promise<void> {
    if (!this.#waiting) this.#waiting = new Promise((resolve) => (this.#wake = resolve));
    return this.#waiting;
  }

  /** Resolves the pending promise, if any. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    this.#waiting = undefined;
    wake?.();
  }
}

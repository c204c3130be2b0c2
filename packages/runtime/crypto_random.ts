/**
 * {@linkcode CryptoRandom}: the stack's randomness in a deployed node
 * (flowIDs, nonces, initial sequence numbers, boot ids), from the runtime's
 * cryptographic generator, drawn 1 KiB at a time.
 *
 * @module
 */

import type { RandomSource } from "@serval/sal";

/**
 * A {@linkcode RandomSource} backed by `crypto.getRandomValues`.
 *
 * @example
 * ```ts
 * import { CryptoRandom } from "@serval/runtime";
 * const r = new CryptoRandom();
 * const x = r.nextU32();
 * console.assert(Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
 * ```
 */
export class CryptoRandom implements RandomSource {
  readonly #pool = new Uint32Array(256);
  #next = 256;

  /** The next uniform u32. */
  nextU32(): number {
    if (this.#next === this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#next = 0;
    }
    return this.#pool[this.#next++]!;
  }
}

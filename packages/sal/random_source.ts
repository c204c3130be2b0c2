/**
 * Randomness for the pure packages: they never draw their own. The runtime
 * injects a source backed by the operating system's CSPRNG; tests and the
 * simulator inject {@linkcode SeededRandom}, so every run is reproducible.
 *
 * @module
 */

/** A source of uniformly distributed unsigned 32-bit integers. */
export interface RandomSource {
  /** The next uniform u32. */
  nextU32(): number;
}

/**
 * A deterministic source (xoshiro128**, seeded through splitmix32): for the
 * simulator, tests and benchmarks. Not cryptographically secure: never use
 * it for nonces or flowIDs in a deployed stack.
 *
 * @example Two sources with one seed agree
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const a = new SeededRandom(7), b = new SeededRandom(7);
 * assertEquals(a.nextU32(), b.nextU32());
 * ```
 */
export class SeededRandom implements RandomSource {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /**
   * @param seed Any integer; equal seeds give equal sequences.
   */
  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      // splitmix32: spreads a small seed over the 128-bit state.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * The next uniform u32.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const r = new SeededRandom(1).nextU32();
   * assertEquals(r >= 0 && r <= 0xffffffff, true);
   * ```
   */
  nextU32(): number {
    const s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 = s2 ^ s0;
    this.#s3 = s3 ^ s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 = s0 ^ this.#s3;
    this.#s2 ^= t;
    this.#s3 = (this.#s3 << 11) | (this.#s3 >>> 21);
    return result;
  }
}

/**
 * A uniform integer in `[0, n)`, without modulo bias (rejection sampling).
 *
 * @param r The source.
 * @param n The bound, an integer in 1..2^32.
 * @returns An integer in `[0, n)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const x = randomBelow(new SeededRandom(3), 10);
 * assertEquals(x >= 0 && x < 10, true);
 * ```
 */
export function randomBelow(r: RandomSource, n: number): number {
  if (n <= 1) return 0;
  // Draws at or above the largest multiple of n below 2^32 would favour small results.
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (;;) {
    const x = r.nextU32();
    if (x < limit) return x % n;
  }
}

/**
 * A uniform fraction in `[0, 1)` with 32 bits of precision.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = randomFraction(new SeededRandom(3));
 * assertEquals(f >= 0 && f < 1, true);
 * ```
 */
export function randomFraction(r: RandomSource): number {
  return r.nextU32() / 2 ** 32;
}

/**
 * Fills `out` with random bytes (nonces).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(randomBytes(new SeededRandom(3), new Uint8Array(8)).length, 8);
 * ```
 */
export function randomBytes(r: RandomSource, out: Uint8Array): Uint8Array {
  for (let i = 0; i < out.length; i += 4) {
    const x = r.nextU32();
    out[i] = x >>> 24;
    if (i + 1 < out.length) out[i + 1] = x >>> 16;
    if (i + 2 < out.length) out[i + 2] = x >>> 8;
    if (i + 3 < out.length) out[i + 3] = x;
  }
  return out;
}

/**
 * Random serviceID prefixes and lookup keys for the LPM and service-table
 * benchmarks, from fixed seeds.
 *
 * @module
 */

import { mulberry32 } from "./harness.ts";

/** Bytes in a key. */
export const KEY = 32;

/** `n` prefixes: keys of 32 random bytes (bits beyond each length are left random: tables mask them) and lengths. */
export interface Prefixes {
  readonly n: number;
  readonly keys: Uint8Array;
  readonly bits: Uint16Array;
}

/** Fills `out` with bytes from `rnd`. */
export function randomBytes(rnd: () => number, out: Uint8Array): Uint8Array {
  for (let i = 0; i < out.length; i += 4) {
    const x = rnd();
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  return out;
}

/** `n` random prefixes with lengths uniform in `minBits..maxBits`. */
export function makePrefixes(n: number, seed: number, minBits = 0, maxBits = 256): Prefixes {
  const rnd = mulberry32(seed);
  const keys = randomBytes(rnd, new Uint8Array(n * KEY));
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = minBits + (rnd() % (maxBits - minBits + 1));
  return { n, keys, bits };
}

/** `count` random keys. */
export function randomKeys(count: number, seed: number): Uint8Array {
  return randomBytes(mulberry32(seed), new Uint8Array(count * KEY));
}

/** `count` keys, each a random stored prefix followed by random bits. */
export function underKeys(p: Prefixes, count: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed);
  const out = randomBytes(rnd, new Uint8Array(count * KEY));
  for (let j = 0; j < count; j++) {
    const i = rnd() % p.n;
    const L = p.bits[i]!;
    const whole = L >> 3;
    for (let b = 0; b < whole; b++) out[j * KEY + b] = p.keys[i * KEY + b]!;
    const r = L & 7;
    if (r !== 0) {
      const m = (0xff00 >> r) & 0xff;
      out[j * KEY + whole] = (p.keys[i * KEY + whole]! & m) | (out[j * KEY + whole]! & ~m & 0xff);
    }
  }
  return out;
}

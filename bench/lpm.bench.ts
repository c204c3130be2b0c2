/**
 * LpmTrie benchmark: inserts/s, lookups/s and ns/lookup at 1 k, 10 k, 100 k
 * and 1 M random prefixes (lengths uniform over 0..256), bytes per prefix,
 * against a linear scan (1 k and 10 k only) and an exact-match `Map` keyed by
 * a latin1 string of the 32-byte key.
 *
 * Lookups loop over 4096 pre-generated keys held in one `Uint8Array`, so key
 * generation is not timed: (a) random keys, (b) keys under stored prefixes
 * (a stored prefix extended with random bits). At 1 M a "cold" row also looks
 * up 1 M distinct under-prefix keys, whose trie paths do not fit in cache.
 *
 * Run: `bun bench/lpm.bench.ts` (under a minute on 2 cores; peak RSS about 1 GB).
 *
 * @module
 */

import { type BenchRow, measure, mulberry32, report } from "./harness.ts";
import { LpmTrie } from "../packages/lpm/mod.ts";
import { KEY, makePrefixes, type Prefixes, randomKeys, underKeys } from "./_prefixes.ts";

const SIZES = [1_000, 10_000, 100_000, 1_000_000];
const LOOKUP_KEYS = 4096;

function build(p: Prefixes): LpmTrie<number> {
  const t = new LpmTrie<number>();
  for (let i = 0; i < p.n; i++) t.insert(p.keys, p.bits[i]!, i, i * KEY);
  return t;
}

/** The baseline: every prefix compared with every key. Returns the best index or -1. */
function linearLookup(p: Prefixes, key: Uint8Array, off: number): number {
  const keys = p.keys;
  const bits = p.bits;
  let best = -1;
  let bestLen = -1;
  for (let i = 0; i < p.n; i++) {
    const L = bits[i]!;
    if (L <= bestLen) continue;
    const base = i * KEY;
    const whole = L >> 3;
    let b = 0;
    while (b < whole && keys[base + b] === key[off + b]) b++;
    if (b < whole) continue;
    const r = L & 7;
    if (r !== 0 && ((keys[base + whole]! ^ key[off + whole]!) & (0xff00 >> r) & 0xff) !== 0) continue;
    best = i;
    bestLen = L;
  }
  return best;
}

/** What a naive exact-match table pays per lookup: a 32-char string, then a hash probe. */
function latin1(b: Uint8Array, o: number): string {
  return String.fromCharCode(
    b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!, b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!,
    b[o + 8]!, b[o + 9]!, b[o + 10]!, b[o + 11]!, b[o + 12]!, b[o + 13]!, b[o + 14]!, b[o + 15]!,
    b[o + 16]!, b[o + 17]!, b[o + 18]!, b[o + 19]!, b[o + 20]!, b[o + 21]!, b[o + 22]!, b[o + 23]!,
    b[o + 24]!, b[o + 25]!, b[o + 26]!, b[o + 27]!, b[o + 28]!, b[o + 29]!, b[o + 30]!, b[o + 31]!,
  );
}

function gc(): void {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
}

function rss(): number {
  return process.memoryUsage().rss;
}

let sink = 0;
const rows: BenchRow[] = [];

for (const n of SIZES) {
  const big = n >= 1_000_000;
  const p = makePrefixes(n, 0x5e12 + n);
  const rand = randomKeys(LOOKUP_KEYS, 0xa11ce + n);
  const under = underKeys(p, LOOKUP_KEYS, 0xb0b + n);

  // Memory: the trie's own estimate, with the process RSS delta as a cross-check.
  gc();
  const rss0 = rss();
  const t = build(p);
  gc();
  const rssDelta = rss() - rss0;
  const bytesPerPrefix = t.memoryBytes() / t.size;
  const memExtra = {
    prefixes: n,
    stored: t.size,
    nodes: t.nodeCount,
    "B/prefix": Math.round(bytesPerPrefix),
    "rss B/prefix": Math.round(rssDelta / t.size),
  };

  rows.push(
    measure(`lpm insert ${n}`, () => {
      sink += build(p).size;
    }, { opsPerCall: n, rounds: big ? 3 : 5, roundMs: 200, extra: memExtra }),
  );
  gc();

  const lookupRow = (name: string, keys: Uint8Array, count: number, rounds = 7): BenchRow =>
    measure(name, () => {
      let s = 0;
      for (let o = 0; o < count * KEY; o += KEY) s += t.longestMatch(keys, o) ?? -1;
      sink += s;
    }, { opsPerCall: count, rounds, extra: { prefixes: n } });

  rows.push(lookupRow(`lpm lookup random ${n}`, rand, LOOKUP_KEYS));
  rows.push(lookupRow(`lpm lookup under-prefix ${n}`, under, LOOKUP_KEYS));
  rows.push(
    measure(`lpm lookupBits under-prefix ${n}`, () => {
      let s = 0;
      for (let o = 0; o < LOOKUP_KEYS * KEY; o += KEY) s += t.longestMatchBits(under, o);
      sink += s;
    }, { opsPerCall: LOOKUP_KEYS, extra: { prefixes: n } }),
  );
  if (big) {
    const cold = underKeys(p, n, 0xc01d);
    rows.push(lookupRow(`lpm lookup under-prefix ${n} cold (${n} keys)`, cold, n, 3));
  }

  // Sanity: the trie agrees with the linear scan on a few keys.
  if (n <= 10_000) {
    for (let o = 0; o < 256 * KEY; o += KEY) {
      for (const keys of [rand, under]) {
        const want = linearLookup(p, keys, o);
        const got = t.longestMatchBits(keys, o);
        if (got !== (want < 0 ? -1 : p.bits[want]!)) throw new Error(`Mismatch at key ${o / KEY}: ${got} vs ${want}`);
      }
    }
    // Linear scan baseline: 64 keys per call, fewer and shorter rounds.
    const LIN = 64;
    for (const [label, keys] of [["random", rand], ["under-prefix", under]] as const) {
      rows.push(
        measure(`linear scan ${label} ${n}`, () => {
          let s = 0;
          for (let o = 0; o < LIN * KEY; o += KEY) s += linearLookup(p, keys, o);
          sink += s;
        }, { opsPerCall: LIN, rounds: 3, roundMs: 100, extra: { prefixes: n } }),
      );
    }
  }

  // Map exact-match baseline: n full 32-byte keys, looked up by 4096 of them (hits).
  const m = new Map<string, number>();
  const mapSet = measure(`Map set (latin1 key) ${n}`, () => {
    m.clear();
    for (let i = 0; i < n; i++) m.set(latin1(p.keys, i * KEY), i);
  }, { opsPerCall: n, rounds: big ? 3 : 5, extra: { prefixes: n } });
  rows.push(mapSet);
  const hitRnd = mulberry32(0xfeed + n);
  const hits = new Uint8Array(LOOKUP_KEYS * KEY);
  for (let j = 0; j < LOOKUP_KEYS; j++) {
    const i = hitRnd() % n;
    hits.set(p.keys.subarray(i * KEY, (i + 1) * KEY), j * KEY);
  }
  rows.push(
    measure(`Map get (latin1 key) ${n}`, () => {
      let s = 0;
      for (let o = 0; o < LOOKUP_KEYS * KEY; o += KEY) s += m.get(latin1(hits, o)) ?? -1;
      sink += s;
    }, { opsPerCall: LOOKUP_KEYS, extra: { prefixes: n } }),
  );
  m.clear();
  gc();
}

report("LpmTrie (256-bit longest-prefix match)", rows);
if (sink === 0.5) console.log(sink);

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { LpmTrie } from "./lpm_trie.ts";

// ---------------------------------------------------------------------------
// Helpers and a linear-scan oracle

/** A 32-byte key from leading bytes (rest zero). */
function k(...bytes: number[]): Uint8Array {
  const out = new Uint8Array(32);
  out.set(bytes);
  return out;
}

function mask(key: Uint8Array, bits: number, keyOff = 0): Uint8Array {
  const out = new Uint8Array(32);
  const nb = (bits + 7) >> 3;
  for (let i = 0; i < nb; i++) out[i] = key[keyOff + i]!;
  if (bits & 7) out[nb - 1] = out[nb - 1]! & (0xff00 >> (bits & 7));
  return out;
}

function matches(prefix: Uint8Array, bits: number, key: Uint8Array, keyOff = 0): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (key[keyOff + i] !== prefix[i]) return false;
  const r = bits & 7;
  return r === 0 || (key[keyOff + whole]! & (0xff00 >> r) & 0xff) === prefix[whole];
}

/** Flips bit `bit` (0 = MSB of byte 0) of a copy of `key`. */
function flip(key: Uint8Array, bit: number): Uint8Array {
  const out = key.slice();
  out[bit >> 3] = out[bit >> 3]! ^ (0x80 >> (bit & 7));
  return out;
}

class Oracle<V> {
  readonly rows = new Map<string, { prefix: Uint8Array; bits: number; value: V }>();
  static id(prefix: Uint8Array, bits: number): string {
    return `${bits}:${[...prefix].join(",")}`;
  }
  insert(key: Uint8Array, bits: number, value: V): void {
    const prefix = mask(key, bits);
    this.rows.set(Oracle.id(prefix, bits), { prefix, bits, value });
  }
  remove(key: Uint8Array, bits: number): boolean {
    return this.rows.delete(Oracle.id(mask(key, bits), bits));
  }
  get(key: Uint8Array, bits: number): V | undefined {
    return this.rows.get(Oracle.id(mask(key, bits), bits))?.value;
  }
  /** All matches, longest first. */
  matchesOf(key: Uint8Array): [V, number][] {
    const out: [V, number][] = [];
    for (const r of this.rows.values()) if (matches(r.prefix, r.bits, key)) out.push([r.value, r.bits]);
    return out.sort((a, b) => b[1] - a[1]);
  }
}

function allMatches<V>(t: LpmTrie<V>, key: Uint8Array, keyOff = 0): [V, number][] {
  const out: [V, number][] = [];
  t.forEachMatch(key, keyOff, (v, bits) => {
    out.push([v, bits]);
  });
  return out;
}

/** Checks every lookup API of `t` against the oracle for `key`. */
function checkKey<V>(t: LpmTrie<V>, o: Oracle<V>, key: Uint8Array): void {
  const want = o.matchesOf(key);
  const got = allMatches(t, key);
  expect(got).toEqual(want);
  expect(t.longestMatchBits(key)).toBe(want.length === 0 ? -1 : want[0]![1]);
  expect(t.longestMatch(key)).toBe(want.length === 0 ? undefined : want[0]![0]);
  // Same answer with the key at an offset inside a bigger buffer.
  const buf = new Uint8Array(45);
  buf.set(key, 13);
  expect(t.longestMatchBits(buf, 13)).toBe(want.length === 0 ? -1 : want[0]![1]);
}

// ---------------------------------------------------------------------------

describe("LpmTrie", () => {
  test("empty trie matches nothing", () => {
    const t = new LpmTrie<string>();
    expect(t.longestMatch(k())).toBeUndefined();
    expect(t.longestMatchBits(k())).toBe(-1);
    expect(allMatches(t, k())).toEqual([]);
    expect(t.size).toBe(0);
    expect(t.nodeCount).toBe(0);
    expect(t.remove(k(), 0)).toBe(false);
    expect(t.get(k(), 0)).toBeUndefined();
    expect([...t.entries()]).toEqual([]);
  });

  test("default route /0 matches every key and needs no key bytes", () => {
    const t = new LpmTrie<string>();
    t.insert(new Uint8Array(0), 0, "default");
    for (const key of [k(), k(0xff), new Uint8Array(32).fill(0xff), k(1, 2, 3)]) {
      expect(t.longestMatch(key)).toBe("default");
      expect(t.longestMatchBits(key)).toBe(0);
    }
    expect(t.get(k(0xab), 0)).toBe("default");
    expect(t.nodeCount).toBe(1);
    expect(t.remove(k(0x12), 0)).toBe(true);
    expect(t.longestMatch(k())).toBeUndefined();
    expect(t.nodeCount).toBe(0);
  });

  test("/256 matches only its own key", () => {
    const t = new LpmTrie<string>();
    const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
    t.insert(key, 256, "host");
    expect(t.longestMatch(key)).toBe("host");
    expect(t.longestMatchBits(key)).toBe(256);
    for (const bit of [0, 7, 100, 248, 255]) expect(t.longestMatch(flip(key, bit))).toBeUndefined();
    t.insert(key, 255, "/255");
    expect(t.longestMatch(flip(key, 255))).toBe("/255");
    expect(t.longestMatch(key)).toBe("host");
    expect(t.get(key, 256)).toBe("host");
    expect(t.get(flip(key, 255), 256)).toBeUndefined();
  });

  test("/1 splits the key space in halves", () => {
    const t = new LpmTrie<string>();
    t.insert(k(0x80), 1, "upper");
    t.insert(k(0x00), 1, "lower");
    expect(t.longestMatch(k(0xff))).toBe("upper");
    expect(t.longestMatch(k(0x80))).toBe("upper");
    expect(t.longestMatch(k(0x7f))).toBe("lower");
    expect(t.longestMatchBits(k(0x01))).toBe(1);
  });

  test("overlapping prefixes at every length 0..256 of one key", () => {
    const t = new LpmTrie<number>();
    const key = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 255);
    for (let bits = 0; bits <= 256; bits++) t.insert(key, bits, bits);
    expect(t.size).toBe(257);
    expect(t.longestMatch(key)).toBe(256);
    // Flipping bit i leaves exactly the prefixes of length <= i matching.
    for (let bit = 0; bit < 256; bit++) {
      const probe = flip(key, bit);
      expect(t.longestMatch(probe)).toBe(bit);
      const lens = allMatches(t, probe).map(([, b]) => b);
      expect(lens).toEqual(Array.from({ length: bit + 1 }, (_, i) => bit - i));
    }
    // Remove every other length; each key falls back to the next shorter one.
    for (let bits = 1; bits <= 256; bits += 2) expect(t.remove(key, bits)).toBe(true);
    for (let bit = 0; bit < 256; bit++) expect(t.longestMatch(flip(key, bit))).toBe(bit & ~1);
    expect(t.longestMatch(key)).toBe(256);
    for (let bits = 0; bits <= 256; bits += 2) expect(t.remove(key, bits)).toBe(true);
    expect(t.size).toBe(0);
    expect(t.nodeCount).toBe(0);
  });

  test("sub-byte prefixes inside one node: all 510 of the first byte", () => {
    const t = new LpmTrie<string>();
    for (let bits = 1; bits <= 8; bits++) {
      for (let v = 0; v < 1 << bits; v++) t.insert(k(v << (8 - bits)), bits, `${v}/${bits}`);
    }
    expect(t.size).toBe(510);
    expect(t.nodeCount).toBe(1);
    for (let b = 0; b < 256; b++) expect(t.longestMatch(k(b))).toBe(`${b}/8`);
    // Remove all /8 and /7: /6 takes over.
    for (let b = 0; b < 256; b++) t.remove(k(b), 8);
    for (let b = 0; b < 128; b++) t.remove(k(b << 1), 7);
    for (let b = 0; b < 256; b++) expect(t.longestMatch(k(b))).toBe(`${b >> 2}/6`);
  });

  test("insert replaces the value of an equal prefix, ignoring masked bits", () => {
    const t = new LpmTrie<string>();
    t.insert(k(0x12, 0x34), 12, "a");
    t.insert(k(0x12, 0x3f), 12, "b");
    expect(t.size).toBe(1);
    expect(t.get(k(0x12, 0x30), 12)).toBe("b");
    // Same for a leaf (deep prefix alone below a root slot).
    t.insert(k(0x50, 1, 2, 3), 30, "c");
    t.insert(k(0x50, 1, 2, 0), 30, "d");
    expect(t.size).toBe(2);
    expect(t.longestMatch(k(0x50, 1, 2, 3))).toBe("d");
    const entry = [...t.entries()].find(([, bits]) => bits === 30)!;
    expect([...entry[0].subarray(0, 4)]).toEqual([0x50, 1, 2, 0]);
  });

  test("removal restores the covering prefix in the same node", () => {
    const t = new LpmTrie<string>();
    t.insert(k(0x0a, 0x80), 9, "/9");
    t.insert(k(0x0a, 0xf0), 12, "/12");
    t.insert(k(0x0a, 0xf5), 16, "/16");
    expect(t.longestMatch(k(0x0a, 0xf5))).toBe("/16");
    expect(t.longestMatch(k(0x0a, 0xf6))).toBe("/12");
    expect(t.longestMatch(k(0x0a, 0x81))).toBe("/9");
    expect(t.remove(k(0x0a, 0xf0), 12)).toBe(true);
    expect(t.longestMatch(k(0x0a, 0xf6))).toBe("/9");
    expect(t.longestMatch(k(0x0a, 0xf5))).toBe("/16");
    expect(t.remove(k(0x0a, 0xf5), 16)).toBe(true);
    expect(t.longestMatch(k(0x0a, 0xf5))).toBe("/9");
    expect(t.longestMatch(k(0x0a, 0x7f))).toBeUndefined();
    expect(t.remove(k(0x0a, 0xf5), 16)).toBe(false);
    expect(t.remove(k(0x0a, 0x80), 9)).toBe(true);
    expect(t.nodeCount).toBe(0);
  });

  test("path compression: deep prefixes share a node at their first differing byte", () => {
    const t = new LpmTrie<string>();
    const a = new Uint8Array(32).fill(0x11);
    const b = a.slice();
    b[10] = 0x22;
    t.insert(a, 200, "a");
    expect(t.nodeCount).toBe(1); // root, with a leaf
    t.insert(b, 200, "b");
    expect(t.nodeCount).toBe(2); // root + node at depth 10
    expect(t.longestMatch(a)).toBe("a");
    expect(t.longestMatch(b)).toBe("b");
    // A key that differs inside the skipped range (bytes 1..9) matches neither.
    expect(t.longestMatch(flip(a, 40))).toBeUndefined();
    // A prefix owned at depth 4, inside the skipped range, splits in a node.
    t.insert(a, 37, "a/37");
    expect(t.nodeCount).toBe(3);
    expect(t.longestMatch(flip(a, 37))).toBe("a/37");
    expect(t.longestMatch(flip(a, 36))).toBeUndefined();
    expect(t.longestMatch(a)).toBe("a");
    // A prefix diverging at byte 7 (inside 5..9) splits again.
    const c = a.slice();
    c[7] = 0x99;
    t.insert(c, 100, "c");
    expect(t.nodeCount).toBe(4);
    expect(t.longestMatch(c)).toBe("c");
    expect(t.longestMatch(a)).toBe("a");
    expect(t.longestMatch(flip(c, 99))).toBe("a/37");
    expect(allMatches(t, c).map(([v]) => v)).toEqual(["c", "a/37"]);
    // Removal splices the split nodes back out.
    expect(t.remove(c, 100)).toBe(true);
    expect(t.nodeCount).toBe(3);
    expect(t.remove(a, 37)).toBe(true);
    expect(t.nodeCount).toBe(2);
    expect(t.longestMatch(a)).toBe("a");
    expect(t.longestMatch(b)).toBe("b");
    expect(t.longestMatch(flip(a, 40))).toBeUndefined();
    expect(t.remove(a, 200)).toBe(true);
    expect(t.nodeCount).toBe(1); // root with leaf b
    expect(t.longestMatch(b)).toBe("b");
    expect(t.remove(b, 200)).toBe(true);
    expect(t.nodeCount).toBe(0);
  });

  test("exact get misses a prefix owned inside a skipped range", () => {
    const t = new LpmTrie<string>();
    const a = new Uint8Array(32).fill(0x33);
    const b = a.slice();
    b[20] = 0;
    t.insert(a, 256, "a");
    t.insert(b, 256, "b");
    expect(t.get(a, 80)).toBeUndefined();
    expect(t.has(a, 80)).toBe(false);
    expect(t.remove(a, 80)).toBe(false);
    expect(t.get(flip(a, 100), 256)).toBeUndefined();
    expect(t.remove(flip(a, 100), 256)).toBe(false);
    expect(t.size).toBe(2);
  });

  test("leaf splits: a leaf and a new prefix owned at the same or other depths", () => {
    const t = new LpmTrie<string>();
    t.insert(k(1, 2, 3, 4), 32, "leaf/32");
    // Owned at depth 1, above the leaf: the leaf moves into a new node's slot.
    t.insert(k(1, 2), 12, "/12");
    expect(t.longestMatch(k(1, 2, 3, 4))).toBe("leaf/32");
    expect(t.longestMatch(k(1, 2, 3, 5))).toBe("/12");
    // Same owner depth (3) as the leaf: both internal in one node.
    t.insert(k(1, 2, 3, 0x80), 25, "/25");
    expect(t.longestMatch(k(1, 2, 3, 0xff))).toBe("/25");
    expect(t.longestMatch(k(1, 2, 3, 4))).toBe("leaf/32");
    expect(t.longestMatch(k(1, 2, 3, 5))).toBe("/12");
    // Deeper than the leaf at a new depth: the leaf becomes internal above it.
    t.insert(k(9, 9, 9, 9), 26, "leaf/26");
    t.insert(k(9, 9, 9, 9, 9, 9), 48, "/48");
    expect(t.longestMatch(k(9, 9, 9, 9, 9, 9))).toBe("/48");
    expect(t.longestMatch(k(9, 9, 9, 9, 9, 8))).toBe("leaf/26");
    expect(t.longestMatch(k(9, 9, 9, 0xc0))).toBeUndefined();
    expect(t.size).toBe(5);
    for (const [p, bits] of [...t.entries()]) expect(t.remove(p, bits)).toBe(true);
    expect(t.nodeCount).toBe(0);
  });

  test("a node with many children grows and shrinks back", () => {
    // 40 host routes that differ only in byte 5, under one /40 and one /48:
    // the node at depth 5 goes through every size as children come and go.
    const t = new LpmTrie<number>();
    const o = new Oracle<number>();
    const base = new Uint8Array(32).map((_, i) => i + 100);
    const host = (b: number): Uint8Array => {
      const key = base.slice();
      key[5] = b * 6;
      return key;
    };
    const check = (): void => {
      for (let b = 0; b < 256; b += 3) {
        const key = base.slice();
        key[5] = b;
        checkKey(t, o, key);
      }
      for (let b = 0; b < 40; b++) checkKey(t, o, host(b));
    };
    for (let b = 0; b < 40; b++) {
      t.insert(host(b), 256, b);
      o.insert(host(b), 256, b);
      if (b % 5 === 0) check();
    }
    check();
    t.insert(base, 40, 1000);
    o.insert(base, 40, 1000);
    t.insert(base, 48, 1001);
    o.insert(base, 48, 1001);
    check();
    for (let b = 0; b < 38; b++) {
      expect(t.remove(host(b), 256)).toBe(true);
      o.remove(host(b), 256);
      if (b % 3 === 0) check();
    }
    expect(t.remove(base, 48)).toBe(true);
    o.remove(base, 48);
    check();
    expect(t.remove(base, 40)).toBe(true);
    o.remove(base, 40);
    check();
    // Two hosts left: the root and one node.
    expect(t.nodeCount).toBe(2);
    for (let b = 0; b < 40; b++) t.insert(host(b), 256, b);
    for (let b = 0; b < 40; b++) t.remove(host(b), 256);
    expect(t.nodeCount).toBe(0);
  });

  test("get, has, entries, size and clear", () => {
    const t = new LpmTrie<number | undefined>();
    t.insert(k(7), 8, 7);
    t.insert(k(7, 7), 16, undefined);
    t.insert(k(), 0, 0);
    expect(t.size).toBe(3);
    expect(t.get(k(7), 8)).toBe(7);
    expect(t.get(k(7), 7)).toBeUndefined();
    expect(t.has(k(7, 7), 16)).toBe(true);
    expect(t.get(k(7, 7), 16)).toBeUndefined();
    expect(t.has(k(7, 8), 16)).toBe(false);
    const entries = [...t.entries()].map(([p, bits, v]) => [p.length, p[0], p[1], bits, v]);
    entries.sort((a, b) => a[3]! - b[3]!);
    expect(entries).toEqual([
      [32, 0, 0, 0, 0],
      [32, 7, 0, 8, 7],
      [32, 7, 7, 16, undefined],
    ]);
    expect(t.memoryBytes()).toBeGreaterThan(0);
    t.clear();
    expect([t.size, t.nodeCount, [...t.entries()].length]).toEqual([0, 0, 0]);
    expect(t.longestMatch(k(7, 7))).toBeUndefined();
    t.insert(k(7, 7), 16, 1);
    expect(t.longestMatch(k(7, 7))).toBe(1);
  });

  test("RangeError on bad lengths, offsets and short keys", () => {
    const t = new LpmTrie<number>();
    expect(() => t.insert(k(), 300, 1)).toThrow(new RangeError("Cannot insert prefix: length is 300, must be 0..256"));
    expect(() => t.insert(k(), -1, 1)).toThrow(RangeError);
    expect(() => t.insert(k(), 1.5, 1)).toThrow(RangeError);
    expect(() => t.insert(k(), Number.NaN, 1)).toThrow(RangeError);
    expect(() => t.insert(new Uint8Array(3), 30, 1)).toThrow(
      new RangeError("Cannot insert prefix: key has 3 bytes after offset 0, needs 4 for length 30"),
    );
    expect(() => t.insert(new Uint8Array(4), 30, 1, 1)).toThrow(RangeError);
    expect(() => t.insert(k(), 8, 1, -1)).toThrow(
      new RangeError("Cannot insert prefix: key offset is -1, must be a non-negative integer"),
    );
    expect(() => t.remove(k(), 257)).toThrow(new RangeError("Cannot remove prefix: length is 257, must be 0..256"));
    expect(() => t.get(k(), 257)).toThrow(RangeError);
    expect(() => t.has(k(), 257)).toThrow(RangeError);
    expect(() => t.longestMatch(new Uint8Array(31))).toThrow(
      new RangeError("Cannot look up key: key has 31 bytes after offset 0, needs 32"),
    );
    expect(() => t.longestMatch(k(), 1)).toThrow(RangeError);
    expect(() => t.longestMatchBits(k(), 0.5)).toThrow(RangeError);
    expect(() => t.forEachMatch(k(), -1, () => {})).toThrow(RangeError);
    expect(t.size).toBe(0);
    expect(t.nodeCount).toBe(0);
  });

  test("keyOff selects the key inside a larger buffer", () => {
    const t = new LpmTrie<string>();
    const frame = new Uint8Array(100).fill(0xee);
    frame.set([0xab, 0xcd, 0xef], 40);
    t.insert(frame, 20, "abcde/20", 40);
    expect(t.get(k(0xab, 0xcd, 0xe0), 20)).toBe("abcde/20");
    expect(t.longestMatch(frame, 40)).toBe("abcde/20");
    expect(t.longestMatch(frame, 41)).toBeUndefined();
    expect(t.longestMatch(frame, 68)).toBeUndefined();
    expect(() => t.longestMatch(frame, 69)).toThrow(RangeError);
    expect(t.has(frame, 20, 40)).toBe(true);
    expect(t.remove(frame, 20, 40)).toBe(true);
  });

  test("forEachMatch stops on false, allows nested reads, rejects mutation", () => {
    const t = new LpmTrie<number>();
    const key = k(0xf0, 0x0f, 0xff);
    for (const bits of [0, 4, 8, 12, 20, 24, 200]) t.insert(key, bits, bits);
    const seen: number[] = [];
    t.forEachMatch(key, 0, (v) => {
      seen.push(v);
      return v > 12;
    });
    expect(seen).toEqual([200, 24, 20, 12]);
    const nested: number[][] = [];
    t.forEachMatch(key, 0, (v) => {
      nested.push(allMatches(t, flip(key, 10)).map(([x]) => x));
      return v !== 24;
    });
    expect(nested).toEqual([
      [8, 4, 0],
      [8, 4, 0],
    ]);
    expect(() => t.forEachMatch(key, 0, () => t.insert(k(1), 8, 1))).toThrow(/modified by the callback/);
  });

  test("nodes are freed after removing everything (many prefixes)", () => {
    const t = new LpmTrie<number>();
    const rnd = lcg(99);
    const prefixes: [Uint8Array, number][] = [];
    for (let i = 0; i < 3000; i++) {
      const key = new Uint8Array(32).map(() => rnd() & 3); // dense: many shared bytes
      prefixes.push([key, rnd() % 257]);
    }
    for (const [key, bits] of prefixes) t.insert(key, bits, bits);
    expect(t.nodeCount).toBeGreaterThan(10);
    for (const [key, bits] of prefixes) t.remove(key, bits);
    expect(t.size).toBe(0);
    expect(t.nodeCount).toBe(0);
  });

  test("matches a linear-scan oracle on 4000 clustered prefixes", () => {
    const rnd = lcg(7);
    const t = new LpmTrie<number>();
    const o = new Oracle<number>();
    const bases = Array.from({ length: 4 }, () => new Uint8Array(32).map(() => rnd() & 255));
    const make = (): [Uint8Array, number] => {
      const key = bases[rnd() % bases.length]!.slice();
      const cut = rnd() % 2 === 0 ? rnd() % 33 : [2, 9, 30][rnd() % 3]!;
      for (let i = cut; i < 32; i++) key[i] = rnd() & 255;
      const bits = rnd() % 3 === 0 ? rnd() % 257 : Math.max(0, Math.min(256, cut * 8 + (rnd() % 25) - 12));
      return [key, bits];
    };
    const live: [Uint8Array, number][] = [];
    for (let i = 0; i < 4000; i++) {
      const [key, bits] = make();
      t.insert(key, bits, i);
      o.insert(key, bits, i);
      live.push([key, bits]);
      if (i % 3 === 2) {
        const [rk, rb] = live[rnd() % live.length]!;
        expect(t.remove(rk, rb)).toBe(o.remove(rk, rb));
      }
    }
    expect(t.size).toBe(o.rows.size);
    for (let i = 0; i < 1500; i++) {
      const [key] = make();
      checkKey(t, o, key);
      const [lk, lb] = live[rnd() % live.length]!;
      const under = lk.slice();
      for (let j = (lb + 7) >> 3; j < 32; j++) under[j] = rnd() & 255;
      checkKey(t, o, under);
      expect(t.get(lk, lb)).toBe(o.get(lk, lb));
    }
    for (const [key, bits] of live) t.remove(key, bits);
    expect(t.size).toBe(0);
    expect(t.nodeCount).toBe(0);
  });

  test("property: random insert/remove sequences agree with the oracle", () => {
    const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
    const spec = fc.record({
      base: fc.nat(),
      cut: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(3, 17)),
      tail: bytes32,
      bits: fc.oneof(
        fc.integer({ min: 0, max: 256 }),
        fc.constantFrom(0, 1, 7, 8, 9, 128, 255, 256),
        fc.integer({ min: -12, max: 12 }).map((d) => ({ near: d })),
      ),
    });
    const op = fc.record({ remove: fc.boolean(), idx: fc.nat(), value: fc.integer() });
    fc.assert(
      fc.property(
        fc.array(bytes32, { minLength: 1, maxLength: 4 }),
        fc.array(spec, { minLength: 1, maxLength: 40 }),
        fc.array(op, { minLength: 1, maxLength: 80 }),
        fc.array(fc.record({ idx: fc.nat(), tail: bytes32, random: fc.boolean() }), { maxLength: 12 }),
        (bases, specs, ops, probes) => {
          const pool = specs.map((s): [Uint8Array, number] => {
            const key = bases[s.base % bases.length]!.slice();
            key.set(s.tail.subarray(s.cut), s.cut);
            const bits = typeof s.bits === "number" ? s.bits : Math.max(0, Math.min(256, s.cut * 8 + s.bits.near));
            return [key, bits];
          });
          const t = new LpmTrie<number>();
          const o = new Oracle<number>();
          const check = (): void => {
            for (const p of probes) {
              const [key, bits] = pool[p.idx % pool.length]!;
              const probe = p.random ? p.tail : key.slice();
              if (!p.random) probe.set(p.tail.subarray((bits + 7) >> 3), (bits + 7) >> 3);
              checkKey(t, o, probe);
              checkKey(t, o, key);
            }
            for (const [key, bits] of pool) {
              expect(t.get(key, bits)).toBe(o.get(key, bits));
              expect(t.has(key, bits)).toBe(o.get(key, bits) !== undefined);
            }
            expect(t.size).toBe(o.rows.size);
          };
          ops.forEach((x, i) => {
            const [key, bits] = pool[x.idx % pool.length]!;
            if (x.remove) expect(t.remove(key, bits)).toBe(o.remove(key, bits));
            else {
              t.insert(key, bits, x.value);
              o.insert(key, bits, x.value);
            }
            if (i % 8 === 7) check();
          });
          check();
          const got = [...t.entries()].map(([p, bits, v]) => Oracle.id(p, bits) + "=" + v).sort();
          const want = [...o.rows.entries()].map(([id, r]) => id + "=" + r.value).sort();
          expect(got).toEqual(want);
          for (const [key, bits] of pool) t.remove(key, bits);
          expect(t.size).toBe(0);
          expect(t.nodeCount).toBe(0);
        },
      ),
      { seed: 42, numRuns: 2000 },
    );
  });
});

/** A small deterministic PRNG for bulk tests (returns 31-bit integers). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 1;
  };
}

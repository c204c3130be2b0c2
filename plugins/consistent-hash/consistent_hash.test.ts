import { describe, expect, test } from "bun:test";
import { SeededRandom } from "@serval/sal";
import type { Target } from "@serval/sal";
import { makeSet, makeTarget, runActionPluginSuite, touch } from "../../test/compliance/action_plugin.ts";
import { consistentHash, populate } from "./consistent_hash.ts";

runActionPluginSuite({ name: "consistent-hash", make: (random) => consistentHash({ tableSize: 1009 })({ random }), targetType: "forward" });
runActionPluginSuite({ name: "consistent-hash (demux)", make: (random) => consistentHash({ tableSize: 1009 })({ random }), targetType: "demux" });

const KEY = new Uint8Array(32);
const KEYS = 100_000;

function keys(seed: number): Uint32Array {
  const r = new SeededRandom(seed);
  return Uint32Array.from({ length: KEYS }, () => r.nextU32());
}

function assign(targets: Target[], flowKeys: Uint32Array): (Target | undefined)[] {
  const plugin = consistentHash()({ random: new SeededRandom(1) });
  const set = makeSet(plugin, targets);
  return Array.from(flowKeys, (k) => {
    const v = plugin.resolve(0, set, { flowKey: k, packetLen: 1 }, KEY, 0);
    return v.kind === "forward" || v.kind === "demux" ? v.target : undefined;
  });
}

describe("consistentHash()", () => {
  const N = 10;
  const flowKeys = keys(99);
  const base = Array.from({ length: N }, (_, i) => makeTarget("forward", i + 1));

  test("removing one of N targets remaps about 1/N of keys", () => {
    const before = assign(base, flowKeys);
    const after = assign(base.filter((_, i) => i !== 3), flowKeys);
    let moved = 0;
    for (let i = 0; i < KEYS; i++) if (before[i] !== after[i]) moved++;
    expect(moved / KEYS).toBeLessThanOrEqual(1 / N + 0.05);
    // Keys of the other targets mostly stay.
    for (let i = 0; i < KEYS; i++) if (before[i] === base[3]) expect(after[i]).not.toBe(base[3]);
  });

  test("adding one target remaps about 1/(N+1) of keys", () => {
    const before = assign(base, flowKeys);
    const after = assign([...base, makeTarget("forward", 77)], flowKeys);
    let moved = 0;
    for (let i = 0; i < KEYS; i++) if (before[i] !== after[i]) moved++;
    expect(moved / KEYS).toBeLessThanOrEqual(1 / (N + 1) + 0.05);
    expect(moved / KEYS).toBeGreaterThan(0.5 / (N + 1));
  });

  test("distribution follows weights within 3 points", () => {
    const weights = [1, 2, 3, 4];
    const targets = weights.map((w, i) => makeTarget("demux", i + 1, w));
    const got = assign(targets, flowKeys);
    for (let i = 0; i < targets.length; i++) {
      const share = got.filter((t) => t === targets[i]).length / KEYS;
      expect(Math.abs(share - weights[i]! / 10)).toBeLessThan(0.03);
    }
  });

  test("a flow sticks to its target across resolutions", () => {
    const plugin = consistentHash({ tableSize: 251 })({ random: new SeededRandom(1) });
    const set = makeSet(plugin, base.slice());
    const first = plugin.resolve(0, set, { flowKey: 123456, packetLen: 1 }, KEY, 0);
    for (let i = 0; i < 10; i++) expect(plugin.resolve(i, set, { flowKey: 123456, packetLen: 1 }, KEY, 0)).toBe(first);
  });

  test("rebuilds when the set's version changes", () => {
    const plugin = consistentHash({ tableSize: 251 })({ random: new SeededRandom(1) });
    const set = makeSet(plugin, [makeTarget("demux", 1)]);
    expect(plugin.resolve(0, set, { flowKey: 5, packetLen: 1 }, KEY, 0)).toBe(set.targets[0]!.verdict);
    set.targets = [makeTarget("demux", 2)];
    touch(set);
    expect(plugin.resolve(0, set, { flowKey: 5, packetLen: 1 }, KEY, 0)).toBe(set.targets[0]!.verdict);
  });

  test("populate fills every slot with a valid index", () => {
    const t = populate([makeTarget("demux", 1, 3), makeTarget("demux", 2, 1)], 101);
    expect(t.every((i) => i === 0 || i === 1)).toBe(true);
    const light = t.filter((i) => i === 1).length;
    expect(light === 25 || light === 26).toBe(true);
  });

  test("rejects a table size that is not prime", () => {
    expect(() => consistentHash({ tableSize: 65536 })).toThrow(RangeError);
    expect(() => consistentHash({ tableSize: 65536 })).toThrow('Cannot create consistent-hash plugin: table size is 65536, must be a prime in 3..16777213');
  });
});

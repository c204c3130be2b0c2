import { describe, expect, test } from "bun:test";
import { SeededRandom } from "@serval/sal";
import { makeSet, makeTarget, runActionPluginSuite, touch } from "../../test/compliance/action_plugin.ts";
import { roundRobin } from "./round_robin.ts";

runActionPluginSuite({ name: "round-robin", make: (random) => roundRobin()({ random }), targetType: "forward" });

describe("roundRobin()", () => {
  const KEY = new Uint8Array(32);
  const picks = (weights: number[], n: number) => {
    const plugin = roundRobin()({ random: new SeededRandom(1) });
    const set = makeSet(plugin, weights.map((w, i) => makeTarget("demux", i, w)));
    return Array.from({ length: n }, () => {
      const v = plugin.resolve(0, set, { flowKey: 0, packetLen: 1 }, KEY, 0);
      return v.kind === "demux" ? v.target.listener : -1;
    });
  };

  test("weights 5,1,1 give the nginx sequence a a b a c a a", () => {
    expect(picks([5, 1, 1], 7)).toEqual([0, 0, 1, 0, 2, 0, 0]);
  });

  test("every window of totalWeight picks matches the weights exactly", () => {
    const p = picks([3, 2, 1], 60);
    for (let w = 0; w < 60; w += 6) {
      const win = p.slice(w, w + 6);
      expect([0, 1, 2].map((i) => win.filter((x) => x === i).length)).toEqual([3, 2, 1]);
    }
  });

  test("restarts cleanly after the set changes", () => {
    const plugin = roundRobin()({ random: new SeededRandom(1) });
    const set = makeSet(plugin, [makeTarget("demux", 0), makeTarget("demux", 1)]);
    plugin.resolve(0, set, { flowKey: 0, packetLen: 1 }, KEY, 0);
    set.targets.push(makeTarget("demux", 2));
    touch(set);
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const v = plugin.resolve(0, set, { flowKey: 0, packetLen: 1 }, KEY, 0);
      if (v.kind === "demux") seen.add(v.target.listener!);
    }
    expect(seen.size).toBe(3);
  });
});

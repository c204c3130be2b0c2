import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ServiceId, ServicePrefix } from "@serval/wire";
import type { Verdict } from "./action_plugin.ts";
import { SeededRandom } from "./random_source.ts";
import { ServiceTable } from "./service_table.ts";
import type { TargetSpec } from "./service_table.ts";

const loc = (n: number, port = 0) => ({ address: new Uint8Array([198, 18, 0, n]), port });
const newTable = (seed = 1) => new ServiceTable({ random: new SeededRandom(seed) });
const P = (s: string) => ServicePrefix.parse(s);
const key = (s: string) => ServiceId.parse(s).bytes;
const req = { flowKey: 1, packetLen: 100 };
const listenerOf = (v: Verdict) => (v.kind === "demux" ? v.target.listener : undefined);
const portOf = (v: Verdict) => (v.kind === "forward" ? v.target.locator!.address[3] : undefined);

describe("ServiceTable.resolve() longest prefix", () => {
  test("picks the longest matching entry, falling back to the default /0", () => {
    const t = newTable();
    t.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(1) });
    t.addTarget(ServicePrefix.of(ServiceId.parse("web.example"), 8), { type: "forward", locator: loc(8) });
    t.addTarget(ServicePrefix.of(ServiceId.parse("web.example"), 24), { type: "forward", locator: loc(24) });
    expect(portOf(t.resolve(0, key("web.example"), 0, req, "any"))).toBe(24);
    const id = ServiceId.parse("web.example").bytes;
    id[2]! ^= 1; // differs at bit 23
    expect(portOf(t.resolve(0, id, 0, req, "any"))).toBe(8);
    id[0]! ^= 0x80;
    expect(portOf(t.resolve(0, id, 0, req, "any"))).toBe(1);
  });

  test("no entry gives no-match and counts it", () => {
    const t = newTable();
    expect(t.resolve(0, key("x"), 0, req, "any")).toEqual({ kind: "no-match" });
    expect(t.counters.noMatch).toBe(1);
    expect(t.counters.packetsDropped).toBe(1);
  });

  test("a short key or bad offset gives no-match, never a throw", () => {
    const t = newTable();
    t.addTarget(ServicePrefix.DEFAULT, { type: "drop" });
    expect(t.resolve(0, new Uint8Array(10), 0, req, "any").kind).toBe("no-match");
    expect(t.resolve(0, new Uint8Array(40), 9, req, "any").kind).toBe("no-match");
    expect(t.resolve(0, new Uint8Array(40), -1, req, "any").kind).toBe("no-match");
    expect(t.resolve(0, new Uint8Array(40), 0.5, req, "any").kind).toBe("no-match");
    expect(t.resolve(0, new Uint8Array(40), 8, req, "any").kind).toBe("drop");
  });

  test("a key inside a packet at an offset", () => {
    const t = newTable();
    t.addTarget(P("web.example/16"), { type: "demux", listener: 3 });
    const frame = new Uint8Array(100);
    frame.set(key("web.example"), 40);
    expect(listenerOf(t.resolve(0, frame, 40, req, "local"))).toBe(3);
  });
});

describe("ServiceTable.resolve() priorities and modes", () => {
  test("only the highest-priority set resolves", () => {
    const t = newTable();
    const p = P("web.example/16");
    t.addTarget(p, { type: "forward", locator: loc(1), priority: 1 });
    t.addTarget(p, { type: "forward", locator: loc(2), priority: 5 });
    for (let i = 0; i < 50; i++) expect(portOf(t.resolve(0, key("web.example"), 0, req, "any"))).toBe(2);
    expect(t.get(p)!.sets.map((s) => s.priority)).toEqual([5, 1]);
  });

  test("a DROP at a higher priority shadows forwards; removing it restores them", () => {
    const t = newTable();
    const p = P("web.example/16");
    t.addTarget(p, { type: "forward", locator: loc(1), priority: 1 });
    t.addTarget(p, { type: "drop", priority: 9 });
    expect(t.resolve(0, key("web.example"), 0, req, "any")).toEqual({ kind: "drop", reason: "drop-rule" });
    const dropT = t.get(p)!.sets[0]!.targets[0]!;
    expect(dropT.counters.packetsDropped).toBe(1);
    expect(dropT.counters.bytesDropped).toBe(100);
    t.removeTarget(p, { type: "drop" });
    expect(t.resolve(0, key("web.example"), 0, req, "any").kind).toBe("forward");
  });

  test("local mode: longest entry holding a demux target, demux targets only", () => {
    const t = newTable();
    t.addTarget(P("web.example/8"), { type: "demux", listener: 1 });
    t.addTarget(P("web.example/16"), { type: "forward", locator: loc(2) });
    t.addTarget(P("web.example/24"), { type: "drop" });
    expect(listenerOf(t.resolve(0, key("web.example"), 0, req, "local"))).toBe(1);
    expect(t.resolve(0, key("web.example"), 0, req, "any").kind).toBe("drop");
    expect(t.resolve(0, key("other"), 0, req, "local").kind).toBe("no-match");
  });

  test("local mode ignores forward targets sharing the demux set", () => {
    const t = newTable();
    const p = P("web.example/16");
    t.addTarget(p, { type: "forward", locator: loc(2), weight: 65535 });
    t.addTarget(p, { type: "demux", listener: 4 });
    for (let i = 0; i < 100; i++) {
      expect(listenerOf(t.resolve(0, key("web.example"), 0, { flowKey: i * 7777, packetLen: 1 }, "local"))).toBe(4);
    }
    // "any" mode resolves the mixed set with FORWARD's weighted random.
    const kinds = new Set(Array.from({ length: 50 }, () => t.resolve(0, key("web.example"), 0, req, "any").kind));
    expect(kinds.has("forward")).toBe(true);
  });

  test("local mode uses the highest set that holds a demux target", () => {
    const t = newTable();
    const p = P("web.example/16");
    t.addTarget(p, { type: "drop", priority: 10 });
    t.addTarget(p, { type: "demux", listener: 5, priority: 2 });
    t.addTarget(p, { type: "demux", listener: 6, priority: 1 });
    expect(listenerOf(t.resolve(0, key("web.example"), 0, req, "local"))).toBe(5);
    t.removeTarget(p, { type: "demux", listener: 5 });
    expect(listenerOf(t.resolve(0, key("web.example"), 0, req, "local"))).toBe(6);
  });

  test("DEMUX is consistent per flowKey", () => {
    const t = newTable();
    const p = P("web.example/16");
    for (let l = 1; l <= 4; l++) t.addTarget(p, { type: "demux", listener: l });
    for (let f = 0; f < 20; f++) {
      const r = { flowKey: (f * 2654435761) >>> 0, packetLen: 1 };
      const first = listenerOf(t.resolve(0, key("web.example"), 0, r, "local"));
      for (let i = 0; i < 5; i++) expect(listenerOf(t.resolve(0, key("web.example"), 0, r, "local"))).toBe(first);
    }
  });
});

describe("FORWARD weighted random", () => {
  test("splits 10,000 resolutions within 2 points of the weights", () => {
    const t = newTable(12345);
    const p = P("web.example/16");
    const weights = [1, 2, 3, 4];
    weights.forEach((w, i) => t.addTarget(p, { type: "forward", locator: loc(i + 1), weight: w }));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[portOf(t.resolve(0, key("web.example"), 0, req, "any"))! - 1]!++;
    weights.forEach((w, i) => expect(Math.abs(counts[i]! / 10_000 - w / 10)).toBeLessThan(0.02));
    // Counters agree with the verdicts.
    const set = t.get(p)!.sets[0]!;
    expect(set.targets.map((x) => x.counters.packetsResolved)).toEqual(counts);
    expect(t.get(p)!.counters.packetsResolved).toBe(10_000);
    expect(t.counters.bytesResolved).toBe(1_000_000);
  });

  test("is deterministic for a seed", () => {
    const run = () => {
      const t = newTable(7);
      for (let i = 1; i <= 3; i++) t.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(i) });
      return Array.from({ length: 100 }, () => portOf(t.resolve(0, key("a"), 0, req, "any")));
    };
    expect(run()).toEqual(run());
  });
});

describe("ServiceTable.addTarget() errors", () => {
  const p = P("web.example/16");
  test("weight 0 is a RangeError quoting the prefix", () => {
    expect(() => newTable().addTarget(p, { type: "demux", listener: 1, weight: 0 })).toThrow(
      new RangeError(`Cannot add target to "${p}": weight is 0, must be an integer in 1..65535`),
    );
    expect(() => newTable().addTarget(p, { type: "demux", listener: 1, weight: 65536 })).toThrow(RangeError);
    expect(() => newTable().addTarget(p, { type: "demux", listener: 1, weight: 1.5 })).toThrow(RangeError);
  });

  test("bad priorities", () => {
    expect(() => newTable().addTarget(p, { type: "drop", priority: -1 })).toThrow(RangeError);
    expect(() => newTable().addTarget(p, { type: "drop", priority: 2 ** 32 })).toThrow(RangeError);
  });

  test("locator and listener rules", () => {
    const t = newTable();
    expect(() => t.addTarget(p, { type: "forward" } as unknown as TargetSpec)).toThrow(TypeError);
    expect(() => t.addTarget(p, { type: "forward", locator: { address: new Uint8Array(5), port: 0 } })).toThrow(RangeError);
    expect(() => t.addTarget(p, { type: "forward", locator: { address: new Uint8Array(4), port: 70000 } })).toThrow(RangeError);
    expect(() => t.addTarget(p, { type: "demux" } as unknown as TargetSpec)).toThrow(TypeError);
    expect(() => t.addTarget(p, { type: "drop", locator: loc(1) } as unknown as TargetSpec)).toThrow(TypeError);
    expect(() => t.addTarget(p, { type: "delay", listener: 3 } as unknown as TargetSpec)).toThrow(TypeError);
    expect(() => t.addTarget(p, { type: "bogus" } as unknown as TargetSpec)).toThrow(TypeError);
    expect(t.size).toBe(0);
    // IPv6 locators are fine.
    t.addTarget(p, { type: "forward", locator: { address: new Uint8Array(16), port: 9 } });
    expect(t.size).toBe(1);
  });

  test("an equal target is a RangeError (forward by locator, demux by listener, drop/delay by type)", () => {
    const t = newTable();
    t.addTarget(p, { type: "forward", locator: loc(1) });
    expect(() => t.addTarget(p, { type: "forward", locator: loc(1), priority: 3 })).toThrow(RangeError);
    t.addTarget(p, { type: "forward", locator: loc(1, 80) }); // other port: another target
    t.addTarget(p, { type: "demux", listener: 1 });
    expect(() => t.addTarget(p, { type: "demux", listener: 1, weight: 5 })).toThrow(/already exists/);
    t.addTarget(p, { type: "drop", priority: 7 });
    expect(() => t.addTarget(p, { type: "drop", priority: 8 })).toThrow(RangeError);
  });

  test("DROP and DELAY stand alone at their priority", () => {
    const t = newTable();
    t.addTarget(p, { type: "forward", locator: loc(1), priority: 1 });
    expect(() => t.addTarget(p, { type: "drop", priority: 1 })).toThrow(/holds a forward target/);
    expect(() => t.addTarget(p, { type: "delay", priority: 1 })).toThrow(RangeError);
    t.addTarget(p, { type: "delay", priority: 2 });
    expect(() => t.addTarget(p, { type: "forward", locator: loc(2), priority: 2 })).toThrow(/holds a delay target/);
    expect(() => t.addTarget(p, { type: "drop", priority: 2 })).toThrow(RangeError);
    expect(t.get(p)!.sets.map((s) => s.targets.length)).toEqual([1, 1]);
  });

  test("unknown plugin, plugin on drop, plugin mismatch", () => {
    const t = newTable();
    expect(() => t.addTarget(p, { type: "demux", listener: 1, plugin: "@serval/plugin-nope" })).toThrow(/is not registered/);
    expect(() => t.addTarget(p, { type: "drop", plugin: "@serval/plugin-drop" })).toThrow(RangeError);
    t.addTarget(p, { type: "demux", listener: 1 });
    expect(() => t.addTarget(p, { type: "demux", listener: 2, plugin: "@serval/plugin-forward" })).toThrow(/differs/);
    t.addTarget(p, { type: "demux", listener: 2, plugin: "@serval/plugin-demux" });
  });

  test("duplicate extra plugin names are refused", () => {
    const f = () => ({ name: "@serval/plugin-x", resolve: () => ({ kind: "no-match" }) as Verdict });
    expect(() => new ServiceTable({ random: new SeededRandom(1), plugins: [f, f] })).toThrow(RangeError);
  });
});

describe("ServiceTable removal and modification", () => {
  test("removing everything empties the table", () => {
    const t = newTable();
    const prefixes = [ServicePrefix.DEFAULT, P("a/8"), P("a/16"), P("b/32")];
    for (const p of prefixes) {
      t.addTarget(p, { type: "forward", locator: loc(1) });
      t.addTarget(p, { type: "demux", listener: 1, priority: 2 });
      t.addTarget(p, { type: "drop", priority: 3 });
    }
    expect(t.size).toBe(4);
    expect(t.removeTarget(P("a/8"), { type: "demux", listener: 99 })).toBe(false);
    expect(t.removeTarget(P("c/8"), { type: "drop" })).toBe(false);
    for (const p of prefixes) {
      expect(t.removeTarget(p, { type: "drop" })).toBe(true);
      expect(t.get(p)!.sets.length).toBe(2);
      expect(t.removeTarget(p, { type: "forward", locator: loc(1) })).toBe(true);
    }
    expect(t.removeListener(1).map(String).sort()).toEqual(prefixes.map(String).sort());
    expect(t.size).toBe(0);
    expect([...t.entries()]).toEqual([]);
    expect(t.resolve(0, key("a"), 0, req, "any").kind).toBe("no-match");
  });

  test("modifyTarget changes weight and moves between priorities", () => {
    const t = newTable();
    const p = P("web.example/16");
    t.addTarget(p, { type: "forward", locator: loc(1), priority: 1 });
    t.addTarget(p, { type: "forward", locator: loc(2), priority: 1 });
    expect(t.modifyTarget(p, { type: "forward", locator: loc(2) }, { weight: 7 })).toBe(true);
    expect(t.get(p)!.sets[0]!.totalWeight).toBe(8);
    expect(t.modifyTarget(p, { type: "forward", locator: loc(2) }, { priority: 4 })).toBe(true);
    expect(t.get(p)!.sets.map((s) => [s.priority, s.totalWeight])).toEqual([[4, 7], [1, 1]]);
    expect(portOf(t.resolve(0, key("web.example"), 0, req, "any"))).toBe(2);
    expect(t.modifyTarget(p, { type: "forward", locator: loc(1) }, { priority: 4 })).toBe(true);
    expect(t.get(p)!.sets.length).toBe(1);
    expect(t.modifyTarget(p, { type: "forward", locator: loc(9) }, { weight: 2 })).toBe(false);
    expect(() => t.modifyTarget(p, { type: "forward", locator: loc(1) }, { weight: 0 })).toThrow(RangeError);
    t.addTarget(p, { type: "drop", priority: 9 });
    expect(() => t.modifyTarget(p, { type: "forward", locator: loc(1) }, { priority: 9 })).toThrow(RangeError);
    expect(t.get(p)!.sets.map((s) => s.targets.length)).toEqual([1, 2]);
  });

  test("a set's version changes on every change", () => {
    const t = newTable();
    const p = P("a/8");
    t.addTarget(p, { type: "demux", listener: 1 });
    const set = t.get(p)!.sets[0]!;
    const v0 = set.version;
    t.addTarget(p, { type: "demux", listener: 2 });
    expect(set.version).not.toBe(v0);
    const v1 = set.version;
    t.modifyTarget(p, { type: "demux", listener: 2 }, { weight: 3 });
    expect(set.version).not.toBe(v1);
  });
});

describe("ServiceTable vs a linear-scan oracle (property)", () => {
  test("any-mode resolution matches the oracle's longest prefix and top priority", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ first: fc.integer({ min: 0, max: 255 }), bits: fc.integer({ min: 0, max: 8 }), prio: fc.integer({ min: 0, max: 3 }), listener: fc.integer({ min: 0, max: 5 }), remove: fc.boolean() }),
          { maxLength: 40 },
        ),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 10 }),
        (ops, probes) => {
          const t = newTable();
          const model = new Map<string, { bits: number; first: number; prio: number; listener: number }>();
          for (const op of ops) {
            const id = new Uint8Array(32);
            id[0] = op.first;
            const p = ServicePrefix.of(ServiceId.fromBytes(id), op.bits);
            const mk = `${p}|${op.listener}`;
            if (op.remove) {
              expect(t.removeTarget(p, { type: "demux", listener: op.listener })).toBe(model.delete(mk));
            } else if (!model.has(mk)) {
              t.addTarget(p, { type: "demux", listener: op.listener, priority: op.prio });
              model.set(mk, { bits: op.bits, first: p.id.bytes[0]!, prio: op.prio, listener: op.listener });
            }
          }
          expect(t.size).toBe(new Set([...model.keys()].map((k) => k.split("|")[0])).size);
          for (const b of probes) {
            const k = new Uint8Array(32);
            k[0] = b;
            const matching = [...model.values()].filter((r) => r.bits === 0 || (b >> (8 - r.bits)) === (r.first >> (8 - r.bits)));
            const v = t.resolve(0, k, 0, { flowKey: b * 99991, packetLen: 1 }, "any");
            if (matching.length === 0) {
              expect(v.kind).toBe("no-match");
              continue;
            }
            const longest = Math.max(...matching.map((r) => r.bits));
            const atLongest = matching.filter((r) => r.bits === longest);
            const top = Math.max(...atLongest.map((r) => r.prio));
            const allowed = atLongest.filter((r) => r.prio === top).map((r) => r.listener);
            expect(v.kind).toBe("demux");
            expect(allowed).toContain(listenerOf(v)!);
          }
        },
      ),
      { seed: 2012, numRuns: 300 },
    );
  });
});

describe("ServiceTable robustness", () => {
  test("stores a copy of the locator", () => {
    const t = newTable();
    const l = loc(1);
    t.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: l });
    l.address[3] = 99;
    expect(portOf(t.resolve(0, key("a"), 0, req, "any"))).toBe(1);
    expect(t.removeTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(1) })).toBe(true);
  });

  test("a throwing plugin gives drop no-target, not an exception", () => {
    const bad = () => ({ name: "@serval/plugin-bad", resolve: (): Verdict => { throw new Error("boom"); } });
    const t = new ServiceTable({ random: new SeededRandom(1), plugins: [bad] });
    t.addTarget(ServicePrefix.DEFAULT, { type: "demux", listener: 1, plugin: "@serval/plugin-bad" });
    expect(t.resolve(0, key("a"), 0, req, "local")).toEqual({ kind: "drop", reason: "no-target" });
    expect(t.get(ServicePrefix.DEFAULT)!.counters.packetsDropped).toBe(1);
  });

  test("entries() lists every prefix once; plugin() finds built-ins", () => {
    const t = newTable();
    t.addTarget(P("a/8"), { type: "drop" });
    t.addTarget(P("a/8"), { type: "demux", listener: 1, priority: 1 });
    t.addTarget(P("b/24"), { type: "delay" });
    expect([...t.entries()].map((e) => String(e.prefix)).sort()).toEqual([String(P("a/8")), String(P("b/24"))].sort());
    for (const n of ["forward", "demux", "delay", "drop"]) expect(t.plugin(`@serval/plugin-${n}`)?.name).toBe(`@serval/plugin-${n}`);
  });

  test("random requests never throw (fast-check)", () => {
    const t = newTable();
    t.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(1) });
    t.addTarget(P("a/8"), { type: "delay" });
    t.addTarget(P("b/8"), { type: "demux", listener: 2 });
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: -5, max: 70 }),
        fc.double(),
        fc.double(),
        fc.integer({ min: -1, max: 3 }),
        fc.constantFrom("local" as const, "any" as const),
        (k, off, flowKey, packetLen, delayed, mode) => {
          const v = t.resolve(0, k, off, { flowKey, packetLen, delayed, packet: k }, mode);
          return ["forward", "demux", "delay", "drop", "no-match"].includes(v.kind);
        },
      ),
      { seed: 7, numRuns: 500 },
    );
    expect(Number.isFinite(t.counters.bytesResolved)).toBe(true);
  });
});

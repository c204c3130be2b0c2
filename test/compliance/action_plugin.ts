/**
 * The action plugin compliance suite: every plugin (built-ins included) runs
 * {@linkcode runActionPluginSuite} from its own test file.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ServicePrefix } from "@serval/wire";
import { SeededRandom } from "@serval/sal";
import type { ActionPlugin, RandomSource, ServiceCounters, Target, TargetSet, TargetType, Verdict } from "@serval/sal";

/** Options of {@linkcode runActionPluginSuite}. */
export interface ActionPluginSuiteOptions {
  /** Shown in the describe block. */
  readonly name: string;
  /** Makes a fresh plugin with this randomness. */
  readonly make: (random: RandomSource) => ActionPlugin;
  /** Type of the targets the suite puts in sets (default "forward"). */
  readonly targetType?: TargetType;
}

const zero = (): ServiceCounters => ({ packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 });

/** A mutable target set built outside a table, for plugin tests. */
export interface TestSet extends TargetSet {
  targets: Target[];
  totalWeight: number;
  version: number;
}

/**
 * Makes a target like the table does (with its preallocated verdict).
 *
 * @param type Rule type.
 * @param n Distinguishes targets: the listener or the last address byte.
 * @param weight Weight.
 * @returns The target.
 */
export function makeTarget(type: TargetType, n: number, weight = 1): Target & { weight: number } {
  const t = {
    type,
    weight,
    locator: type === "forward" ? { address: new Uint8Array([198, 18 | ((n >> 16) & 1), (n >> 8) & 255, n & 255]), port: 0 } : undefined,
    listener: type === "demux" ? n : undefined,
    counters: zero(),
    verdict: undefined as unknown as Verdict,
  };
  (t as { verdict: Verdict }).verdict = type === "forward" || type === "demux"
    ? { kind: type, target: t }
    : type === "drop"
    ? { kind: "drop", reason: "drop-rule" }
    : { kind: "drop", reason: "no-target" };
  return t;
}

/**
 * Makes a set for `plugin` holding `targets`.
 *
 * @param plugin The plugin.
 * @param targets The targets.
 * @returns The set; call {@linkcode touch} after changing it.
 */
export function makeSet(plugin: ActionPlugin, targets: Target[]): TestSet {
  const s: TestSet = {
    prefix: ServicePrefix.parse("web.example/16"),
    priority: 0,
    plugin,
    targets,
    totalWeight: 0,
    version: 0,
    entryCounters: zero(),
    tableCounters: zero(),
  };
  touch(s);
  return s;
}

let versions = 0;

/**
 * Recomputes the weight sum and bumps the version, as the table does.
 *
 * @param s The set.
 */
export function touch(s: TestSet): void {
  s.totalWeight = s.targets.reduce((a, t) => a + t.weight, 0);
  s.version = ++versions;
}

const KEY = new Uint8Array(32);

function isValid(v: Verdict, set: TargetSet): boolean {
  switch (v.kind) {
    case "forward":
    case "demux":
      return set.targets.includes(v.target) && v.target.type === v.kind;
    case "delay":
      return Number.isInteger(v.id);
    case "drop":
      return ["drop-rule", "no-target", "delay-full", "delay-loop"].includes(v.reason);
    default:
      return false;
  }
}

function pick(v: Verdict, set: TargetSet): number {
  return v.kind === "forward" || v.kind === "demux" ? set.targets.indexOf(v.target) : -1;
}

/**
 * Registers the compliance tests for one plugin.
 *
 * @param opts Name, factory and target type.
 */
export function runActionPluginSuite(opts: ActionPluginSuiteOptions): void {
  const type = opts.targetType ?? "forward";
  const single = type === "drop" || type === "delay";
  const build = (plugin: ActionPlugin, n: number, weights?: number[]): TestSet =>
    makeSet(plugin, Array.from({ length: single ? Math.min(n, 1) : n }, (_, i) => makeTarget(type, i + 1, weights?.[i] ?? 1)));

  describe(`action plugin compliance: ${opts.name}`, () => {
    test("name has the form @serval/plugin-<name>", () => {
      expect(opts.make(new SeededRandom(1)).name).toMatch(/^@serval\/plugin-[a-z0-9]+(-[a-z0-9]+)*$/);
    });

    test("only ever returns targets of the set it was given", () => {
      const plugin = opts.make(new SeededRandom(2));
      const a = build(plugin, 5);
      const b = build(plugin, 3);
      for (let i = 0; i < 500; i++) {
        const set = i % 2 === 0 ? a : b;
        const v = plugin.resolve(i, set, { flowKey: (i * 2654435761) >>> 0, packetLen: 60 }, KEY, 0);
        expect(isValid(v, set)).toBe(true);
      }
    });

    test("an empty set gives drop no-target", () => {
      const plugin = opts.make(new SeededRandom(3));
      const v = plugin.resolve(0, build(plugin, 0), { flowKey: 7, packetLen: 60 }, KEY, 0);
      expect(v).toEqual({ kind: "drop", reason: "no-target" });
    });

    test("is deterministic for a given seed", () => {
      const run = () => {
        const plugin = opts.make(new SeededRandom(4));
        const set = build(plugin, 4, [1, 2, 3, 4]);
        const out: (string | number)[] = [];
        for (let i = 0; i < 200; i++) {
          const v = plugin.resolve(i, set, { flowKey: (i * 40503) >>> 0, packetLen: 60, packet: new Uint8Array(4) }, KEY, 0);
          out.push(v.kind, pick(v, set));
        }
        return out;
      };
      expect(run()).toEqual(run());
    });

    test("follows weight changes and target removal", () => {
      const plugin = opts.make(new SeededRandom(5));
      const set = build(plugin, 4, [1, 1, 1, 1]);
      for (let i = 0; i < 50; i++) plugin.resolve(i, set, { flowKey: i * 7919, packetLen: 1 }, KEY, 0);
      if (set.targets.length > 1) {
        (set.targets[0] as { weight: number }).weight = 100;
        const removed = set.targets.pop()!;
        touch(set);
        const seen = new Set<number>();
        for (let i = 0; i < 2000; i++) {
          const v = plugin.resolve(i, set, { flowKey: (i * 2654435761) >>> 0, packetLen: 1 }, KEY, 0);
          expect(isValid(v, set)).toBe(true);
          if (v.kind === "forward" || v.kind === "demux") {
            expect(v.target).not.toBe(removed);
            seen.add(set.targets.indexOf(v.target));
          }
        }
        // The heavy target dominates.
        expect(seen.has(0)).toBe(true);
      }
      set.targets.length = 0;
      touch(set);
      expect(plugin.resolve(0, set, { flowKey: 1, packetLen: 1 }, KEY, 0)).toEqual({ kind: "drop", reason: "no-target" });
    });

    test("random requests and sets never throw and give valid verdicts", () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 8 }),
          fc.array(
            fc.record({
              flowKey: fc.integer({ min: 0, max: 0xffffffff }),
              packetLen: fc.integer({ min: 0, max: 65535 }),
              delayed: fc.integer({ min: 0, max: 3 }),
              now: fc.integer({ min: 0, max: 1e9 }),
            }),
            { maxLength: 20 },
          ),
          (weights, reqs) => {
            const plugin = opts.make(new SeededRandom(6));
            const set = build(plugin, weights.length, weights);
            for (const r of reqs) {
              const v = plugin.resolve(r.now, set, { flowKey: r.flowKey, packetLen: r.packetLen, delayed: r.delayed }, KEY, 0);
              if (!isValid(v, set)) return false;
              plugin.handleTimeout?.(r.now);
              plugin.pollEvent?.();
            }
            return true;
          },
        ),
        { seed: 42, numRuns: 200 },
      );
    });
  });
}

/**
 * `npm test`: every check the project has, in one run, ending with the line
 * `N passed, N failed` that CI reads.
 *
 * 1. purity of the pure packages (scripts/check_purity.ts);
 * 2. the type check (`tsc -p .`);
 * 3. `deno check` of the pure packages (they load under Deno);
 * 4. `deno test --doc`: every JSDoc example of the pure packages runs;
 * 5. `bun test` over the whole tree.
 *
 * Steps that report their own counts (bun test, deno test) add them; the
 * others count as one test each.
 *
 * @module
 */

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const PURE_PKGS = ["packages/wire", "packages/lpm", "packages/sal", "packages/transport", "packages/discovery", "packages/datapath"];
const pureDirs = [...PURE_PKGS, ...listDirs("plugins")].filter((d) => exists(join(root, d, "mod.ts")));

function listDirs(d: string): string[] {
  try {
    return readdirSync(join(root, d))
      .map((e) => `${d}/${e}`)
      .filter((p) => statSync(join(root, p)).isDirectory());
  } catch {
    return [];
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function moduleFiles(dir: string): string[] {
  return readdirSync(join(root, dir))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"))
    .map((f) => `${dir}/${f}`);
}

interface Step {
  readonly name: string;
  readonly cmd: string[];
  /** Extracts [passed, failed] from the output; default: one test judged by the exit code. */
  readonly counts?: (out: string) => [number, number] | undefined;
}

const bunCounts = (out: string): [number, number] | undefined => {
  const p = /^\s*(\d+) pass$/m.exec(out);
  const f = /^\s*(\d+) fail$/m.exec(out);
  return p ? [Number(p[1]), f ? Number(f[1]) : 0] : undefined;
};
const denoCounts = (out: string): [number, number] | undefined => {
  const m = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(out);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
};

const steps: Step[] = [
  { name: "purity", cmd: ["bun", "scripts/check_purity.ts"] },
  { name: "typecheck (tsc)", cmd: ["tsc", "-p", "."] },
  { name: "deno check (pure packages)", cmd: ["deno", "check", ...pureDirs.map((d) => `${d}/mod.ts`)] },
  {
    name: "deno test --doc (JSDoc examples)",
    cmd: ["deno", "test", "--doc", ...pureDirs.flatMap(moduleFiles)],
    counts: denoCounts,
  },
  { name: "bun test", cmd: ["bun", "test", "--timeout", "120000"], counts: bunCounts },
];

const only = process.argv.slice(2);
let passed = 0;
let failed = 0;
const summary: string[] = [];
for (const step of steps) {
  if (only.length > 0 && !only.some((o) => step.name.includes(o))) continue;
  const t0 = performance.now();
  console.log(`\n=== ${step.name}: ${step.cmd.join(" ")}`);
  const proc = Bun.spawnSync(step.cmd, {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = proc.stdout.toString() + proc.stderr.toString();
  process.stdout.write(out.endsWith("\n") || out === "" ? out : `${out}\n`);
  const ok = proc.exitCode === 0;
  let counts = step.counts?.(out);
  if (!counts) counts = ok ? [1, 0] : [0, 1];
  else if (!ok && counts[1] === 0) counts = [counts[0], counts[1] + 1]; // a crash outside any test
  passed += counts[0];
  failed += counts[1];
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  summary.push(`${ok ? "ok  " : "FAIL"} ${step.name}: ${counts[0]} passed, ${counts[1]} failed (${secs} s)`);
}
console.log(`\n${summary.join("\n")}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

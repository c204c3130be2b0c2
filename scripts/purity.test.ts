import { describe, expect, test } from "bun:test";
import { findPurityViolations, stripComments } from "./purity.ts";

const F = "packages/wire/x.ts";
const rules = (src: string, file = F) => findPurityViolations(src, file).map((v) => v.rule);

describe("findPurityViolations()", () => {
  test("accepts pure code and relative imports inside the pure packages", () => {
    expect(rules(`import { a } from "./a.ts";\nimport type { B } from "@serval/lpm";\nexport const x = 1;`)).toEqual([]);
    expect(rules(`import { a } from "../lpm/a.ts";`)).toEqual([]);
  });

  test("flags runtime imports", () => {
    for (const spec of ["effect", "effect/Schema", "bun:ffi", "node:fs", "fs", "@serval/runtime", "fast-check"]) {
      expect(rules(`import x from "${spec}";`).length).toBe(1);
    }
    expect(rules(`export * from "node:os";`).length).toBe(1);
    expect(rules(`import "node:fs";`).length).toBe(1);
  });

  test("flags relative imports that leave the pure packages", () => {
    expect(rules(`import { x } from "../runtime/driver.ts";`).length).toBe(1);
  });

  test("flags clocks, randomness, timers and runtime namespaces", () => {
    for (const src of [
      "const t = Date.now();",
      "const t = performance.now();",
      "const d = new Date();",
      "const r = Math.random();",
      "setTimeout(() => 0, 1);",
      "setInterval(f, 1);",
      "queueMicrotask(f);",
      "Deno.readFile('x');",
      "Bun.write('x', '');",
      "process.exit(0);",
      "crypto.getRandomValues(b);",
      "await fetch('http://x');",
      "const m = await import('./x.ts');",
    ]) {
      expect(rules(src).length).toBeGreaterThan(0);
    }
  });

  test("ignores comments, so JSDoc may mention anything", () => {
    expect(rules(`/** Date.now() and setTimeout( are not used here. */\n// Math.random()\nconst a = 1;`)).toEqual([]);
  });

  test("stripComments keeps strings and line numbers", () => {
    const src = `const s = "// not a comment";\n/* a\n b */ const t = 1;`;
    const out = stripComments(src);
    expect(out.split("\n").length).toBe(3);
    expect(out).toContain(`"// not a comment"`);
    expect(out).not.toContain("a\n b");
  });
});

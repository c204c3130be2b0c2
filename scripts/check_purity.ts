/**
 * Runs the purity rule over every non-test source of the pure packages and
 * exits non-zero on a violation. Part of `npm test`.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { findPurityViolations, PURE_DIRS } from "./purity.ts";

const root = join(import.meta.dir, "..");

function* sources(dir: string): Generator<string> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e === "node_modules" || e === "dist") continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (e.endsWith(".ts") && !e.endsWith(".test.ts") && !e.endsWith(".d.ts")) yield p;
  }
}

let files = 0;
const violations = [];
for (const d of PURE_DIRS) {
  for (const f of sources(join(root, d))) {
    files++;
    violations.push(...findPurityViolations(readFileSync(f, "utf8"), relative(root, f)));
  }
}
for (const v of violations) console.error(`${v.file}:${v.line}: ${v.rule}\n    ${v.text}`);
console.log(`purity: ${files} files in ${PURE_DIRS.join(", ")}: ${violations.length} violations`);
process.exit(violations.length === 0 && files > 0 ? 0 : 1);

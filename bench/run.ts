/**
 * `npm run bench [-- name...]`: runs every `bench/*.bench.ts` (or those whose
 * name contains one of the arguments), one after another in separate
 * processes, so one benchmark's heap does not disturb the next.
 *
 * @module
 */

import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`bench: nothing matches ${filters.join(", ")}`);
  process.exit(1);
}
let failed = 0;
for (const f of files) {
  console.log(`\n### ${f}`);
  const r = Bun.spawnSync(["bun", join(dir, f)], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);

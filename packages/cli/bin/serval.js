#!/usr/bin/env node
// The `serval` command is TypeScript run by Bun (a dev dependency of the
// workspace). This shim lets `npx serval ...` work from a machine that only
// has Node and npm: it finds the bun binary installed from npm and hands over.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "..", "main.ts");

function findBun() {
  if (process.versions.bun) return process.execPath;
  const require = createRequire(import.meta.url);
  try {
    const pkg = dirname(require.resolve("bun/package.json"));
    for (const rel of ["bin/bun.exe", "bin/bun"]) {
      const p = join(pkg, rel);
      if (existsSync(p)) return p;
    }
  } catch {
    // fall through to PATH
  }
  return "bun";
}

const r = spawnSync(findBun(), [main, ...process.argv.slice(2)], { stdio: "inherit" });
if (r.error) {
  console.error(`serval: cannot start bun (${r.error.message}); run "npm install" first`);
  process.exit(127);
}
process.exit(r.status ?? (r.signal ? 128 : 1));

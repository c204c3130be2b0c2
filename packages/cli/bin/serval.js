#!/usr/bin/env node
// The `serval` command is TypeScript run by Bun (a dev dependency of the
// workspace). This shim lets `npx serval ...` work from a machine that only
// has Node and npm: it finds the bun binary installed from npm and hands over.
// Signals sent to the shim (SIGINT, SIGTERM) are passed on to bun, so
// `npx serval host` shuts down gracefully when it is stopped.
import { spawn } from "node:child_process";
import { constants } from "node:os";
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

const child = spawn(findBun(), [main, ...process.argv.slice(2)], { stdio: "inherit" });
const forwarded = ["SIGINT", "SIGTERM"];
// Ctrl-C reaches the whole process group, bun included; forwarding it again is
// harmless (a second interrupt of a node that is already closing does nothing).
const forward = (sig) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(sig);
};
for (const sig of forwarded) process.on(sig, forward);
child.on("error", (err) => {
  console.error(`serval: cannot start bun (${err.message}); run "npm install" first`);
  process.exit(127);
});
child.on("exit", (code, signal) => {
  for (const sig of forwarded) process.off(sig, forward);
  process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
});

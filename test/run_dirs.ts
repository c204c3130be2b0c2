/**
 * Run directories for daemons a test starts: every `serval host|router|adhoc`
 * process serves its management and application sockets in one, and two
 * daemons must never share it (the second would refuse to start). The path
 * does not exist yet: the daemon creates it (as whatever user it runs as)
 * and {@linkcode removeRunDirs} deletes it, also when the test process exits.
 *
 * @module
 */

import { rmSync } from "node:fs";

const made: string[] = [];
let n = 0;

/**
 * A fresh, unused run directory path under /tmp.
 *
 * @example
 * ```ts
 * const env = { ...process.env, SERVAL_RUN_DIR: freshRunDir() };
 * ```
 */
export function freshRunDir(): string {
  const dir = `/tmp/serval-test-${process.pid}-${Date.now().toString(36)}-${n++}`;
  made.push(dir);
  return dir;
}

/** The environment for a daemon: this process's plus a fresh `SERVAL_RUN_DIR`. */
export function daemonEnv(): Record<string, string | undefined> {
  return { ...process.env, SERVAL_RUN_DIR: freshRunDir() };
}

/** Deletes every run directory handed out so far. */
export function removeRunDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

process.on("exit", removeRunDirs);

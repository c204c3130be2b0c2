/**
 * {@linkcode ensureRunDir} and {@linkcode checkRunDir}: the directory of a
 * daemon's local sockets must be ours. `mkdir -p` alone accepts a directory
 * another user created first (in `/tmp`, anyone can), who could then plant
 * or swap the sockets in it; so once it exists it is checked: a real
 * directory (no symlink), owned by us (or root), writable by nobody else.
 *
 * @module
 */

import { lstat, mkdir } from "node:fs/promises";

/**
 * The run directory cannot be used: it is not a directory, not ours, or
 * writable by others.
 *
 * @example
 * ```ts
 * import { RunDirError } from "@serval/runtime";
 * console.assert(new RunDirError("x").name === "RunDirError");
 * ```
 */
export class RunDirError extends Error {
  override readonly name = "RunDirError";
  readonly _tag = "RunDirError";
}

/** The non-root fallback (`/tmp/serval-<uid>`): private, as nobody else needs to reach it. */
const TMP_FALLBACK = /^\/tmp\/serval-\d+\/?$/;

/**
 * Checks that `dir` is a directory only we (or root) can write into.
 *
 * @param dir The directory.
 * @param uid Our user id (default the process's).
 * @throws {RunDirError} When it is missing, a symlink or not a directory, owned by another user, or group/other-writable.
 *
 * @example
 * ```ts
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { checkRunDir } from "@serval/runtime";
 * const dir = mkdtempSync("/tmp/serval-doc-");
 * await checkRunDir(dir);
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function checkRunDir(dir: string, uid: number = process.getuid?.() ?? 0): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (e) {
    throw new RunDirError(`cannot use the run directory ${dir}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (st.isSymbolicLink()) throw new RunDirError(`the run directory ${dir} is a symlink; remove it or use another --run-dir`);
  if (!st.isDirectory()) throw new RunDirError(`the run directory ${dir} is not a directory; remove it or use another --run-dir`);
  if (st.uid !== uid && st.uid !== 0) {
    throw new RunDirError(`the run directory ${dir} belongs to uid ${st.uid}, not to us (uid ${uid}); remove it or use another --run-dir`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new RunDirError(`the run directory ${dir} is writable by others (mode ${(st.mode & 0o7777).toString(8)}); chmod go-w it or use another --run-dir`);
  }
}

/**
 * Creates the run directory when missing (0755, so that the application
 * socket stays reachable for the daemon's group; 0700 for the
 * `/tmp/serval-<uid>` fallback), then checks it ({@linkcode checkRunDir}).
 *
 * @param dir The directory.
 * @throws {RunDirError} When it cannot be created, or is not fit ({@linkcode checkRunDir}).
 *
 * @example
 * ```ts
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { ensureRunDir } from "@serval/runtime";
 * const dir = mkdtempSync("/tmp/serval-doc-");
 * await ensureRunDir(`${dir}/run`);
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function ensureRunDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: TMP_FALLBACK.test(dir) ? 0o700 : 0o755 });
  } catch (e) {
    throw new RunDirError(`cannot create the run directory ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  await checkRunDir(dir);
}

/**
 * {@linkcode readTokenFile}: the remote management token, from a file only
 * the daemon's user (or root) owns and only its owner can read.
 *
 * @module
 */

import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { ManagementStartError } from "./management_server.ts";

/**
 * Reads the token file. It is opened without following a symlink and
 * checked through the opened descriptor (no swap between check and read):
 * a regular file, owned by `uid` or root, with no access for group or others.
 *
 * @param path The token file.
 * @param uid The daemon's user id (default the process's).
 * @returns The token (surrounding whitespace removed).
 * @throws {ManagementStartError} When the file cannot be read or is not fit.
 *
 * @example
 * ```ts
 * import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { readTokenFile } from "@serval/management";
 * const dir = mkdtempSync("/tmp/serval-doc-");
 * writeFileSync(`${dir}/token`, "s3cret-token-0123456789\n", { mode: 0o600 });
 * console.assert((await readTokenFile(`${dir}/token`)) === "s3cret-token-0123456789");
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function readTokenFile(path: string, uid: number = process.getuid?.() ?? 0): Promise<string> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new ManagementStartError(`the management token file ${path} is a symlink; give the file itself`);
    throw new ManagementStartError(`cannot read the management token file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ManagementStartError(`the management token file ${path} is not a regular file`);
    if (st.uid !== uid && st.uid !== 0) {
      throw new ManagementStartError(`the management token file ${path} belongs to uid ${st.uid}, not to this daemon's user (uid ${uid}) or root; chown it`);
    }
    if ((st.mode & 0o077) !== 0) {
      throw new ManagementStartError(`the management token file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    return (await fh.readFile("utf8")).trim();
  } catch (e) {
    if (e instanceof ManagementStartError) throw e;
    throw new ManagementStartError(`cannot read the management token file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await fh.close();
  }
}

import { afterEach, describe, expect, test } from "bun:test";
import { chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { ManagementStartError } from "./management_server.ts";
import { readTokenFile } from "./read_token_file.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync("/tmp/serval-token-test-");
  dirs.push(d);
  return d;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ManagementStartError);
  return (e as Error).message;
}

describe("readTokenFile", () => {
  const uid = process.getuid!();
  const TOKEN = "s3cret-token-0123456789";

  test("an owner-only file of ours is read", async () => {
    const d = tmp();
    writeFileSync(`${d}/token`, `${TOKEN}\n`, { mode: 0o600 });
    expect(await readTokenFile(`${d}/token`)).toBe(TOKEN);
  });

  test("a file another user owns is refused, even 0600", async () => {
    const d = tmp();
    writeFileSync(`${d}/token`, TOKEN, { mode: 0o600 });
    const other = uid === 4242 ? 4243 : 4242;
    if (uid === 0) chownSync(`${d}/token`, other, other);
    // Not root: the file is ours; ask as if the daemon ran as another user instead.
    const as = uid === 0 ? uid : other;
    const owner = uid === 0 ? other : uid;
    expect(await refusal(readTokenFile(`${d}/token`, as))).toBe(
      `the management token file ${d}/token belongs to uid ${owner}, not to this daemon's user (uid ${as}) or root; chown it`,
    );
  });

  test("a symlink is refused (not followed); group/other access is refused; a directory is refused", async () => {
    const d = tmp();
    writeFileSync(`${d}/real`, TOKEN, { mode: 0o600 });
    symlinkSync(`${d}/real`, `${d}/link`);
    expect(await refusal(readTokenFile(`${d}/link`))).toBe(`the management token file ${d}/link is a symlink; give the file itself`);
    writeFileSync(`${d}/loose`, TOKEN, { mode: 0o640 });
    expect(await refusal(readTokenFile(`${d}/loose`))).toBe(`the management token file ${d}/loose is readable by others (mode 640); chmod 600 it`);
    expect(await refusal(readTokenFile(d))).toBe(`the management token file ${d} is not a regular file`);
    expect(await refusal(readTokenFile(`${d}/none`))).toMatch(/^cannot read the management token file .*\/none: /);
  });
});

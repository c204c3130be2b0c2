import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { checkRunDir, ensureRunDir, RunDirError } from "./run_dir.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync("/tmp/serval-rundir-test-");
  dirs.push(d);
  return d;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(RunDirError);
  return (e as Error).message;
}

const uid = process.getuid!();

describe("ensureRunDir", () => {
  test("creates a missing directory 0755 (and its parents); an existing one of ours is kept", async () => {
    const d = tmp();
    await ensureRunDir(`${d}/a/run`);
    expect(statSync(`${d}/a/run`).mode & 0o777).toBe(0o755);
    await ensureRunDir(`${d}/a/run`);
    await ensureRunDir(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
  });

  test("a directory another user made first is refused, as is one others can write, a symlink, a file", async () => {
    const d = tmp();
    mkdirSync(`${d}/theirs`);
    if (uid === 0) chownSync(`${d}/theirs`, 4242, 4242);
    // Not root: we cannot give it away; ask as if we were another user instead.
    const as = uid === 0 ? 0 : uid + 1;
    const owner = uid === 0 ? 4242 : uid;
    expect(await refusal(checkRunDir(`${d}/theirs`, as))).toBe(`the run directory ${d}/theirs belongs to uid ${owner}, not to us (uid ${as}); remove it or use another --run-dir`);
    if (uid === 0) {
      expect(await refusal(ensureRunDir(`${d}/theirs`))).toBe(`the run directory ${d}/theirs belongs to uid 4242, not to us (uid 0); remove it or use another --run-dir`);
    }
    mkdirSync(`${d}/open`);
    chmodSync(`${d}/open`, 0o1777);
    expect(await refusal(ensureRunDir(`${d}/open`))).toBe(`the run directory ${d}/open is writable by others (mode 1777); chmod go-w it or use another --run-dir`);
    mkdirSync(`${d}/group`);
    chmodSync(`${d}/group`, 0o775);
    expect(await refusal(ensureRunDir(`${d}/group`))).toBe(`the run directory ${d}/group is writable by others (mode 775); chmod go-w it or use another --run-dir`);
    mkdirSync(`${d}/real`);
    symlinkSync(`${d}/real`, `${d}/link`);
    expect(await refusal(ensureRunDir(`${d}/link`))).toBe(`the run directory ${d}/link is a symlink; remove it or use another --run-dir`);
    writeFileSync(`${d}/file`, "");
    expect(await refusal(ensureRunDir(`${d}/file`))).toMatch(new RegExp(`^cannot create the run directory ${d}/file: `));
    expect(await refusal(checkRunDir(`${d}/none`))).toMatch(/^cannot use the run directory .*\/none: /);
  });
});

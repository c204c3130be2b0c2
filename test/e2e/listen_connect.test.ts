/**
 * `serval listen` / `serval connect` end to end (root only; skipped with a
 * notice otherwise): a router and two hosts, each a real `serval` daemon in
 * its own namespace on one LAN (UDP datapath, then the packet one) with its
 * own --run-dir; the applications are real processes talking to their
 * host's application socket. 10 MB of random bytes go from
 * `serval connect < file` on one host to `serval listen --once > file` on
 * the other, byte-exact (SHA-256).
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { lan, leftovers, skipUnlessRoot } from "./netns.ts";
import type { LanTopology, NsProcess } from "./netns.ts";

const skip = skipUnlessRoot("serval listen / serval connect across namespaces");
const CLI = new URL("../../packages/cli/main.ts", import.meta.url).pathname;
const SIZE = 10 * 1024 * 1024;

const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** `serval ARGS` in host `h`'s namespace, stdin and stdout redirected by the shell (exec: the pid is serval's). */
function serval(t: LanTopology, h: string, args: string[], redirect = ""): NsProcess {
  const cmd = ["exec", sh(process.execPath), sh(CLI), ...args.map(sh)].join(" ") + (redirect ? ` ${redirect}` : "");
  return t.hosts[h]!.ns.spawn(["sh", "-c", cmd]);
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

for (const datapath of ["udp", "packet"] as const) describe.skipIf(skip)(`serval listen / serval connect across namespaces (${datapath} datapath)`, () => {
  const dp = ["--datapath", datapath];
  test("10 MB of random bytes from `serval connect < file` to `serval listen --once > file`, byte-exact", async () => {
    const t = lan(3);
    const work = mkdtempSync(`${tmpdir()}/serval-lc-`);
    const runDirs = ["r", "a", "b"].map((n) => mkdtempSync(`${tmpdir()}/serval-lc-${n}-`));
    const [rDir, aDir, bDir] = runDirs as [string, string, string];
    const procs: NsProcess[] = [];
    try {
      const input = `${work}/in.bin`;
      const output = `${work}/out.bin`;
      writeFileSync(input, randomBytes(SIZE));
      const router = serval(t, "h0", ["router", ...dp, "--run-dir", rDir]);
      procs.push(router);
      await router.waitFor(/boot id/, 10_000);
      const at = t.hosts.h0!.address;
      const hostA = serval(t, "h1", ["host", ...dp, "--router", at, "--run-dir", aDir]);
      const hostB = serval(t, "h2", ["host", ...dp, "--router", at, "--run-dir", bDir]);
      procs.push(hostA, hostB);
      await Promise.all([hostA.waitFor(/applications at /, 10_000), hostB.waitFor(/applications at /, 10_000)]);

      const listen = serval(t, "h1", ["listen", "svc.example", "--once", "--run-dir", aDir], `< /dev/null > ${sh(output)}`);
      procs.push(listen);
      await listen.waitFor("serval listen: listening on svc.example", 10_000);
      await router.waitFor(/lease \+/, 5_000);

      const t0 = performance.now();
      const connect = serval(t, "h2", ["connect", "svc.example", "--run-dir", bDir], `< ${sh(input)}`);
      procs.push(connect);
      const [cc, lc] = await Promise.all([connect.exited, listen.exited]);
      const ms = performance.now() - t0;
      expect({ code: cc, stderr: connect.stderr }).toEqual({ code: 0, stderr: "" });
      expect({ code: lc, stderr: listen.stderr }).toEqual({ code: 0, stderr: "serval listen: listening on svc.example\n" });
      expect(connect.stdout).toBe(""); // the listener's stdin was empty
      expect(sha256(output)).toBe(sha256(input));
      console.log(
        `[e2e] ${datapath}: serval connect → serval listen: 10 MiB byte-exact in ${ms.toFixed(0)} ms ` +
          `(${(SIZE / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s, including both processes' exit; connect's start-up included)`,
      );
      // --once withdrew the service: a new connect fails with one clear line.
      await router.waitFor(/lease - /, 5_000);
      const t1 = performance.now();
      const late = serval(t, "h2", ["connect", "svc.example", "--run-dir", bDir], "< /dev/null");
      procs.push(late);
      expect(await late.exited).toBe(1);
      console.log(`[e2e] ${datapath}: for scale, a \`serval connect\` that fails at once takes ${(performance.now() - t1).toFixed(0)} ms (process start-up and exit)`);
      const lines = late.stderr.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^serval connect: Cannot connect to svc\.example: (refused|unreachable)/);

      // The daemons stop cleanly and take their sockets with them.
      for (const p of [hostA, hostB, router]) expect(await p.stop("SIGTERM", 5_000)).toBe(0);
      for (const d of runDirs) expect(existsSync(`${d}/app.sock`)).toBe(false);
      expect(procs.filter((p) => !p.done).map((p) => p.pid)).toEqual([]);
    } finally {
      for (const p of procs) p.kill();
      t.close();
      for (const d of [work, ...runDirs]) rmSync(d, { recursive: true, force: true });
    }
    expect(leftovers()).toEqual([]);
  }, 120_000);
});

/**
 * The translator end to end with real, unmodified programs (root only;
 * skipped with a notice otherwise). One LAN of four namespaces:
 *
 * - h0: `serval router`;
 * - h1, h2: replicas. Each runs Python's http.server (larger backlog) on its own
 *   loopback and `serval translate --export web.example=127.0.0.1:8000`;
 *   h1 also exports `iperf3 -s` (iperf.example) and `redis-server`
 *   (redis.example);
 * - h3: the client, `serval translate --socks 1080 --map 8080=web.example
 *   --map 5201=iperf.example --map 6379=redis.example`.
 *
 * Checked: curl through SOCKS5 and through the mapped port (bodies' SHA-256
 * equal to the file's, both replicas served some); iperf3 through two
 * translators (sent and received byte counts agree); redis-cli SET/GET; 200
 * concurrent HTTP connections; a replica stopped (SIGTERM) or killed
 * (SIGKILL: found dead by keepalive) mid-stream resets its clients while the
 * others finish. Every daemon has its own --run-dir; the afterAll checks
 * that no namespace or link is left.
 *
 * @module
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LanTopology, lan, leftovers, type NsProcess, python3, skipUnlessRoot } from "./netns.ts";

const skip = skipUnlessRoot("translator with unmodified programs");
/** `.ci/run` installs redis-server and redis-tools; without them only the redis test is skipped. */
const hasRedis = ["redis-server", "redis-cli"].every((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);
if (!skip && !hasRedis) console.log("[e2e] skipped the redis test: redis-server or redis-cli is not installed (apt-get install redis-server redis-tools)");
const CLI = new URL("../../packages/cli/main.ts", import.meta.url).pathname;

/**
 * An HTTP/1.0 client (node:net only) run inside the client namespace: N
 * connections at once, each GET `path` through a mapped port or SOCKS5,
 * body checked against a SHA-256. With `--hold` every connection pauses
 * after its first bytes; "started N" is printed once all have some, and
 * SIGUSR1 lets them go on. Prints one JSON line: ok, resets, other errors,
 * wrong bodies.
 */
const HTTP_CLIENT = String.raw`
import net from "node:net";
import { createHash } from "node:crypto";
const arg = (n, d) => { const i = process.argv.indexOf("--" + n); return i < 0 ? d : process.argv[i + 1]; };
const port = Number(arg("port")), n = Number(arg("n", "1")), path = arg("path", "/"), sha = arg("sha", "");
const socks = Number(arg("socks", "0")), hold = process.argv.includes("--hold");
const out = { ok: 0, resets: 0, errors: {}, wrong: 0 };
let started = 0, pending = n;
const held = [];
process.on("SIGUSR1", () => { for (const s of held.splice(0)) s.resume(); });
setTimeout(() => { console.log(JSON.stringify({ ...out, timeout: pending })); process.exit(1); }, 90000).unref();
function one(i) {
  return new Promise((resolve) => {
    const s = net.connect({ port: socks || port, host: "127.0.0.1" });
    const parts = [];
    let first = true, phase = socks ? "greet" : "http", buf = Buffer.alloc(0), err;
    const request = "GET " + path + " HTTP/1.0\r\nHost: web.example\r\n\r\n";
    s.on("connect", () => {
      if (!socks) return s.write(request);
      const host = Buffer.from("web.example");
      s.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, host.length]), host, Buffer.from([0, 80])]));
    });
    s.on("data", (b) => {
      if (phase !== "http") {
        buf = Buffer.concat([buf, b]);
        if (buf.length < 12) return;
        if (buf[1] !== 0 || buf[3] !== 0) { err = "socks-" + buf[3]; return s.destroy(); }
        phase = "http";
        b = buf.subarray(12);
        s.write(request);
        if (b.length === 0) return;
      }
      parts.push(b);
      if (first) {
        first = false;
        if (hold) { s.pause(); held.push(s); if (++started === n) console.log("started " + n); }
      }
    });
    s.on("error", (e) => { err ??= e.code || e.message; });
    s.on("close", () => {
      pending--;
      if (err === "ECONNRESET") out.resets++;
      else if (err) out.errors[err] = (out.errors[err] || 0) + 1;
      else {
        const all = Buffer.concat(parts);
        const at = all.indexOf("\r\n\r\n");
        const body = at < 0 ? Buffer.alloc(0) : all.subarray(at + 4);
        if (createHash("sha256").update(body).digest("hex") === sha && all.subarray(0, 12).toString() === "HTTP/1.0 200") out.ok++;
        else out.wrong++;
      }
      resolve();
    });
  });
}
await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
console.log(JSON.stringify(out));
process.exit(0);
`;

/**
 * `python3 -m http.server` itself (its handler and threading server, its
 * "Serving HTTP" line and request log), with a listen backlog of 1024: the
 * stock command's backlog of 5 drops SYNs when 200 connections arrive at
 * once, and the kernel's SYN retransmissions (1 s, 3 s…) then dominate
 * whatever sits in front of it.
 */
const HTTP_SERVER = String.raw`
import functools, http.server as h, sys
h.ThreadingHTTPServer.request_queue_size = 1024
h.test(HandlerClass=functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[2]), ServerClass=h.ThreadingHTTPServer, port=int(sys.argv[1]), bind="127.0.0.1")
`;

interface IperfSum {
  bytes: number;
  bits_per_second: number;
}

interface HttpResult {
  ok: number;
  resets: number;
  errors: Record<string, number>;
  wrong: number;
}

function seeded(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Waits until `p` printed `n` lines matching `re` in total. */
async function lines(p: NsProcess, re: RegExp, n: number, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while ((p.stdout.match(new RegExp(re.source, "g")) ?? []).length < n) {
    if (p.done || performance.now() > end) {
      throw new Error(`Timed out waiting for ${n} × ${re}: ${p.stdout.slice(-800)}${p.stderr.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until `f()` holds, bounded by `ms`. */
async function until(f: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!f()) {
    if (performance.now() > end) throw new Error("Timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** GETs served by one http.server (it logs one line per request on stderr). */
const served = (p: NsProcess, path: string) => (p.stderr.match(new RegExp(`"GET ${path} HTTP`, "g")) ?? []).length;

describe.skipIf(skip)("translator with unmodified programs (curl, iperf3, redis, python http.server)", () => {
  let t: LanTopology;
  let dir: string;
  const files: Record<string, Buffer> = {};
  const http: NsProcess[] = [];
  const translators: Record<string, NsProcess> = {};
  let client: string;

  const inNs = (h: string) => t.hosts[h]!;
  const serval = (h: string, args: string[]): NsProcess => {
    const runDir = mkdtempSync(join(dir, `run-${h}-`));
    return inNs(h).ns.spawn([process.execPath, CLI, ...args, "--run-dir", runDir]);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "serval-translator-e2e-"));
    // Served by both replicas: the same bytes, so any replica's answer hashes the same.
    const www = join(dir, "www");
    mkdirSync(www);
    files.file = seeded(2 << 20, 1);
    files.small = seeded(64 << 10, 2);
    files.big = seeded(48 << 20, 3);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(www, name), data);
    client = join(dir, "http_client.mjs");
    writeFileSync(client, HTTP_CLIENT);

    t = lan(4);
    const router = serval("h0", ["router"]);
    await router.waitFor(/serval router: .*boot id/, 10_000);
    const r = inNs("h0").address;
    for (const h of ["h1", "h2"]) {
      const p = inNs(h).ns.spawn([python3(), "-c", HTTP_SERVER, "8000", www]);
      http.push(p);
      await p.waitFor(/Serving HTTP/, 10_000);
    }
    const iperf = inNs("h1").ns.spawn(["iperf3", "-s", "-p", "5201", "--forceflush"]);
    await iperf.waitFor("Server listening", 5000);
    if (hasRedis) {
      const redis = inNs("h1").ns.spawn(["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]);
      await redis.waitFor(/Ready to accept connections/, 10_000);
    }

    translators.h1 = serval("h1", [
      "translate",
      "--router",
      r,
      "--export",
      "web.example=127.0.0.1:8000",
      "--export",
      "iperf.example=127.0.0.1:5201",
      "--export",
      "redis.example=127.0.0.1:6379",
    ]);
    translators.h2 = serval("h2", ["translate", "--router", r, "--export", "web.example=127.0.0.1:8000"]);
    translators.h3 = serval("h3", [
      "translate",
      "--router",
      r,
      "--socks",
      "1080",
      "--map",
      "8080=web.example",
      "--map",
      "5201=iperf.example",
      "--map",
      "6379=redis.example",
      // A replica killed outright is found dead after ~2 s of silence.
      "--keepalive-ms",
      "1000",
    ]);
    await translators.h3.waitFor(/socks5 on 127\.0\.0\.1:1080/, 10_000);
    // h1 registers three services, h2 one.
    await lines(router, /lease \+/, 4, 10_000);
  }, 60_000);

  afterAll(() => {
    t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(leftovers()).toEqual([]);
  });

  test("curl through SOCKS5 and through the mapped port: bodies hash to the file's; both replicas serve", async () => {
    const before = http.map((p) => served(p, "/file"));
    const want = sha256(files.file!);
    const out = join(dir, "curl.out");
    for (let i = 0; i < 8; i++) {
      const via = i % 2 === 0
        ? ["--socks5-hostname", "127.0.0.1:1080", "http://web.example/file"]
        : ["http://127.0.0.1:8080/file"];
      const r = inNs("h3").ns.exec(["curl", "-sS", "--max-time", "20", "-o", out, ...via], { check: false });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(sha256(readFileSync(out))).toBe(want);
    }
    // exec blocked the event loop: let the servers' log lines in.
    await until(() => http.reduce((n, p, i) => n + served(p, "/file") - before[i]!, 0) >= 8, 5000);
    const after = http.map((p, i) => served(p, "/file") - before[i]!);
    expect(after[0]! + after[1]!).toBe(8);
    expect(after[0]).toBeGreaterThan(0);
    expect(after[1]).toBeGreaterThan(0);
    console.log(`[e2e] curl: 8 × 2 MiB through SOCKS5 and the mapped port, SHA-256 equal; replicas served ${after.join(" / ")}`);

    // SOCKS: a service nobody serves is a SOCKS error, not a hang; curl exits 97 (proxy handshake failed).
    const bad = inNs("h3").ns.exec(["curl", "-sS", "--max-time", "20", "--socks5-hostname", "127.0.0.1:1080", "http://nobody.example/"], { check: false });
    expect(bad.code).toBe(97);
    expect(bad.stderr).toMatch(/Can't complete SOCKS5 connection to nobody\.example/);
  }, 60_000);

  test("iperf3 client → translator → Serval → translator → iperf3 server: the byte counts agree", async () => {
    const iperf = async (extra: string[]) => {
      const p = inNs("h3").ns.spawn(["iperf3", "-c", "127.0.0.1", "-p", "5201", "-t", "2", "-J", ...extra]);
      const timer = setTimeout(() => p.kill(), 30_000);
      await p.exited;
      clearTimeout(timer);
      const json = JSON.parse(p.stdout) as { error?: string; end?: { sum_sent: IperfSum; sum_received: IperfSum } };
      expect(json.error).toBeUndefined();
      return json.end!;
    };
    // Paced below what the path carries, nothing is left in flight when the
    // test ends: every byte sent was counted by the server.
    const paced = await iperf(["-b", "100M"]);
    expect(paced.sum_sent.bytes).toBeGreaterThan(20e6);
    expect(paced.sum_received.bytes).toBe(paced.sum_sent.bytes);
    // Flat out, the buffers along the path are full when the client says the
    // test ended, and iperf3 stops counting then: what is still in flight
    // (socket buffers on both loopbacks, the splices' high water, the Serval
    // windows) is bounded.
    const full = await iperf([]);
    const inFlight = full.sum_sent.bytes - full.sum_received.bytes;
    expect(inFlight).toBeGreaterThanOrEqual(0);
    expect(inFlight).toBeLessThan(32 << 20);
    console.log(
      `[e2e] iperf3 through two translators: paced 100 Mbit/s ${paced.sum_sent.bytes} bytes sent = received; ` +
        `flat out ${(full.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s, ${(inFlight / 2 ** 20).toFixed(1)} MiB in flight at the end`,
    );
  }, 60_000);

  test.skipIf(!hasRedis)("redis-cli against redis-server through the translator: SET, GET, a 1 MB value", () => {
    const cli = (...args: string[]) => inNs("h3").ns.exec(["redis-cli", "-h", "127.0.0.1", "-p", "6379", ...args]).stdout.trim();
    expect(cli("PING")).toBe("PONG");
    expect(cli("SET", "serval", "translated")).toBe("OK");
    expect(cli("GET", "serval")).toBe("translated");
    const big = seeded(1 << 20, 4).toString("hex").slice(0, 1 << 20);
    expect(inNs("h3").ns.exec(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "-x", "SET", "big"], { input: big }).stdout.trim()).toBe("OK");
    expect(cli("STRLEN", "big")).toBe(String(big.length));
  }, 30_000);

  test("200 concurrent HTTP connections (100 through SOCKS5, 100 through the mapped port) all complete", async () => {
    const run = (args: string[]) => inNs("h3").ns.spawn([process.execPath, client, ...args]);
    const want = sha256(files.small!);
    const before = http.map((p) => served(p, "/small"));
    const t0 = performance.now();
    const a = run(["--port", "8080", "--n", "100", "--path", "/small", "--sha", want]);
    const b = run(["--socks", "1080", "--n", "100", "--path", "/small", "--sha", want]);
    await Promise.all([a.exited, b.exited]);
    const ms = performance.now() - t0;
    const ra = JSON.parse(a.stdout.trim().split("\n").pop()!) as HttpResult;
    const rb = JSON.parse(b.stdout.trim().split("\n").pop()!) as HttpResult;
    expect(ra).toEqual({ ok: 100, resets: 0, errors: {}, wrong: 0 });
    expect(rb).toEqual({ ok: 100, resets: 0, errors: {}, wrong: 0 });
    await until(() => http.reduce((n, p, i) => n + served(p, "/small") - before[i]!, 0) >= 200, 5000);
    const per = http.map((p, i) => served(p, "/small") - before[i]!);
    console.log(`[e2e] 200 concurrent HTTP connections through the translators: all complete in ${ms.toFixed(0)} ms; replicas served ${per.join(" / ")}`);
  }, 120_000);

  test("a replica stopped mid-stream: its clients get a reset, the others finish", async () => {
    const before = http.map((p) => served(p, "/big"));
    const n = 8;
    const p = inNs("h3").ns.spawn([process.execPath, client, "--port", "8080", "--n", String(n), "--path", "/big", "--sha", sha256(files.big!), "--hold"]);
    await p.waitFor(`started ${n}`, 30_000);
    const mine = http.map((x, i) => served(x, "/big") - before[i]!);
    expect(mine[0]! + mine[1]!).toBe(n);
    expect(mine[0]).toBeGreaterThan(0);
    expect(mine[1]).toBeGreaterThan(0);
    // Stop replica h2's translator: it resets its connections on both sides before it exits.
    expect(await translators.h2!.stop("SIGTERM", 5000)).toBe(0);
    process.kill(p.pid!, "SIGUSR1");
    await p.exited;
    const r = JSON.parse(p.stdout.trim().split("\n").pop()!) as HttpResult;
    expect(r).toEqual({ ok: mine[0]!, resets: mine[1]!, errors: {}, wrong: 0 });
    console.log(`[e2e] replica stopped mid-stream: ${r.resets} of its clients reset, ${r.ok} served by the other finished (48 MiB each, SHA-256 equal)`);
  }, 120_000);

  test("a replica killed (SIGKILL) mid-stream: keepalive finds it dead, its clients get a reset, the others finish", async () => {
    translators.h2 = serval("h2", ["translate", "--router", inNs("h0").address, "--export", "web.example=127.0.0.1:8000"]);
    await translators.h2.waitFor(/serval host: registered/, 10_000);
    const before = http.map((p) => served(p, "/big"));
    const n = 8;
    const p = inNs("h3").ns.spawn([process.execPath, client, "--port", "8080", "--n", String(n), "--path", "/big", "--sha", sha256(files.big!), "--hold"]);
    await p.waitFor(`started ${n}`, 30_000);
    const mine = http.map((x, i) => served(x, "/big") - before[i]!);
    expect(mine[0]! + mine[1]!).toBe(n);
    expect(mine[1]).toBeGreaterThan(0);
    translators.h2.child.kill("SIGKILL");
    await translators.h2.exited;
    const t0 = performance.now();
    process.kill(p.pid!, "SIGUSR1");
    await p.exited;
    const ms = performance.now() - t0;
    const r = JSON.parse(p.stdout.trim().split("\n").pop()!) as HttpResult;
    expect(r).toEqual({ ok: mine[0]!, resets: mine[1]!, errors: {}, wrong: 0 });
    // Keepalive: 1 s idle, then 4 probes 250 ms apart; the rest is h1's clients finishing their 48 MiB.
    expect(ms).toBeLessThan(15_000);
    console.log(`[e2e] replica killed (SIGKILL) mid-stream: ${r.resets} of its clients reset, ${r.ok} others finished; all done ${ms.toFixed(0)} ms after the kill`);
  }, 120_000);

  test("the translators stop cleanly on SIGTERM (exit 0); nothing is left", async () => {
    for (const h of ["h1", "h3"]) expect(await translators[h]!.stop("SIGTERM", 5000)).toBe(0);
    expect(translators.h3!.stdout).toMatch(/serval host: stopped/);
  }, 30_000);
});

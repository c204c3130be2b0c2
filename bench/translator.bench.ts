/**
 * The translator's cost, side by side with the same programs talking
 * directly, in one run (root only: network namespaces). One LAN:
 *
 * - h0: `serval router`;
 * - h1: the servers (`iperf3 -s`, Python's http.server, a 64 B echo server)
 *   and `serval translate --export` of each;
 * - h2: the clients and `serval translate --map` of each service.
 *
 * Rows:
 * - iperf3 TCP, one stream, `TRANSLATOR_SECONDS` s (default 3): direct
 *   (kernel TCP h2 → h1) against iperf3 → translator → Serval → translator →
 *   iperf3, on the bare veth and with both directions shaped to 1 Gbit/s
 *   (tbf; the 2012 paper measured 932.1 translated vs 934.5 Mbit/s direct on
 *   1 GbE);
 * - an HTTP/1.0 GET of a 1 KiB file on a new connection each time (what
 *   `curl` does), direct against through the mapped port, interleaved
 *   request by request; p50 / p90 / p99;
 * - a new connection, 64 bytes echoed, close: the same without Python;
 * - a 64-byte request/response on one established connection, direct
 *   against translated, interleaved: the translators' added latency without
 *   the connect.
 *
 * Run: `sudo npx bun bench/translator.bench.ts` (or `npm run bench -- translator`).
 * Environment: `TRANSLATOR_SECONDS` (iperf3 length), `TRANSLATOR_REQUESTS`
 * (HTTP requests per side, default 300), `TRANSLATOR_RTTS` (ping-pongs per
 * side, default 2000).
 *
 * @module
 */

import net from "node:net";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, lan, type LanTopology, type NsProcess, python3, rateLimit } from "../test/e2e/netns.ts";
import { runInNetns, within } from "./_ns_child.ts";
import { report } from "./harness.ts";
import type { BenchRow } from "./harness.ts";

const SECONDS = Number(process.env.TRANSLATOR_SECONDS ?? 3);
const REQUESTS = Number(process.env.TRANSLATOR_REQUESTS ?? 300);
const RTTS = Number(process.env.TRANSLATOR_RTTS ?? 2000);
/** The 1 Gbit/s shaping: token bucket size and queue length in time (`tc tbf burst … latency …`). */
const TBF_BURST_KB = Number(process.env.TRANSLATOR_TBF_BURST_KB ?? 512);
const TBF_LATENCY_MS = Number(process.env.TRANSLATOR_TBF_LATENCY_MS ?? 50);
const CLI = new URL("../packages/cli/main.ts", import.meta.url).pathname;

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

/** One HTTP/1.0 GET on a new connection; resolves with the response's length. */
function httpGet(host: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    let n = 0;
    s.on("connect", () => s.write(`GET ${path} HTTP/1.0\r\nHost: web.example\r\n\r\n`));
    s.on("data", (b: Buffer) => (n += b.length));
    s.on("error", reject);
    s.on("close", () => resolve(n));
  });
}

/** A new connection, 64 bytes there and back, then close (the echo closes after our FIN); resolves once closed. */
function connectEcho(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    let n = 0;
    s.on("connect", () => s.write(Buffer.alloc(64, 1)));
    s.on("data", (b: Buffer) => {
      n += b.length;
      if (n >= 64) s.end();
    });
    s.on("error", reject);
    s.on("close", () => (n >= 64 ? resolve() : reject(new Error(`short echo from ${host}:${port}`))));
  });
}

/** A connection for 64-byte ping-pongs; `next()` does one and records its RTT in µs. */
async function pingPong(host: string, port: number): Promise<{ rtts: number[]; close: () => void; next: () => Promise<number> }> {
  const s = net.connect({ host, port, noDelay: true });
  await new Promise<void>((r, j) => {
    s.once("connect", () => r());
    s.once("error", j);
  });
  const msg = Buffer.alloc(64, 7);
  let want = 0;
  let wake: (() => void) | undefined;
  s.on("data", (b: Buffer) => {
    want -= b.length;
    if (want <= 0) wake?.();
  });
  const rtts: number[] = [];
  const next = async () => {
    const t0 = performance.now();
    want = 64;
    const done = new Promise<void>((r) => (wake = r));
    s.write(msg);
    await done;
    const us = (performance.now() - t0) * 1000;
    rtts.push(us);
    return us;
  };
  return { rtts, close: () => s.destroy(), next };
}

/** Children inside the namespaces. */
async function child(role: string): Promise<void> {
  if (role === "echo") {
    const server = net.createServer({ noDelay: true }, (s) => {
      s.on("error", () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => server.listen(Number(arg("--port")), "0.0.0.0", r));
    console.log("ready");
    return; // runs until killed
  }
  const direct = arg("--direct")!;
  const [dHost, dPort] = [direct.split(":")[0]!, Number(direct.split(":")[1])];
  const tPort = Number(arg("--translated"));
  if (role === "http") {
    const path = arg("--path")!;
    const d: number[] = [];
    const t: number[] = [];
    for (let i = 0; i < 20; i++) await Promise.all([httpGet(dHost, dPort, path), httpGet("127.0.0.1", tPort, path)]); // warm-up
    for (let i = 0; i < REQUESTS; i++) {
      // Interleaved, so that load from other processes hits both alike.
      for (const [h, p, xs] of (i % 2 === 0 ? [[dHost, dPort, d], ["127.0.0.1", tPort, t]] : [["127.0.0.1", tPort, t], [dHost, dPort, d]]) as [string, number, number[]][]) {
        const t0 = performance.now();
        const n = await httpGet(h, p, path);
        if (n < 1024) throw new Error(`short HTTP response from ${h}:${p}: ${n} bytes`);
        xs.push((performance.now() - t0) * 1000);
      }
    }
    console.log(JSON.stringify({ d50: quantile(d, 0.5), d90: quantile(d, 0.9), d99: quantile(d, 0.99), t50: quantile(t, 0.5), t90: quantile(t, 0.9), t99: quantile(t, 0.99) }));
  } else if (role === "connect") {
    const d: number[] = [];
    const t: number[] = [];
    for (let i = 0; i < 20; i++) await Promise.all([connectEcho(dHost, dPort), connectEcho("127.0.0.1", tPort)]); // warm-up
    for (let i = 0; i < REQUESTS; i++) {
      for (const [h, p, xs] of (i % 2 === 0 ? [[dHost, dPort, d], ["127.0.0.1", tPort, t]] : [["127.0.0.1", tPort, t], [dHost, dPort, d]]) as [string, number, number[]][]) {
        const t0 = performance.now();
        await connectEcho(h, p);
        xs.push((performance.now() - t0) * 1000);
      }
    }
    console.log(JSON.stringify({ d50: quantile(d, 0.5), d90: quantile(d, 0.9), d99: quantile(d, 0.99), t50: quantile(t, 0.5), t90: quantile(t, 0.9), t99: quantile(t, 0.99) }));
  } else if (role === "rtt") {
    const a = await pingPong(dHost, dPort);
    const b = await pingPong("127.0.0.1", tPort);
    for (let i = 0; i < 100; i++) await Promise.all([a.next(), b.next()]); // warm-up
    a.rtts.length = 0;
    b.rtts.length = 0;
    for (let i = 0; i < RTTS; i++) {
      if (i % 2 === 0) await a.next(), await b.next();
      else await b.next(), await a.next();
    }
    a.close();
    b.close();
    console.log(JSON.stringify({ d50: quantile(a.rtts, 0.5), d90: quantile(a.rtts, 0.9), d99: quantile(a.rtts, 0.99), t50: quantile(b.rtts, 0.5), t90: quantile(b.rtts, 0.9), t99: quantile(b.rtts, 0.99) }));
  }
  process.exit(0);
}

interface IperfEnd {
  sum_sent: { bytes: number };
  sum_received: { bytes: number; bits_per_second: number };
}

async function iperf3Client(t: LanTopology, target: string): Promise<IperfEnd> {
  const p = t.hosts.h2!.ns.spawn(["iperf3", "-c", target, "-p", "5201", "-t", String(SECONDS), "-J"]);
  const timer = setTimeout(() => p.kill(), (SECONDS + 20) * 1000);
  await p.exited;
  clearTimeout(timer);
  const json = JSON.parse(p.stdout) as { error?: string; end: IperfEnd };
  if (json.error) throw new Error(`iperf3 -c ${target}: ${json.error}`);
  return json.end;
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.log("[bench] skipped translator.bench.ts: needs root (network namespaces)");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "serval-translator-bench-"));
  const www = join(dir, "www");
  mkdirSync(www);
  writeFileSync(join(www, "1k"), Buffer.alloc(1024, 97));
  const t = lan(3);
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const procs: NsProcess[] = [];
  try {
    const { h0, h1, h2 } = t.hosts as Record<string, (typeof t.members)[number]>;
    const serval = (h: typeof h0, a: string[]) => {
      const p = h!.ns.spawn([process.execPath, CLI, ...a, "--run-dir", mkdtempSync(join(dir, "run-"))]);
      procs.push(p);
      return p;
    };
    const router = serval(h0, ["router"]);
    await router.waitFor(/boot id/, 10_000);
    const iperf = h1!.ns.spawn(["iperf3", "-s", "-p", "5201", "--forceflush"]);
    await iperf.waitFor("Server listening", 5000);
    const http = h1!.ns.spawn([python3(), "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", www]);
    await http.waitFor(/Serving HTTP/, 10_000);
    const echo = runInNetns(h1!.ns.name, import.meta.path, ["--role", "echo", "--port", "7007"], 600_000);
    echo.result.catch(() => {}); // it prints no result: it is killed at the end
    await within(echo.ready, 10_000, "echo server");
    const r = h0!.address;
    serval(h1!, ["translate", "--router", r, "--export", "iperf.example=127.0.0.1:5201", "--export", "web.example=127.0.0.1:8000", "--export", "echo.example=127.0.0.1:7007"]);
    const cli = serval(h2!, ["translate", "--router", r, "--map", "5201=iperf.example", "--map", "8080=web.example", "--map", "7007=echo.example"]);
    await cli.waitFor(/mapped 127\.0\.0\.1:7007/, 10_000);
    const deadline = performance.now() + 10_000;
    while ((router.stdout.match(/lease \+/g) ?? []).length < 3) {
      if (performance.now() > deadline) throw new Error(`services not registered: ${router.stdout}`);
      await new Promise((res) => setTimeout(res, 20));
    }

    const iperfRow = (name: string, e: IperfEnd, ref?: IperfEnd): BenchRow => {
      const bps = e.sum_received.bits_per_second;
      return {
        name,
        nsPerOp: 1e9 / (bps / 8 / 1448),
        opsPerSec: bps / 8 / 1448,
        extra: {
          "Mbit/s": (bps / 1e6).toFixed(1),
          "vs direct": ref ? (bps / ref.sum_received.bits_per_second).toFixed(3) : "1",
          "MiB in flight at end": ((e.sum_sent.bytes - e.sum_received.bytes) / 2 ** 20).toFixed(1),
        },
      };
    };
    // Direct, translated, translated, direct: drift in the machine's load hits both.
    for (const shaped of [false, true]) {
      if (shaped) {
        for (const h of [h1!, h2!]) rateLimit(h, h.ifname, { rateMbit: 1000, burstKb: TBF_BURST_KB, latencyMs: TBF_LATENCY_MS });
      }
      const where = shaped ? "veth shaped to 1 Gbit/s" : "bare veth";
      const d1 = await iperf3Client(t, h1!.address);
      const t1 = await iperf3Client(t, "127.0.0.1");
      const t2 = await iperf3Client(t, "127.0.0.1");
      const d2 = await iperf3Client(t, h1!.address);
      const best = (a: IperfEnd, b: IperfEnd) => (a.sum_received.bits_per_second >= b.sum_received.bits_per_second ? a : b);
      const d = best(d1, d2);
      const tr = best(t1, t2);
      rows.push(iperfRow(`iperf3 direct, ${where} (best of 2)`, d));
      rows.push(iperfRow(`iperf3 through two translators, ${where} (best of 2)`, tr, d));
      notes.push(
        `${where}: direct ${[d1, d2].map((x) => (x.sum_received.bits_per_second / 1e6).toFixed(0)).join(", ")} Mbit/s; ` +
          `translated ${[t1, t2].map((x) => (x.sum_received.bits_per_second / 1e6).toFixed(0)).join(", ")} Mbit/s`,
      );
    }
    for (const h of [h1!, h2!]) h.ns.exec(["tc", "qdisc", "del", "dev", h.ifname, "root"], { check: false });

    const latencyRows = (what: string, x: Record<string, number>) => {
      const row = (name: string, p50: number, p90: number, p99: number, added?: number): BenchRow => ({
        name,
        nsPerOp: p50 * 1000,
        opsPerSec: 1e6 / p50,
        extra: { "p50 µs": p50.toFixed(0), "p90 µs": p90.toFixed(0), "p99 µs": p99.toFixed(0), ...(added !== undefined ? { "added p50 µs": added.toFixed(0) } : {}) },
      });
      rows.push(row(`${what}, direct`, x.d50!, x.d90!, x.d99!));
      rows.push(row(`${what}, through two translators`, x.t50!, x.t90!, x.t99!, x.t50! - x.d50!));
    };
    const httpChild = runInNetns(h2!.ns.name, import.meta.path, ["--role", "http", "--direct", `${h1!.address}:8000`, "--translated", "8080", "--path", "/1k"], 300_000);
    latencyRows(`HTTP/1.0 GET 1 KiB, new connection each (python http.server), ${REQUESTS} each`, await httpChild.result);
    const connectChild = runInNetns(h2!.ns.name, import.meta.path, ["--role", "connect", "--direct", `${h1!.address}:7007`, "--translated", "7007"], 300_000);
    latencyRows(`new connection + 64 B echo + close (echo server), ${REQUESTS} each`, await connectChild.result);
    const rttChild = runInNetns(h2!.ns.name, import.meta.path, ["--role", "rtt", "--direct", `${h1!.address}:7007`, "--translated", "7007"], 300_000);
    latencyRows(`64 B request/response on one connection (echo), ${RTTS} each`, await rttChild.result);
    echo.kill();
  } finally {
    for (const p of procs) await p.stop("SIGTERM", 3000);
    t.close();
    rmSync(dir, { recursive: true, force: true });
  }
  report(`Translator: iperf3 ${SECONDS} s and request latency, direct vs through two translators (op = 1448 B for iperf3 rows, one request for latency rows)`, rows);
  for (const n of notes) console.log(`runs: ${n}`);
}

if (arg("--role")) await child(arg("--role")!);
else await main();

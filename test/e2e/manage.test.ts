/**
 * The management API and the `serval service|flow|stats|migrate|router|lease`
 * commands end to end: a real `serval router` and `serval host` (UDP on
 * 127.0.0.1, port 0, each its own --run-dir), a client flow to the host's
 * echo service, and every command run as its own process against them,
 * bad input included. No root needed.
 *
 * @module
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { ManagementClient } from "@serval/management";
import { openUdpDatapath, parseConfig, ServalApi, ServalNode, type StreamConnection, toNodeOptions } from "@serval/runtime";

const CLI = new URL("../../packages/cli/main.ts", import.meta.url).pathname;

interface Daemon {
  readonly pid: number;
  out: string;
  err: string;
  code: number | null | undefined;
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

const daemons: Daemon[] = [];
const dirs: string[] = [];

function daemon(args: string[]): Daemon {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const d: Daemon = {
    pid: child.pid!,
    out: "",
    err: "",
    code: undefined,
    exited: new Promise((r) => child.on("close", (code) => ((d.code = code), r(code)))),
    kill: (s) => child.kill(s),
  };
  child.stdout.setEncoding("utf8").on("data", (s: string) => (d.out += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (d.err += s));
  daemons.push(d);
  return d;
}

async function waitFor(d: Daemon, re: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
  const end = performance.now() + ms;
  for (;;) {
    const m = d.out.match(re);
    if (m) return m;
    if (d.code !== undefined || performance.now() > end) throw new Error(`no ${re} (exit ${d.code}): ${d.out.slice(-600)} ${d.err.slice(-400)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function runDir(): string {
  const d = mkdtempSync("/tmp/serval-manage-e2e-");
  dirs.push(d);
  return `${d}/run`;
}

/** Runs `serval ARGS` to its end. */
function serval(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return servalWith({}, ...args);
}

/** Runs `serval ARGS` with more environment. */
function servalWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

let R = "";
let H = "";
let router: Daemon;
let host: Daemon;
let rport = 0;
let hport = 0;
let clientNode: ServalNode;
let conn: StreamConnection;

beforeAll(async () => {
  R = runDir();
  H = runDir();
  router = daemon(["router", "--bind", "127.0.0.1", "--port", "0", "--run-dir", R]);
  rport = Number((await waitFor(router, /serval router: udp 127\.0\.0\.1:(\d+)/))[1]);
  await waitFor(router, /management at /);
  host = daemon(["host", "--bind", "127.0.0.1", "--port", "0", "--router", `127.0.0.1:${rport}`, "--echo", "echo.example", "--run-dir", H]);
  hport = Number((await waitFor(host, /serval host: udp 127\.0\.0\.1:(\d+)/))[1]);
  await waitFor(host, /management at /);
  await waitFor(host, /registered echo\.example/);
  // A client flow to the host's echo service, held open (in this process).
  const config = parseConfig({ role: "host", bind: "127.0.0.1", port: 0, routers: [`127.0.0.1:${rport}`] });
  clientNode = await ServalNode.start(toNodeOptions(config, await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false })));
  conn = await new ServalApi(clientNode).connect("echo.example");
  const w = conn.writable.getWriter();
  await w.write(new TextEncoder().encode("hello, operator"));
  w.releaseLock();
  const r = conn.readable.getReader();
  let got = 0;
  while (got < 15) got += (await r.read()).value?.length ?? 0;
  r.releaseLock();
}, 60_000);

afterAll(async () => {
  conn?.abort();
  await clientNode?.close();
  for (const d of daemons) if (d.code === undefined) d.kill("SIGTERM");
  await Promise.all(daemons.map((d) => d.exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 30_000);

/** The rules of `service ls --json` without their counters (which move with control traffic). */
async function rules(dir: string): Promise<unknown> {
  const r = JSON.parse((await serval("service", "ls", "--json", "--run-dir", dir)).out) as {
    services: { prefix: string; sets: { priority: number; plugin: string; targets: { type: string; to?: string; listener?: number; weight: number }[] }[] }[];
  };
  return r.services.map((x) => ({
    prefix: x.prefix,
    sets: x.sets.map((y) => ({ priority: y.priority, plugin: y.plugin, targets: y.targets.map((t) => [t.type, t.to, t.listener, t.weight]) })),
  }));
}

/** One line on stderr, nothing on stdout, exit `code`. */
function expectError(r: { code: number | null; out: string; err: string }, code: number, line: string | RegExp): void {
  expect(r.code).toBe(code);
  expect(r.out).toBe("");
  const lines = r.err.trimEnd().split("\n");
  expect(lines.length).toBe(1);
  if (typeof line === "string") expect(lines[0]).toBe(line);
  else expect(lines[0]).toMatch(line);
}

describe("serval management commands against running daemons", () => {
  test("the socket: 0600, answers hello; a second daemon on the same run dir fails with one line and exit 1", async () => {
    expect(statSync(`${H}/mgmt.sock`).mode & 0o777).toBe(0o600);
    const c = await ManagementClient.connect(`${H}/mgmt.sock`);
    const hello = await c.request("hello", {});
    c.close();
    expect(hello).toMatchObject({ version: 1, role: "host", pid: host.pid, datapath: "udp", locals: [`127.0.0.1:${hport}`] });

    const second = daemon(["host", "--bind", "127.0.0.1", "--port", "0", "--run-dir", H]);
    expect(await second.exited).toBe(1);
    const errLines = second.err.trimEnd().split("\n");
    expect(errLines.length).toBe(1);
    expect(errLines[0]).toMatch(/^serval host: .*another (serval )?daemon/);
    // The first one still serves, on the same socket.
    expect((await serval("stats", "--run-dir", H)).code).toBe(0);
  }, 60_000);

  test("service add|mod|del|ls (table and --json), on the router", async () => {
    const add = await serval("service", "add", "web.example/16", "via", "198.18.1.2", "weight", "10", "--run-dir", R);
    expect(add.code).toBe(0);
    expect(add.err).toBe("");
    expect(add.out).toMatch(/^PREFIX +PRIO +PLUGIN +TARGET +WEIGHT +PACKETS +BYTES +DROPPED\n1356333056\/16 +0 +forward +via 198\.18\.1\.2:54325 +10 +0 +0 +0\n$/);
    expect(add.out).not.toContain("\x1b"); // no colours: stdout is not a terminal

    const add2 = await serval("service", "add", "web.example/16", "via", "198.18.1.3:4000", "priority", "5", "--run-dir", R);
    expect(add2.code).toBe(0);
    const mod = await serval("service", "mod", "web.example/16", "via", "198.18.1.2", "weight", "3", "priority", "5", "plugin", "round-robin", "--json", "--run-dir", R);
    expect(mod.code).toBe(0);
    const modded = JSON.parse(mod.out) as { service: { sets: { priority: number; plugin: string; targets: { to: string; weight: number }[] }[] } };
    expect(modded.service.sets.map((s) => [s.priority, s.plugin, s.targets.map((t) => `${t.to}*${t.weight}`)])).toEqual([
      [5, "@serval/plugin-round-robin", ["198.18.1.3:4000*1", "198.18.1.2:54325*3"]],
    ]);

    const ls = await serval("service", "ls", "--json", "--run-dir", R);
    expect(ls.code).toBe(0);
    const rules = JSON.parse(ls.out) as { services: { prefix: string; sets: { targets: { to?: string }[] }[] }[] };
    const web = rules.services.find((s) => s.prefix === "1356333056/16")!;
    expect(web.sets[0]!.targets.map((t) => t.to)).toEqual(["198.18.1.3:4000", "198.18.1.2:54325"]);
    // The host's registration is a lease rule on the router: listed with its counters.
    expect(rules.services.some((s) => s.sets.some((x) => x.targets.some((t) => t.to === `127.0.0.1:${hport}`)))).toBe(true);
    const table = await serval("service", "ls", "--run-dir", R);
    expect(table.out).toMatch(new RegExp(`via 127\\.0\\.0\\.1:${hport} +1 +[1-9]`)); // the client's SYN went through it
    expect(table.out).toMatch(/^table: \d+ resolved, \d+ dropped, \d+ without a rule$/m);

    expect((await serval("service", "del", "web.example/16", "via", "198.18.1.3:4000", "--run-dir", R)).code).toBe(0);
    const del = await serval("service", "del", "web.example/16", "via", "198.18.1.2", "--run-dir", R);
    expect(del).toEqual({ code: 0, out: "web.example/16: rule removed (its last target was deleted)\n", err: "" });
  }, 90_000);

  test("service: bad input is one line (exit 2 for usage, 1 for what the daemon refuses) and changes nothing", async () => {
    const before = await rules(R);
    const [unknownSyntax, tooLong, missing, weight0, delMissing, unknownWord, addTwice] = await Promise.all([
      serval("service", "add", "web..example/16", "via", "198.18.1.2", "--run-dir", R),
      serval("service", "add", "web.example/300", "via", "198.18.1.2", "--run-dir", R),
      serval("service", "add", "web.example/16", "--run-dir", R),
      serval("service", "add", "web.example/16", "via", "198.18.1.2", "weight", "0", "--run-dir", R),
      serval("service", "del", "nothing.test/8", "drop", "--run-dir", R),
      serval("service", "add", "web.example/16", "through", "198.18.1.2", "--run-dir", R),
      serval("service", "add", "default", "drop", "--run-dir", R),
    ]);
    expectError(unknownSyntax, 2, /^serval service add: prefix: expected 64 hex digits, 0x-prefixed hex, a decimal number, "default" or a service name \(a label is empty\)/);
    expectError(tooLong, 2, 'serval service add: prefix: prefix length is 300, must be 0..256, got "web.example/300"');
    expectError(missing, 2, "serval service add: missing target: give via IP[:PORT], drop or delay");
    expectError(weight0, 2, "serval service add: weight: expected an integer 1..65535, got 0");
    expectError(delMissing, 1, "serval service del: no rule for nothing.test/8");
    expectError(unknownWord, 2, 'serval service add: unknown word "through": expected via IP[:PORT], drop or delay, weight, priority, plugin');
    expect(addTwice.code).toBe(0);
    const again = await serval("service", "add", "default", "drop", "--run-dir", R);
    expectError(again, 1, "serval service add: drop already exists at priority 0");
    expect((await serval("service", "del", "default", "drop", "--run-dir", R)).code).toBe(0);
    expect(await rules(R)).toEqual(before);

    // The same bad requests straight to the daemon's socket: refused, counted, nothing changed.
    const c = await ManagementClient.connect(`${R}/mgmt.sock`);
    const lines = [
      '{"v":1,"id":1,"op":"service.add","prefix":"web.example/300","target":{"type":"drop"}}',
      '{"v":1,"id":2,"op":"service.add","prefix":"web.example/16"}',
      '{"v":1,"id":3,"op":"service.add","prefix":"web.example/16","target":{"type":"forward","to":"198.18.1.2"},"weight":0}',
      '{"v":1,"id":4,"op":"service.del","prefix":"nothing.test/8","target":{"type":"drop"}}',
      '{"v":1,"id":5,"op":"service.add","prefix":"web.example/16","target":{"type":"drop"},"bogus":true}',
      "\u0000\u00ff not json",
    ];
    const replies = [];
    for (const l of lines) replies.push(await c.raw(`${l}\n`));
    expect(replies.map((r) => (r.ok ? "ok" : `${r.error.code}: ${r.error.message}`))).toEqual([
      'bad-request: prefix: prefix length is 300, must be 0..256, got "web.example/300"',
      "bad-request: target: missing",
      "bad-request: weight: expected an integer 1..65535, got 0",
      "not-found: no rule for nothing.test/8",
      "bad-request: bogus: unknown field",
      "bad-request: not JSON: expected one JSON object per line",
    ]);
    c.close();
    expect(await rules(R)).toEqual(before);
  }, 90_000);

  test("flow ls (ss-like and --json), stats, router ls, lease ls", async () => {
    const [flowTable, flowJson, stats, statsJson, routers, routersJson, leases, hostLeases] = await Promise.all([
      serval("flow", "ls", "--run-dir", H),
      serval("flow", "ls", "--json", "--run-dir", H),
      serval("stats", "--run-dir", H),
      serval("stats", "--json", "--run-dir", R),
      serval("router", "ls", "--run-dir", H),
      serval("router", "ls", "--json", "--run-dir", H),
      serval("lease", "ls", "--run-dir", R),
      serval("lease", "ls", "--run-dir", H),
    ]);
    expect(flowTable.code).toBe(0);
    const [head, row, ...rest] = flowTable.out.trimEnd().split("\n");
    expect(head).toMatch(/^STATE +SIDE +FLOW +PEER-FLOW +SERVICE +LOCAL +PEER +CWND +RTT +RETRANS +SENT +RECV$/);
    expect(rest).toEqual([]);
    expect(row).toMatch(new RegExp(`^CONNECTED +server +\\d+ +${conn.flow} +50d858e0092c79e8… +127\\.0\\.0\\.1:${hport} +127\\.0\\.0\\.1:${clientNode.locals[0]!.port} +\\d+ +[\\d.]+ms +0 +15 +15$`));
    const flows = JSON.parse(flowJson.out).flows;
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ state: "CONNECTED", side: "server", peerId: conn.flow, transport: { bytesReceived: 15, bytesSent: 15, retransmits: 0 } });
    expect(flows[0].transport.cwnd).toBeGreaterThan(0);
    expect(flows[0].transport.srttUs).toBeGreaterThanOrEqual(0);

    expect(stats.code).toBe(0);
    expect(stats.out.split("\n").map((l) => l.split(/ +/)[0])).toEqual(["node", "datapath", "sal", "table", "control", "management", ""]);
    expect(stats.out).toMatch(/^sal +1 flows, no drops$/m);
    const s = JSON.parse(statsJson.out);
    expect(s.role).toBe("router");
    expect(s.control.leases).toBe(1);
    expect(s.datapath.rxPackets).toBeGreaterThan(0);

    expect(routers.code).toBe(0);
    expect(routers.out).toMatch(new RegExp(`^127\\.0\\.0\\.1:${rport} +yes +configured`, "m"));
    expect(JSON.parse(routersJson.out).routers).toEqual([
      { locator: `127.0.0.1:${rport}`, inUse: true, source: "configured", priority: null, bootId: null, announced: [], expiresInMs: null },
    ]);
    expect(leases.code).toBe(0);
    expect(leases.out).toMatch(new RegExp(`^50d858e0092c79e8…/256 +127\\.0\\.0\\.1:${hport} +1 +0 +[\\d.]+s +[\\d.]+s$`, "m"));
    expectError(hostLeases, 1, "serval lease ls: this node is a host: only routers hold leases");
  }, 90_000);

  test("migrate flow|iface: the flow moves and still carries data; bad input is refused", async () => {
    const flows = JSON.parse((await serval("flow", "ls", "--json", "--run-dir", H)).out).flows as { id: number }[];
    const id = flows[0]!.id;
    const moved = await serval("migrate", "flow", String(id), "to", "127.0.0.1", "--run-dir", H);
    expect(moved).toEqual({ code: 0, out: `flow ${id} moved to 127.0.0.1:${hport}\n`, err: "" });
    const w = conn.writable.getWriter();
    await w.write(new TextEncoder().encode("after the move"));
    w.releaseLock();
    const r = conn.readable.getReader();
    expect(new TextDecoder().decode((await r.read()).value)).toBe("after the move");
    r.releaseLock();

    const iface = await serval("migrate", "iface", "127.0.0.1", "to", `127.0.0.1:${hport}`, "--run-dir", H);
    expect(iface.code).toBe(0);
    expect(iface.out).toMatch(new RegExp(`^\\d+ flow\\(s\\) (moved|moving) off 127\\.0\\.0\\.1 to 127\\.0\\.0\\.1:${hport}\\n$`));

    const [noFlow, badId, notOurs, noTo, noIface, fromNotOurs, toNotOurs] = await Promise.all([
      serval("migrate", "flow", "12345", "to", "127.0.0.1", "--run-dir", H),
      serval("migrate", "flow", "abc", "to", "127.0.0.1", "--run-dir", H),
      serval("migrate", "flow", String(id), "to", "198.18.9.9", "--run-dir", H),
      serval("migrate", "flow", String(id), "--run-dir", H),
      serval("migrate", "iface", "nope0", "--run-dir", H),
      serval("migrate", "iface", "198.18.9.9", "--run-dir", H),
      serval("migrate", "iface", "127.0.0.1", "to", "198.18.9.9", "--run-dir", H),
    ]);
    expectError(noFlow, 1, "serval migrate flow: no flow 12345");
    expectError(badId, 2, 'serval migrate flow: flow: expected an integer 1..4294967295, got "abc"');
    expectError(notOurs, 1, new RegExp(`^serval migrate flow: 198\\.18\\.9\\.9 is not one of this node's locators \\(127\\.0\\.0\\.1:${hport}\\)$`));
    expectError(noTo, 2, 'serval migrate flow: missing "to IP[:PORT]"');
    expectError(noIface, 1, /^serval migrate iface: no interface or address "nope0"/);
    // Addresses that are not ours are refused, not reported as "0 flow(s) moved".
    expectError(fromNotOurs, 1, new RegExp(`^serval migrate iface: no interface or address "198\\.18\\.9\\.9" on this node \\(have .*127\\.0\\.0\\.1:${hport}\\)$`));
    expectError(toNotOurs, 1, new RegExp(`^serval migrate iface: 198\\.18\\.9\\.9 is not one of this node's locators \\(127\\.0\\.0\\.1:${hport}\\)$`));
  }, 90_000);

  test("help with examples, shell completion, no daemon", async () => {
    const [help, completions, none] = await Promise.all([
      serval("service", "add", "--help"),
      serval("--completions", "bash"),
      serval("stats", "--run-dir", "/nonexistent/serval"),
    ]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("EXAMPLES");
    expect(help.out).toContain("serval service add web.example/16 via 198.18.1.2 weight 10");
    expect(completions.code).toBe(0);
    for (const w of ["service", "flow", "stats", "migrate", "lease"]) expect(completions.out).toContain(w);
    expectError(none, 1, /^serval stats: no serval daemon answers on \/nonexistent\/serval\/mgmt\.sock \(no socket\)/);
  }, 60_000);

  test("remote management: off by default; opt-in by config with an owner-only token file; the commands reach it with the token", async () => {
    // Off by default: the router listens on no TCP port of its own but its UDP one.
    const c0 = await ManagementClient.connect(`${R}/mgmt.sock`);
    expect((await c0.request("hello", {})).role).toBe("router");
    c0.close();

    const dir = runDir();
    const base = dir.slice(0, -"/run".length);
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    writeFileSync(`${base}/token`, "e2e-token-0123456789abcdef\n", { mode: 0o600 });
    writeFileSync(`${base}/loose-token`, "e2e-token-0123456789abcdef\n", { mode: 0o644 });
    chmodSync(`${base}/loose-token`, 0o644);
    writeFileSync(`${base}/config.json`, JSON.stringify({ management: { listen: `127.0.0.1:${port}`, tokenFile: `${base}/token` } }));
    writeFileSync(`${base}/loose.json`, JSON.stringify({ management: { listen: `127.0.0.1:${port}`, tokenFile: `${base}/loose-token` } }));

    const loose = daemon(["router", "--bind", "127.0.0.1", "--port", "0", "--run-dir", `${base}/loose-run`, "--config", `${base}/loose.json`]);
    expect(await loose.exited).toBe(1);
    expect(loose.err.trimEnd()).toBe(`serval router: the management token file ${base}/loose-token is readable by others (mode 644); chmod 600 it`);

    const remote = daemon(["router", "--bind", "127.0.0.1", "--port", "0", "--run-dir", dir, "--config", `${base}/config.json`]);
    await waitFor(remote, /management at /);
    const env = { SERVAL_MANAGEMENT_REMOTE: `127.0.0.1:${port}`, SERVAL_MANAGEMENT_TOKEN_FILE: `${base}/token` };
    const stats = await servalWith(env, "stats", "--json");
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out).role).toBe("router");
    writeFileSync(`${base}/wrong`, "not-the-token-0123456789");
    expectError(await servalWith({ ...env, SERVAL_MANAGEMENT_TOKEN_FILE: `${base}/wrong` }, "stats"), 1, "serval stats: wrong token");
    remote.kill("SIGTERM");
    expect(await remote.exited).toBe(0);
  }, 60_000);

  test("a killed daemon's stale socket is replaced by the next one; a stopped daemon removes its socket", async () => {
    const dir = runDir();
    const first = daemon(["router", "--bind", "127.0.0.1", "--port", "0", "--run-dir", dir]);
    await waitFor(first, /management at /);
    first.kill("SIGKILL");
    await first.exited;
    expect(existsSync(`${dir}/mgmt.sock`)).toBe(true);
    const next = daemon(["router", "--bind", "127.0.0.1", "--port", "0", "--run-dir", dir]);
    await waitFor(next, /management at /);
    expect((await serval("stats", "--run-dir", dir)).code).toBe(0);
    next.kill("SIGTERM");
    expect(await next.exited).toBe(0);
    expect(existsSync(`${dir}/mgmt.sock`)).toBe(false);
  }, 60_000);

  test("SIGTERM: the daemons exit 0 and remove their management sockets", async () => {
    conn.abort();
    for (const [d, dir] of [[host, H], [router, R]] as const) {
      d.kill("SIGTERM");
      expect(await d.exited).toBe(0);
      expect(existsSync(`${dir}/mgmt.sock`)).toBe(false);
    }
    expect(daemons.every((d) => d.code !== undefined)).toBe(true);
  }, 30_000);
});

/**
 * The application socket end to end in one process: a router and two hosts
 * over loopback UDP, each host with its daemon side ({@linkcode AppSocketServer})
 * and applications using the client library over real unix sockets.
 */

import { afterEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createConnection, createServer, Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { type Locator, ServicePrefix } from "@serval/wire";
import { openUdpDatapath, ServalNode } from "@serval/runtime";
import {
  type AppMessage,
  type AppSocketOptions,
  AppSocketServer,
  type ClientConnection,
  connectDaemon,
  encodeMessage,
  FrameDecoder,
  MAX_NAME,
  type ServalClient,
  ServalClientError,
} from "./mod.ts";

const LOOP = new Uint8Array([127, 0, 0, 1]);
/** Sockets this process holds open (UDP, unix): what a leak would leave. */
const fds = () =>
  readdirSync("/proc/self/fd").filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
let fdsAfterFirst = -1;

interface World {
  router: ServalNode;
  a: ServalNode;
  b: ServalNode;
  sa: AppSocketServer;
  sb: AppSocketServer;
  pathA: string;
  pathB: string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  // Count from after the first test: the runtime may open sockets of its own once.
  if (fdsAfterFirst < 0) fdsAfterFirst = fds();
});

async function node(role: "host" | "router", routers: Locator[] = []): Promise<ServalNode> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
  const n = await ServalNode.start({ role, datapath: dp, control: { routers } });
  cleanups.push(() => n.close());
  return n;
}

/** Resolves once `cond()` holds, checked at every step of `n` (bounded). */
function until(n: ServalNode, cond: () => boolean, what: string, ms = 3000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`Timed out waiting for ${what}`))), ms);
    const off = n.onStep(() => {
      if (!cond()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Resolves once `cond()` holds, re-checked every few ms (bounded): for state outside any node. */
async function poll(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function world(opts: AppSocketOptions = {}): Promise<World> {
  const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const router = await node("router");
  const r: Locator = { address: LOOP, port: router.locals[0]!.port };
  const a = await node("host", [r]);
  const b = await node("host", [r]);
  const pathA = `${dir}/a.sock`;
  const pathB = `${dir}/b.sock`;
  const sa = await AppSocketServer.listen(a, pathA, opts);
  const sb = await AppSocketServer.listen(b, pathB, opts);
  cleanups.push(async () => {
    await sa.close();
    await sb.close();
  });
  return { router, a, b, sa, sb, pathA, pathB };
}

async function client(path: string): Promise<ServalClient> {
  const c = await connectDaemon({ path });
  cleanups.push(() => c.close());
  return c;
}

/** Listens through `c` and waits until the router holds the lease. */
async function listening(w: World, c: ServalClient, service: string) {
  const leases = w.router.agent.leases!;
  const before = leases.size;
  const l = c.listen(service);
  await l.ready;
  await until(w.router, () => leases.size > before, `the router's lease for ${service}`);
  return l;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function readAll(r: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of r) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function writeAll(c: ClientConnection, data: Uint8Array, chunk = 100_000): Promise<void> {
  const w = c.writable.getWriter();
  for (let o = 0; o < data.length; o += chunk) await w.write(data.subarray(o, o + chunk));
  await w.close();
}

/** A raw socket to the daemon: send bytes, collect decoded replies, see the close. */
function raw(path: string) {
  const s: Socket = createConnection(path);
  const d = new FrameDecoder();
  const got: (AppMessage | { type: "invalid"; reason: string })[] = [];
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  s.on("error", () => {});
  s.on("data", (b: Uint8Array) => {
    d.push(b);
    for (let m = d.next(); m !== undefined; m = d.next()) {
      got.push(m);
      if (m.type === "invalid") break;
    }
  });
  return { s, got, closed, connected: new Promise<void>((r) => s.once("connect", () => r())) };
}

describe("application socket", () => {
  test("listen and connect through two daemons: 2 MB each way byte-exact, half-close, nothing left", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "echo.example");
    const served = (async () => {
      const c = await l.accept();
      await c.readable.pipeTo(c.writable); // echo; the peer's FIN → our FIN
      return c.closed;
    })();
    const c = await appB.connect("echo.example");
    const data = pattern(2_000_000, 1);
    const [, back] = await Promise.all([writeAll(c, data), readAll(c.readable)]);
    expect(back.length).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
    expect(await c.closed).toBe("normal");
    expect(await served).toBe("normal");
    // Both streams forgotten by both daemons (the listener remains on A).
    await poll(() => w.sb.channels === 0 && w.sa.channels === 1, "channels to go");
    l.close();
    await poll(() => w.sa.channels === 0, "the listener to go");
    await appA.close();
    await appB.close();
    await poll(() => w.sa.sessions === 0 && w.sb.sessions === 0, "sessions to go");
    expect(w.sa.stats.protocolErrors + w.sb.stats.protocolErrors).toBe(0);
  }, 30_000);

  test("failures are clear: refused, unreachable, invalid, no daemon", async () => {
    const w = await world();
    const appB = await client(w.pathB);
    // A route to host A, where nobody listens: A answers refused.
    w.b.host.serviceTable.addTarget(ServicePrefix.parse("nobody.example"), { type: "forward", locator: w.a.locals[0]! });
    const err = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        return e as ServalClientError;
      }
      throw new Error("expected a failure");
    };
    const refused = await err(appB.connect("nobody.example"));
    expect(refused).toBeInstanceOf(ServalClientError);
    expect(refused.code).toBe("refused");
    expect(refused.message).toBe("Cannot connect to nobody.example: refused (nobody listens on this service there)");
    // A host with no route at all (no router, no rule).
    const lone = await node("host");
    const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const sl = await AppSocketServer.listen(lone, `${dir}/app.sock`);
    cleanups.push(() => sl.close());
    const appL = await client(`${dir}/app.sock`);
    const unreachable = await err(appL.connect("nowhere.example"));
    expect(unreachable.code).toBe("unreachable");
    expect(unreachable.message).toBe("Cannot connect to nowhere.example: unreachable (no route to the service)");
    expect((await err(appB.connect("not a name!"))).code).toBe("invalid");
    const badListen = appB.listen("not a name!");
    expect((await err(badListen.ready)).code).toBe("invalid");
    expect((await err(badListen.accept())).code).toBe("invalid");
    expect((await err(appB.openDatagram("bad/999").ready)).code).toBe("invalid");
    const none = await err(connectDaemon({ path: `${dir}/none.sock` }));
    expect(none.code).toBe("unavailable");
    expect(none.message).toMatch(/^Cannot reach the Serval daemon at .*none\.sock: ENOENT/);
    // The client stays usable after failed requests.
    expect(w.sb.channels).toBe(0);
  }, 30_000);

  test("a slow reader stalls the remote sender with bounded memory; then everything arrives", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "sink.example");
    const c = await appB.connect("sink.example");
    const server = await l.accept(); // never read, for now
    const total = 32 * 1024 * 1024;
    let written = 0;
    const writer = c.writable.getWriter();
    const chunk = pattern(64 * 1024, 2);
    const writing = (async () => {
      while (written < total) {
        await writer.write(chunk);
        written += chunk.length;
      }
      await writer.close();
    })();
    // Stalled: no progress over three looks 100 ms apart.
    let last = -1;
    let still = 0;
    await poll(() => {
      if (written === last) still++;
      else (still = 0), (last = written);
      return still >= 3;
    }, "the writer to stall", 10_000);
    // Buffers on the way: B's window (256 KiB), two transport buffers (1 MiB
    // each), A's stream queue (256 KiB), A's window (256 KiB), socket buffers.
    expect(written).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(written).toBeGreaterThan(0);
    console.log(`[app] a reader that does not read stalls its remote writer after ${(written / 1024).toFixed(0)} KiB`);
    // Now read: all of it arrives, in order.
    let got = 0;
    let ok = true;
    for await (const part of server.readable) {
      for (let i = 0; i < part.length; i += 4096) if (part[i] !== chunk[(got + i) % chunk.length]) ok = false;
      got += part.length;
    }
    await writing;
    expect(got).toBe(total);
    expect(ok).toBe(true);
    await server.close();
    expect(await c.closed).toBe("normal");
  }, 60_000);

  test("an application that does not accept is handed at most `backlog` connections", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const leases = w.router.agent.leases!;
    const l = appA.listen("slow.example", { backlog: 1 });
    await l.ready;
    await until(w.router, () => leases.size === 1, "the lease");
    const cs = await Promise.all([1, 2, 3].map(() => appB.connect("slow.example")));
    // The listener and one stream on A's side; the others wait in the host's accept queue.
    await poll(() => w.sa.channels === 2, "one connection handed over");
    expect(w.sa.channels).toBe(2);
    const accepted = [await l.accept(), await l.accept(), await l.accept()];
    expect(accepted.length).toBe(3);
    for (const [i, c] of cs.entries()) await writeAll(c, new Uint8Array([i]));
    const got = (await Promise.all(accepted.map((s) => readAll(s.readable)))).map((b) => b[0]).sort();
    expect(got).toEqual([0, 1, 2]);
  }, 30_000);

  test("half-close: each side keeps sending after the other's FIN", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "half.example");
    const c = await appB.connect("half.example");
    const s = await l.accept();
    const enc = new TextEncoder();
    // B says its piece and closes its side first; A still answers after.
    await writeAll(c, enc.encode("question"));
    expect(new TextDecoder().decode(await readAll(s.readable))).toBe("question");
    const answer = pattern(300_000, 3);
    const [, got] = await Promise.all([writeAll(s, answer), readAll(c.readable)]);
    expect(Buffer.compare(got, answer)).toBe(0);
    expect(await c.closed).toBe("normal");
    expect(await s.closed).toBe("normal");
  }, 30_000);

  test("resets propagate both ways; an application that leaves mid-stream resets its streams", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "reset.example");
    const failure = async (r: ReadableStream<Uint8Array>) => {
      try {
        await readAll(r);
      } catch (e) {
        return (e as ServalClientError).code;
      }
      return "ended cleanly";
    };
    // B aborts: A's reader fails with "reset".
    const c1 = await appB.connect("reset.example");
    const s1 = await l.accept();
    c1.abort();
    expect(await failure(s1.readable)).toBe("reset");
    expect(await s1.closed).toBe("reset");
    // A aborts: B's reader fails too.
    const c2 = await appB.connect("reset.example");
    const s2 = await l.accept();
    s2.abort();
    expect(await failure(c2.readable)).toBe("reset");
    // A's whole application goes away mid-stream (no FIN): B sees a reset, never a clean end.
    const c3 = await appB.connect("reset.example");
    const s3 = await l.accept();
    await s3.writable.getWriter().write(new Uint8Array([1, 2, 3]));
    await appA.close();
    expect(await failure(c3.readable)).toBe("reset");
    await poll(() => w.sa.channels === 0 && w.sb.channels === 0, "channels to go");
  }, 30_000);

  test("an application that closes after its FIN still delivers everything", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "tail.example");
    const c = await appB.connect("tail.example");
    const s = await l.accept();
    await s.close(); // A sends nothing, and does not read yet
    // More than A takes in while not reading (its buffers), less than that
    // plus B's send buffer: B's FIN gets queued behind bytes not yet acknowledged.
    const data = pattern(2_500_000, 4);
    await writeAll(c, data);
    await readAll(c.readable);
    // The stream is over for B's application (both FINs): its daemon forgets the channel...
    await poll(() => w.sb.channels === 0, "B's daemon to forget the stream");
    // ...and B leaves: its daemon still delivers the rest, never resets it.
    await appB.close();
    const got = await readAll(s.readable);
    expect(Buffer.compare(got, data)).toBe(0);
    expect(await s.closed).toBe("normal");
  }, 30_000);

  test("an application that leaves during a connect's handshake leaves no flow behind", async () => {
    const w = await world();
    const appB = await client(w.pathB);
    // A route to a port where nobody answers: the SYN waits for its retransmissions.
    w.b.host.serviceTable.addTarget(ServicePrefix.parse("void.example"), { type: "forward", locator: { address: LOOP, port: 9 } });
    const outcome = appB.connect("void.example").catch((e: ServalClientError) => e.code);
    await until(w.b, () => w.b.host.flowCount === 1, "the SYN to go out");
    await appB.close();
    expect(await outcome).toBe("aborted");
    await until(w.b, () => w.b.host.flowCount === 0, "the half-open flow to be aborted");
    await poll(() => w.sb.sessions === 0, "the session to go");
  }, 30_000);

  test("datagrams both ways, with the sender's serviceID", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const rx = appA.openDatagram("dg.example");
    await rx.ready;
    await until(w.router, () => w.router.agent.leases!.size > 0, "the datagram service's lease");
    const tx = appB.openDatagram("reply.example");
    await tx.ready;
    await until(w.router, () => w.router.agent.leases!.size > 1, "the reply service's lease");
    expect(tx.send("dg.example", new TextEncoder().encode("ping"))).toBe(true);
    const d = await rx.receive();
    expect(new TextDecoder().decode(d.payload)).toBe("ping");
    expect(d.from.port).toBe(w.b.locals[0]!.port);
    rx.send("reply.example", new TextEncoder().encode("pong"));
    expect(new TextDecoder().decode((await tx.receive()).payload)).toBe("pong");
    tx.close();
    expect(() => tx.send("dg.example", new Uint8Array(1))).toThrow(RangeError);
    rx.close();
    await poll(() => w.sa.channels === 0 && w.sb.channels === 0, "sockets to go");
  }, 30_000);

  test("an application's listeners are withdrawn from the router when it disconnects", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    await listening(w, appA, "gone.example");
    const leases = w.router.agent.leases!;
    expect(leases.size).toBe(1);
    await appA.close();
    // Withdrawn at once (an unregister), not aged out (lease lifetime 2.5 s).
    await until(w.router, () => leases.size === 0, "the lease to be withdrawn", 1000);
    const appB = await client(w.pathB);
    await expect(appB.connect("gone.example")).rejects.toThrow(/refused|unreachable/);
  }, 30_000);

  test("bad bytes get an error reply and the connection closed, never a crash (property)", async () => {
    const w = await world();
    // Known cases first: junk, a wrong version, a frame before hello, data beyond the window.
    const cases: [Uint8Array[], string][] = [
      [[new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")], "protocol"],
      [[encodeMessage({ type: "hello", version: 2, window: 65536 })], "version"],
      [[encodeMessage({ type: "connect", channel: 1, service: "x" })], "protocol"],
      [[encodeMessage({ type: "hello", version: 1, window: 65536 }), encodeMessage({ type: "connect", channel: 5, service: "x" }), encodeMessage({ type: "connect", channel: 5, service: "x" })], "protocol"],
    ];
    for (const [frames, code] of cases) {
      const r = raw(w.pathA);
      await r.connected;
      for (const f of frames) r.s.write(f);
      await r.closed;
      const last = r.got.at(-1);
      expect(last?.type).toBe("error");
      expect(last?.type === "error" && last.channel === 0 ? (last.code as string) : undefined).toBe(code);
    }
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 300 }), async (hello, junk) => {
        const r = raw(w.pathA);
        await r.connected;
        if (hello) r.s.write(encodeMessage({ type: "hello", version: 1, window: 65536 }));
        r.s.write(junk);
        // Bytes that form no complete frame get no answer: we leave.
        r.s.end();
        await r.closed;
        for (const m of r.got) expect(["welcome", "error", "ok"]).toContain(m.type);
      }),
      { numRuns: 60 },
    );
    // The daemon still serves applications, and forgot every bad connection.
    const app = await client(w.pathA);
    const l = app.listen("still.example");
    await l.ready;
    l.close();
    await app.close();
    await poll(() => w.sa.sessions === 0, "every session to go");
    expect(w.sa.stats.protocolErrors).toBeGreaterThanOrEqual(4);
  }, 60_000);

  test("the daemon stopping closes every application connection and removes its socket", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "stop.example");
    const c = await appB.connect("stop.example");
    const s = await l.accept();
    await w.sa.close();
    expect(existsSync(w.pathA)).toBe(false);
    await appA.closed;
    await expect(readAll(s.readable)).rejects.toMatchObject({ code: "shutdown" });
    await expect(l.accept()).rejects.toMatchObject({ code: "shutdown" });
    // The remote side sees its stream reset.
    await expect(readAll(c.readable)).rejects.toMatchObject({ code: "reset" });
  }, 30_000);

  test("a stale socket file is replaced; a live one is not; a non-socket is refused", async () => {
    const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const n = await node("host");
    // A socket file whose server is gone: a process that listened, then exited without unlinking it.
    const stale = `${dir}/stale.sock`;
    const child = spawnSync(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
    expect(child.status).toBe(0);
    expect(existsSync(stale)).toBe(true);
    const s1 = await AppSocketServer.listen(n, stale);
    cleanups.push(() => s1.close());
    // Only the daemon's user and group may use it.
    expect(statSync(stale).mode & 0o777).toBe(0o660);
    await expect(AppSocketServer.listen(n, stale)).rejects.toThrow(/another daemon is serving it/);
    const file = `${dir}/file`;
    writeFileSync(file, "x");
    await expect(AppSocketServer.listen(n, file)).rejects.toThrow(/not a socket/);
  }, 30_000);

  test("an application that leaves right after its FIN delivers everything, though the peer has not closed", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "leave.example");
    const c = await appB.connect("leave.example");
    const s = await l.accept();
    const reading = readAll(s.readable);
    const data = pattern(4 * 1024 * 1024, 5);
    await writeAll(c, data); // our FIN handed to the daemon, not yet acknowledged by A
    await appB.close();
    const got = await reading;
    expect(got.length).toBe(data.length);
    expect(Buffer.compare(got, data)).toBe(0);
    // A answers after B left: B's daemon reads and drops it, and the flow closes cleanly.
    await writeAll(s, new TextEncoder().encode("nobody reads this"));
    expect(await s.closed).toBe("normal");
    await poll(() => w.sb.lingering === 0, "B's departed streams to finish");
    expect(w.sb.stats.lingerExpired).toBe(0);
  }, 60_000);

  test("a departed application's streams linger at most `linger`, even towards a peer that never reads", async () => {
    const w = await world({ linger: 300 });
    const appA = await client(w.pathA);
    const l = await listening(w, appA, "stuck.example");
    // A raw application on B: fills the stream until A's side stalls, sends its FIN, leaves.
    const r = raw(w.pathB);
    await r.connected;
    r.s.write(encodeMessage({ type: "hello", version: 1, window: 65536 }));
    r.s.write(encodeMessage({ type: "connect", channel: 1, service: "stuck.example" }));
    await poll(() => r.got.some((m) => m.type === "ok" && m.channel === 1), "the connect's ok");
    const s = await l.accept(); // never read
    const chunk = pattern(65536, 6);
    const credited = () => r.got.reduce((n, m) => n + (m.type === "credit" && m.channel === 1 ? m.bytes : 0), 0);
    let sent = 0;
    let last = -1;
    let still = 0;
    await poll(() => {
      while (sent - credited() + chunk.length <= w.sb.window) {
        r.s.write(encodeMessage({ type: "data", channel: 1, payload: chunk }));
        sent += chunk.length;
      }
      const got = credited();
      if (got === last) still++;
      else (still = 0), (last = got);
      return still >= 40; // no credit for ~200 ms: the daemon's writes wait for A
    }, "the stream to stall", 20_000);
    expect(sent - credited()).toBeGreaterThan(0); // writes pending in B's daemon
    r.s.write(encodeMessage({ type: "fin", channel: 1 }));
    r.s.end();
    await poll(() => w.sb.sessions === 0, "B's session to end");
    // Before `linger` runs out the stream still waits; then it is reset and the API freed.
    await poll(() => w.sb.lingering === 0, "the linger to expire", 5000);
    expect(w.sb.stats.lingerExpired).toBe(1);
    await until(w.b, () => w.b.host.flowCount === 0, "B's flow to be reset");
    await expect(readAll(s.readable)).rejects.toMatchObject({ code: "reset" });
    await r.closed;
  }, 60_000);

  test("a service name longer than MAX_NAME fails that call only; long names are quoted safely", async () => {
    const w = await world();
    const appA = await client(w.pathA);
    const appB = await client(w.pathB);
    const l = await listening(w, appA, "alive.example");
    const c = await appB.connect("alive.example");
    const s = await l.accept();
    const long = "x".repeat(MAX_NAME + 1);
    await expect(appB.connect(long)).rejects.toMatchObject({ code: "invalid" });
    await expect(appB.listen(long).ready).rejects.toMatchObject({ code: "invalid" });
    await expect(appB.openDatagram(long).ready).rejects.toMatchObject({ code: "invalid" });
    const dg = appB.openDatagram();
    await dg.ready;
    expect(() => dg.send("y".repeat(70_000), new Uint8Array(1))).toThrow(ServalClientError);
    // A name the daemon takes but whose error quotes it at length.
    const near = "z".repeat(MAX_NAME - 8);
    const e = await appB.connect(near).catch((x: ServalClientError) => x);
    expect(e).toBeInstanceOf(ServalClientError);
    expect((e as ServalClientError).code).not.toBe("protocol");
    await expect(appB.connect(`${"é".repeat(400)}.example`)).rejects.toMatchObject({ code: "invalid" });
    // Every other channel lives on.
    const [, got] = await Promise.all([writeAll(c, new Uint8Array([1, 2, 3])), readAll(s.readable)]);
    expect([...got]).toEqual([1, 2, 3]);
    await s.close();
    expect(await c.closed).toBe("normal");
    dg.close();
    expect(w.sb.stats.protocolErrors).toBe(0);
  }, 30_000);

  test("the socket file is never open to others: listen runs under a restrictive umask", async () => {
    const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const n = await node("host");
    const seen: number[] = [];
    const listen = Server.prototype.listen;
    const old = process.umask(0);
    try {
      Server.prototype.listen = function (this: Server, ...args: unknown[]) {
        // The mode the file is born with: 0777 & ~umask (read back by setting it twice).
        const u = process.umask(0);
        process.umask(u);
        seen.push(u);
        return (listen as (...a: unknown[]) => Server).apply(this, args);
      } as typeof listen;
      const srv = await AppSocketServer.listen(n, `${dir}/app.sock`);
      cleanups.push(() => srv.close());
    } finally {
      Server.prototype.listen = listen;
      process.umask(old);
    }
    expect(seen.length).toBe(1);
    expect(0o777 & ~seen[0]! & 0o007).toBe(0); // nothing for others
    expect(0o777 & ~seen[0]!).toBe(0o660);
    expect(statSync(`${dir}/app.sock`).mode & 0o777).toBe(0o660);
    expect(process.umask(old)).toBe(old); // restored
  }, 30_000);

  test("a connection that never says hello is closed and counted", async () => {
    const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const n = await node("host");
    const srv = await AppSocketServer.listen(n, `${dir}/app.sock`, { helloTimeout: 200 });
    cleanups.push(() => srv.close());
    const r = raw(`${dir}/app.sock`);
    await r.connected;
    await poll(() => srv.sessions === 1, "the session");
    const closed = await Promise.race([r.closed.then(() => true), new Promise<false>((res) => setTimeout(() => res(false), 3000))]);
    expect(closed).toBe(true);
    expect(r.got.at(-1)).toMatchObject({ type: "error", channel: 0, code: "timeout" });
    expect(srv.stats.helloTimeouts).toBe(1);
    expect(srv.sessions).toBe(0);
    // A prompt application is not affected.
    const app = await client(`${dir}/app.sock`);
    await new Promise((res) => setTimeout(res, 300)); // past the hello timeout: still connected
    const dg = app.openDatagram();
    await dg.ready;
    dg.close();
    expect(srv.stats.helloTimeouts).toBe(1);
  }, 30_000);

  test("application connections beyond maxSessions are refused with `limit`", async () => {
    const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const n = await node("host");
    const path = `${dir}/app.sock`;
    const srv = await AppSocketServer.listen(n, path, { maxSessions: 2 });
    cleanups.push(() => srv.close());
    const one = await client(path);
    await client(path);
    const third = await connectDaemon({ path }).catch((e: ServalClientError) => e);
    expect(third).toBeInstanceOf(ServalClientError);
    expect((third as ServalClientError).code).toBe("limit");
    expect(srv.stats.sessionsRefused).toBe(1);
    await one.close();
    await poll(() => srv.sessions === 1, "a slot to free");
    await client(path);
    expect(srv.sessions).toBe(2);
  }, 30_000);

  test("datagram sends to a daemon that does not keep up are dropped (send returns false), memory bounded", async () => {
    const dir = mkdtempSync(`${tmpdir()}/serval-app-`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = `${dir}/fake.sock`;
    // A daemon that answers the handshake and the open, then stops reading.
    const socks: Socket[] = [];
    const fake = createServer((s) => {
      socks.push(s);
      const d = new FrameDecoder();
      s.on("data", (b: Uint8Array) => {
        d.push(b);
        for (let m = d.next(); m !== undefined; m = d.next()) {
          if (m.type === "hello") s.write(encodeMessage({ type: "welcome", version: 1, window: 65536 }));
          if (m.type === "open-datagram") {
            s.write(encodeMessage({ type: "ok", channel: m.channel }));
            s.pause();
            return;
          }
        }
      });
    });
    await new Promise<void>((res) => fake.listen(path, () => res()));
    cleanups.push(() => new Promise<void>((res) => (socks.forEach((s) => s.destroy()), fake.close(() => res()))));
    const app = await client(path);
    const dg = app.openDatagram();
    await dg.ready;
    const payload = new Uint8Array(8192);
    let sent = 0;
    for (let i = 0; i < 2000 && dg.send("dg.example", payload); i++) sent++;
    expect(sent).toBeLessThan(2000);
    expect(dg.send("dg.example", payload)).toBe(false);
    expect(dg.sendDropped).toBe(2);
    // Queued: at most the high-water mark plus one frame (the kernel holds some too).
    expect(sent * 8192).toBeLessThan(4 * 1024 * 1024);
    // The fake daemon goes: the client sees it (its queued bytes would never be read).
    for (const s of socks) s.destroy();
    await app.closed;
  }, 30_000);

  test("nothing leaked: no socket left open by the tests above", async () => {
    // Sockets close asynchronously after their last event.
    await poll(() => fds() <= fdsAfterFirst, `sockets back to ${fdsAfterFirst} (now ${fds()})`, 2000);
  });
});

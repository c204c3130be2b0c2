/**
 * The translator in one process: a router, a replica and a client node over
 * loopback UDP. The replica's translator exports a kernel TCP server
 * (node:net) as a service; the client's translator maps a TCP port and runs
 * SOCKS5. Programs are node:net sockets: bytes go TCP → Serval → TCP.
 */

import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import net from "node:net";
import { type Locator } from "@serval/wire";
import { openUdpDatapath, ServalNode } from "@serval/runtime";
import { Translator } from "./translator.ts";
import { socksConnectRequest } from "./socks5.ts";

const LOOP = new Uint8Array([127, 0, 0, 1]);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function node(role: "host" | "router", routers: Locator[] = []): Promise<ServalNode> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
  const n = await ServalNode.start({ role, datapath: dp, control: { routers } });
  cleanups.push(() => n.close());
  return n;
}

/** A kernel TCP server on loopback; every socket it accepts is handed to `onSocket`. */
async function tcpServer(
  onSocket: (s: net.Socket) => void,
): Promise<{ port: number; sockets: Set<net.Socket>; ends: (string | undefined)[]; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  /** How each accepted socket ended: its error code, or undefined for a clean close. */
  const ends: (string | undefined)[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    let err: string | undefined;
    s.on("error", (e: NodeJS.ErrnoException) => (err ??= e.code));
    s.on("close", () => {
      sockets.delete(s);
      ends.push(err);
    });
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const close = () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
  };
  cleanups.push(close);
  return { port: (server.address() as net.AddressInfo).port, sockets, ends, close };
}

/** Echo that keeps half-close: the client's FIN becomes ours after its bytes. */
const echo = (s: net.Socket) => s.pipe(s);

interface World {
  router: ServalNode;
  client: Translator;
  replica: Translator;
  /** The mapped port to `service`. */
  port: number;
}

/** Router, replica (exporting `service` to a TCP server on `serverPort`), client (mapped port). */
async function world(service: string, serverPort: number, opts: { clientMax?: number } = {}): Promise<World> {
  const router = await node("router");
  const r: Locator = { address: LOOP, port: router.locals[0]!.port };
  const rep = await node("host", [r]);
  const cli = await node("host", [r]);
  const replica = new Translator(rep);
  cleanups.push(() => replica.close());
  replica.exportService({ service, host: "127.0.0.1", port: serverPort });
  const client = new Translator(cli, { ...(opts.clientMax !== undefined ? { maxConnections: opts.clientMax } : {}) });
  cleanups.push(() => client.close());
  const front = await client.mapPort({ port: 0, service });
  const end = performance.now() + 3000;
  while (router.agent.leases!.size === 0) {
    if (performance.now() > end) throw new Error("the export was not registered");
    await new Promise((res) => setTimeout(res, 2));
  }
  return { router, client, replica, port: front.port };
}

interface Outcome {
  data: Buffer;
  /** The socket's error code (ECONNRESET) or undefined after a clean end. */
  error: string | undefined;
}

/** Reads everything until the socket ends or fails. */
function readAll(s: net.Socket): Promise<Outcome> {
  const parts: Buffer[] = [];
  let error: string | undefined;
  s.on("data", (b: Buffer) => parts.push(b));
  s.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
  return new Promise((resolve) => s.on("close", () => resolve({ data: Buffer.concat(parts), error })));
}

function connect(port: number): net.Socket {
  const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  cleanups.push(() => void s.destroy());
  return s;
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Waits until `f()` holds (bounded). */
async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!f()) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe("Translator: TCP → Serval → TCP over loopback (router, replica, client)", () => {
  test("mapped port to an exported echo server: 4 MB byte-exact, FINs both ways, both ends count it", async () => {
    const srv = await tcpServer(echo);
    const w = await world("echo.example", srv.port);
    const data = bytes(4 << 20, 1);
    const c = connect(w.port);
    const got = readAll(c);
    c.end(data);
    const r = await got;
    expect(r.error).toBeUndefined();
    expect(r.data.length).toBe(data.length);
    expect(sha(r.data)).toBe(sha(data));
    await until(() => w.client.stats.active === 0 && w.replica.stats.active === 0, 3000, "both splices to end");
    expect(w.client.stats).toMatchObject({ accepted: 1, closed: 1, resets: 0, failed: 0, bytesToServal: data.length, bytesToTcp: data.length });
    expect(w.replica.stats).toMatchObject({ accepted: 1, closed: 1, resets: 0, bytesToServal: data.length, bytesToTcp: data.length });
  }, 30_000);

  test("half-close: the server answers after the client's FIN; the client keeps sending after the server's FIN", async () => {
    // Server A reads until the client's FIN, then answers with the byte count.
    const counter = await tcpServer((s) => {
      let n = 0;
      s.on("data", (b: Buffer) => (n += b.length));
      s.on("end", () => s.end(`got ${n}`));
    });
    const w = await world("count.example", counter.port);
    const c = connect(w.port);
    const got = readAll(c);
    c.write(bytes(100_000, 2));
    c.end();
    const r = await got;
    expect(r.error).toBeUndefined();
    expect(r.data.toString()).toBe("got 100000");

    // Server B says hello and closes its side at once, then reads to the end.
    let received = 0;
    const ended = new Promise<void>((resolve) => {
      void tcpServer((s) => {
        s.end("hello");
        s.on("data", (b: Buffer) => (received += b.length));
        s.on("end", () => resolve());
      }).then((b) => w.replica.exportService({ service: "hello.example", host: "127.0.0.1", port: b.port }));
    });
    await until(() => w.router.agent.leases!.size >= 2, 3000, "hello.example registered");
    const hello = await w.client.mapPort({ port: 0, service: "hello.example" });
    const c2 = connect(hello.port);
    const greeting = await new Promise<string>((resolve) => {
      let s = "";
      c2.on("data", (b: Buffer) => (s += b.toString()));
      c2.on("end", () => resolve(s));
    });
    expect(greeting).toBe("hello");
    // Our sending side is still open after the server's FIN.
    c2.end(bytes(50_000, 3));
    await ended;
    expect(received).toBe(50_000);
  }, 30_000);

  test("resets cross both ways: server RST → client ECONNRESET; client RST → server ECONNRESET", async () => {
    const srv = await tcpServer((s) => {
      s.once("data", (b: Buffer) => {
        if (b.toString() === "reset me") s.resetAndDestroy();
      });
    });
    const w = await world("rst.example", srv.port);
    const c = connect(w.port);
    const got = readAll(c);
    c.write("reset me");
    expect((await got).error).toBe("ECONNRESET");
    await until(() => w.client.stats.resets === 1 && w.replica.stats.resets === 1, 3000, "both sides to count the reset");

    await until(() => srv.ends.length === 1, 3000, "the first server socket to close");
    const c2 = connect(w.port);
    c2.on("error", () => {});
    c2.write("hi");
    await until(() => w.replica.stats.active === 1 && srv.sockets.size === 1, 3000, "the export to splice");
    c2.resetAndDestroy();
    await until(() => srv.ends.length === 2, 3000, "the second server socket to close");
    expect(srv.ends[1]).toBe("ECONNRESET");
  }, 30_000);

  test("backpressure end to end: a server that does not read stalls the client; memory stays bounded; reading resumes it", async () => {
    const paused: net.Socket[] = [];
    const srv = await tcpServer((s) => {
      s.pause();
      paused.push(s);
    });
    const w = await world("sink.example", srv.port);
    const c = connect(w.port);
    c.on("error", () => {});
    await new Promise<void>((r) => c.once("connect", () => r()));
    const chunk = Buffer.alloc(64 << 10);
    let written = 0;
    let stalled = false;
    const writeMore = () => {
      while (written < (64 << 20)) {
        written += chunk.length;
        if (!c.write(chunk)) return; // wait for drain
      }
    };
    c.on("drain", writeMore);
    writeMore();
    // Wait until the whole pipeline is full: no progress for 300 ms.
    let last = -1;
    for (let i = 0; i < 200 && !stalled; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stalled = written === last;
      last = written;
    }
    expect(stalled).toBe(true);
    // Kernel socket buffers (a few MB each on loopback) + per-splice high water
    // + Serval send/receive buffers (1 MiB each) + the readable queue: well under 64 MB.
    expect(written).toBeLessThan(48 << 20);
    const rssBounded = process.memoryUsage().rss;
    // Reading at the server resumes the flow.
    let got = 0;
    paused[0]!.on("data", (b: Buffer) => (got += b.length));
    paused[0]!.resume();
    await until(() => written > last, 5000, "the client to write again");
    c.destroy();
    expect(got).toBeGreaterThan(0);
    expect(rssBounded).toBeLessThan(2 * 1024 ** 3);
    console.log(`[translator] backpressure: the client stalled after ${(written / 2 ** 20).toFixed(1)} MiB written`);
  }, 60_000);

  test("backpressure the other way: a client that does not read stalls the server; then every byte arrives in order", async () => {
    const total = 64 << 20;
    const data = bytes(1 << 20, 9);
    let written = 0;
    const srv = await tcpServer((s) => {
      const more = () => {
        while (written < total) {
          written += data.length;
          if (!s.write(data)) return;
        }
        s.end();
      };
      s.on("drain", more);
      more();
    });
    const w = await world("source.example", srv.port);
    const c = connect(w.port);
    c.pause();
    let last = -1;
    let stalled = false;
    for (let i = 0; i < 200 && !stalled; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stalled = written === last && written > 0;
      last = written;
    }
    expect(stalled).toBe(true);
    expect(written).toBeLessThan(48 << 20);
    console.log(`[translator] backpressure: the server stalled after ${(written / 2 ** 20).toFixed(1)} MiB written`);
    const want = sha(Buffer.concat(Array.from({ length: total / data.length }, () => data)));
    const got = readAll(c);
    c.end(); // nothing to send: our FIN; the server's comes after its 64 MiB
    c.resume();
    const r = await got;
    expect(r.error).toBeUndefined();
    expect(r.data.length).toBe(total);
    expect(sha(r.data)).toBe(want);
  }, 60_000);

  test("unknown service: the mapped port resets; SOCKS answers 'host unreachable' or 'refused'; one line logged", async () => {
    const srv = await tcpServer(echo);
    const w = await world("known.example", srv.port);
    const lines: string[] = [];
    const cli = await node("host", [{ address: LOOP, port: w.router.locals[0]!.port }]);
    const t = new Translator(cli, { log: (l) => lines.push(l), connectTimeoutMs: 3000 });
    cleanups.push(() => t.close());
    const mapped = await t.mapPort({ port: 0, service: "nobody.example" });
    const c = connect(mapped.port);
    const r = await readAll(c);
    expect(r.error).toBe("ECONNRESET");
    expect(r.data.length).toBe(0);

    const socks = await t.socks({ port: 0 });
    const reply = await socksExchange(socks.port, "nobody.example");
    expect(reply.slice(0, 2)).toEqual([5, 0]);
    expect([4, 5]).toContain(reply[3]!);
    expect(reply.length).toBe(12);
    expect(t.stats.failed).toBe(2);
    expect(lines.some((l) => /cannot connect .* to nobody\.example: (refused|unreachable|timed out)/.test(l))).toBe(true);
    expect(lines.some((l) => /socks .* -> nobody\.example: /.test(l))).toBe(true);
  }, 30_000);

  test("SOCKS5: CONNECT by name reaches the service; BIND, IPv6 and no-auth-less greetings get their RFC 1928 codes", async () => {
    const srv = await tcpServer(echo);
    const w = await world("web.example", srv.port);
    const socks = await w.client.socks({ port: 0 });
    // A full session: greeting + request + data in one write (a client may pipeline).
    const c = connect(socks.port);
    const got = readAll(c);
    c.end(Buffer.concat([Buffer.from([5, 1, 0]), socksConnectRequest("web.example.serval", 80), Buffer.from("ping")]));
    const r = await got;
    expect(r.error).toBeUndefined();
    expect([...r.data.subarray(0, 12)]).toEqual([5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(r.data.subarray(12).toString()).toBe("ping");

    expect(await socksRaw(socks.port, [5, 1, 2])).toEqual([5, 0xff]); // only username/password offered
    expect(await socksRaw(socks.port, [5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80])).toEqual([5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(await socksRaw(socks.port, [5, 1, 0, 5, 1, 0, 4, ...new Array(18).fill(0)])).toEqual([5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(await socksRaw(socks.port, [4, 1, 0, 80, 1, 2, 3, 4, 0])).toEqual([]); // SOCKS4: closed, no reply
  }, 30_000);

  test("a SOCKS client that never finishes its handshake is cut off after the handshake timeout", async () => {
    const cli = await node("host");
    const t = new Translator(cli, { handshakeTimeoutMs: 200 });
    cleanups.push(() => t.close());
    const socks = await t.socks({ port: 0 });
    const c = connect(socks.port);
    c.write(Buffer.from([5, 1])); // half a greeting
    const t0 = performance.now();
    await readAll(c);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(t.stats).toMatchObject({ failed: 1, active: 0 });
  }, 10_000);

  test("close() does not wait for connects in flight: their programs get a reset at once", async () => {
    // A router that never answers: the SYN goes nowhere.
    const silent = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
    cleanups.push(() => silent.close());
    const cli = await node("host", [{ address: LOOP, port: silent.port }]);
    const t = new Translator(cli, { connectTimeoutMs: 60_000 });
    const front = await t.mapPort({ port: 0, service: "void.example" });
    const socks = await t.socks({ port: 0 });
    const c = connect(front.port);
    const got = readAll(c);
    // Nor for SOCKS clients in the middle of their handshake, or refused and lingering.
    const half = connect(socks.port);
    half.write(Buffer.from([5, 1]));
    const halfGot = readAll(half);
    const refused = connect(socks.port);
    refused.write(Buffer.from([5, 1, 2])); // no acceptable method: answered, then we wait for its FIN
    await until(() => t.stats.active === 2 && t.stats.failed === 1, 3000, "the connections to be taken on");
    const t0 = performance.now();
    await t.close();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect((await got).error).toBe("ECONNRESET");
    expect((await halfGot).error).toBe("ECONNRESET");
    expect(t.stats).toMatchObject({ active: 0 });
  }, 10_000);

  test("the export resets Serval clients when its legacy server is down", async () => {
    const dead = await tcpServer(() => {});
    const w = await world("down.example", dead.port);
    // Close the legacy server: connects to it are refused from now on.
    await dead.close();
    const c = connect(w.port);
    const r = await readAll(c);
    expect(r.error).toBe("ECONNRESET");
    await until(() => w.replica.stats.failed === 1, 3000, "the export to count the failure");
  }, 30_000);

  test("the connection cap refuses the one too many with a reset; the others go on", async () => {
    const srv = await tcpServer(echo);
    const w = await world("cap.example", srv.port, { clientMax: 2 });
    const a = connect(w.port);
    const b = connect(w.port);
    a.write("a");
    b.write("b");
    await until(() => w.replica.stats.active === 2, 3000, "two splices");
    const extra = await readAll(connect(w.port));
    expect(extra.error).toBe("ECONNRESET");
    expect(w.client.stats.refused).toBe(1);
    const ra = readAll(a);
    const rb = readAll(b);
    a.end();
    b.end();
    expect((await ra).data.toString()).toBe("a");
    expect((await rb).data.toString()).toBe("b");
  }, 30_000);

  test("200 concurrent connections through the mapped port, each 20 kB echoed byte-exact", async () => {
    const srv = await tcpServer(echo);
    const w = await world("many.example", srv.port);
    const n = 200;
    const sockets = Array.from({ length: n }, () => connect(w.port));
    await until(() => w.replica.stats.active === n, 10_000, `${n} splices at once`);
    const results = await Promise.all(
      sockets.map(async (s, i) => {
        const data = bytes(20_000, 100 + i);
        const got = readAll(s);
        s.end(data);
        const r = await got;
        return r.error === undefined && sha(r.data) === sha(data);
      }),
    );
    expect(results.filter((ok) => ok).length).toBe(n);
    expect(w.client.stats.peakActive).toBe(n);
    await until(() => w.client.stats.active === 0 && w.replica.stats.active === 0, 5000, "every splice to end");
    expect(w.client.stats).toMatchObject({ closed: n, resets: 0, failed: 0 });
  }, 60_000);

  test("1000 connections open at once (opened 250 at a time), then each echoes and closes", async () => {
    const srv = await tcpServer(echo);
    const w = await world("thousand.example", srv.port);
    const n = 1000;
    const sockets: net.Socket[] = [];
    // Waves: Bun's listen backlog is 512 whatever is asked, and the SAL keeps
    // at most 500 half-open flows per listener; a burst beyond either costs
    // SYN retransmissions or resets, not what this test is about.
    for (let i = 0; i < n; i += 250) {
      for (let j = i; j < i + 250; j++) sockets.push(connect(w.port));
      await until(() => w.replica.stats.active === sockets.length, 10_000, `${sockets.length} splices`);
    }
    expect(w.client.stats.active).toBe(n);
    const ok = await Promise.all(
      sockets.map(async (s, i) => {
        const got = readAll(s);
        s.end(`hello ${i}`);
        const r = await got;
        return r.error === undefined && r.data.toString() === `hello ${i}`;
      }),
    );
    expect(ok.filter((x) => x).length).toBe(n);
    await until(() => w.client.stats.active === 0 && w.replica.stats.active === 0, 10_000, "every splice to end");
    expect(w.client.stats).toMatchObject({ peakActive: n, closed: n, resets: 0, failed: 0, refused: 0 });
  }, 60_000);
});

/** Greeting + CONNECT to `host`; resolves with every byte the server sent until it closed. */
async function socksExchange(port: number, host: string): Promise<number[]> {
  return socksRaw(port, [5, 1, 0, ...socksConnectRequest(host, 80)]);
}

async function socksRaw(port: number, send: number[]): Promise<number[]> {
  const c = connect(port);
  const got = readAll(c);
  c.end(Buffer.from(send));
  const r = await got;
  if (r.error) console.log("socksRaw error", r.error);
  return [...r.data];
}

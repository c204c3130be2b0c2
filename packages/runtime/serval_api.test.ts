import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type Locator, ServicePrefix } from "@serval/wire";
import { openUdpDatapath } from "./udp_datapath.ts";
import { ServalNode } from "./serval_node.ts";
import { ServalApi } from "./serval_api.ts";

const LOOP = new Uint8Array([127, 0, 0, 1]);
const open: ServalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function node(role: "host" | "router", routers: Locator[] = []): Promise<ServalNode> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
  const n = await ServalNode.start({ role, datapath: dp, control: { routers } });
  open.push(n);
  return n;
}

/** A router, a replica serving `service`, and a client; resolves once the replica is registered. */
async function world(service: string) {
  const router = await node("router");
  const r: Locator = { address: LOOP, port: router.locals[0]!.port };
  const replica = await node("host", [r]);
  const client = await node("host", [r]);
  const server = new ServalApi(replica);
  const listener = server.listen(service);
  const end = performance.now() + 3000;
  while (router.agent.leases!.size === 0) {
    if (performance.now() > end) throw new Error("not registered");
    await new Promise((res) => setTimeout(res, 1));
  }
  return { router, replica, client, server, listener, api: new ServalApi(client) };
}

function bytes(n: number, seed: number): Uint8Array {
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
  let n = 0;
  for await (const c of r) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("ServalApi over loopback UDP (router, replica, client)", () => {
  test("4 MB echoed byte-exact through WHATWG streams, then a clean close on both sides", async () => {
    const w = await world("echo.example");
    const served = (async () => {
      const c = await w.listener.accept();
      await c.readable.pipeTo(c.writable); // echo until the client's FIN, then FIN back
      return c.closed;
    })();
    const c = await w.api.connect("echo.example");
    const data = bytes(4 << 20, 7);
    const reading = readAll(c.readable);
    const writer = c.writable.getWriter();
    for (let o = 0; o < data.length; o += 100_000) await writer.write(data.subarray(o, Math.min(data.length, o + 100_000)));
    await writer.close();
    const back = await reading;
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
    expect(await c.closed).toBe("normal");
    expect(await served).toBe("normal");
    expect(c.stats().bytesAcked).toBe(data.length);
    expect(w.api.connections).toBe(0);
  }, 30_000);

  test("backpressure: a reader that does not read stops the writer; memory stays bounded", async () => {
    const w = await world("sink.example");
    const accepted = w.listener.accept();
    const c = await w.api.connect("sink.example", { sendBuffer: 64 << 10 });
    const s = await accepted; // never reads
    const writer = c.writable.getWriter();
    let written = 0;
    const chunk = new Uint8Array(16 << 10);
    const pump = (async () => {
      for (;;) {
        await writer.write(chunk);
        written += chunk.length;
      }
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    // At most: receiver's window (1 MiB) + its readable queue (256 KiB) + our send buffer + one chunk.
    expect(written).toBeLessThanOrEqual((1 << 20) + (256 << 10) + (64 << 10) + chunk.length);
    const stalled = written;
    await new Promise((r) => setTimeout(r, 100));
    expect(written).toBe(stalled);
    // Reading resumes the flow.
    const reader = s.readable.getReader();
    let got = 0;
    while (got < stalled) got += (await reader.read()).value!.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBeGreaterThan(stalled);
    c.abort();
    await pump;
    expect(await c.closed).toBe("aborted");
  }, 30_000);

  test("connecting to a service nobody serves fails with a clear error", async () => {
    const w = await world("echo.example");
    await expect(w.api.connect("nobody.example")).rejects.toThrow(/Cannot connect to .*: (refused|unreachable)/);
  }, 10_000);

  test("closing the listener withdraws the service at once; later connects fail", async () => {
    const w = await world("gone.example");
    w.listener.close();
    await expect(w.listener.accept()).rejects.toThrow(/closed/);
    const end = performance.now() + 1000;
    while (w.router.agent.leases!.size > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 1));
    expect(w.router.agent.leases!.size).toBe(0);
    await expect(w.api.connect("gone.example")).rejects.toThrow(/Cannot connect/);
  }, 10_000);

  test("datagrams to a service, answered to the sender's serviceID", async () => {
    const w = await world("echo.example");
    const srv = w.server.openDatagram("time.example");
    // The replica registers the datagram service too.
    const end = performance.now() + 2000;
    while (!w.router.agent.leases!.leases().some((l) => l.prefix.equals(ServicePrefix.parse("time.example")))) {
      if (performance.now() > end) throw new Error("datagram service not registered");
      await new Promise((r) => setTimeout(r, 1));
    }
    const cli = w.api.openDatagram("client.example");
    expect(cli.send("time.example", new TextEncoder().encode("ping"))).toBe(true);
    const d = await srv.receive();
    expect(new TextDecoder().decode(d.payload)).toBe("ping");
    srv.send(d.source, new TextEncoder().encode("pong"), d.from);
    const back = await cli.receive();
    expect(new TextDecoder().decode(back.payload)).toBe("pong");
    cli.close();
    srv.close();
    expect(() => cli.send("time.example", new Uint8Array(1))).toThrow(RangeError);
  }, 10_000);

  test("connections wait in the host's queue until accept(); closing the listener resets those never accepted", async () => {
    const w = await world("queue.example");
    const c = await w.api.connect("queue.example"); // established, not yet accepted
    expect(w.server.connections).toBe(0);
    const later = await w.listener.accept(); // taken from the host's queue now
    expect(w.server.connections).toBe(1);
    const c2 = await w.api.connect("queue.example"); // never accepted
    w.listener.close();
    expect(await c2.closed).toBe("reset");
    later.abort();
    c.abort();
  }, 10_000);
});

import { describe, expect, test } from "bun:test";
import { emitSal, SAL_SYN, ServiceId, ServicePrefix } from "@serval/wire";
import { EchoTransport } from "./echo_transport.ts";
import { SeededRandom } from "./random_source.ts";
import { SalHost } from "./sal_host.ts";
import { HostNet, testLocator } from "./testing.ts";

const loc = testLocator;
const key = HostNet.key;
const ONE_WAY = 5_000;


const ECHO = ServiceId.parse("echo.example");

/** A client host, a router, and replica hosts listening on echo.example. */
function topology(weights: number[], seed = 1) {
  const net = new HostNet(ONE_WAY);
  const rnd = new SeededRandom(seed);
  const client = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
  const router = net.add(new SalHost({ random: rnd, locals: [loc(0, 254)], router: true }), loc(0, 254));
  client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 254) });
  const servers: { host: SalHost; transports: EchoTransport[]; listener: number }[] = [];
  weights.forEach((w, i) => {
    const l = loc(1, 10 + i);
    const host = net.add(new SalHost({ random: rnd, locals: [l] }), l);
    const transports: EchoTransport[] = [];
    const listener = host.listen(ServicePrefix.of(ECHO), {
      transport: () => {
        const t = new EchoTransport("server");
        transports.push(t);
        return t;
      },
    });
    router.serviceTable.addTarget(ServicePrefix.parse("example/32"), { type: "forward", locator: l, weight: w });
    servers.push({ host, transports, listener });
  });
  return { net, client, router, servers };
}

function serveUntilClosed(net: HostNet, s: { host: SalHost; listener: number }): void {
  // The server application: accept, and close when the client has closed.
  for (const e of net.events.get(s.host)!.splice(0)) {
    if (e.type === "incoming") while (s.host.accept(s.listener) !== undefined);
    if (e.type === "peer-fin") s.host.close(net.now, e.flow);
  }
}

describe("SalHost", () => {
  test("connect through a router, echo data, close: nothing leaks", () => {
    const { net, client, router, servers } = topology([1]);
    const t = new EchoTransport("client");
    const id = client.connect(net.now, ECHO, t);
    net.run();
    expect(client.flowState(id)?.state).toBe("CONNECTED");
    t.write(new TextEncoder().encode("hello, service"));
    client.flush(net.now, id);
    net.run();
    expect(new TextDecoder().decode(t.receivedBytes())).toBe("hello, service");
    // The router saw only the SYN (and the SYN-ACK never went through it).
    expect(router.flowCount).toBe(0);
    expect(client.flowState(id)?.peer).toEqual(loc(1, 10));
    client.close(net.now, id);
    for (let i = 0; i < 5; i++) {
      net.run(net.now + 100_000);
      serveUntilClosed(net, servers[0]!);
    }
    net.run();
    expect(client.flowCount).toBe(0);
    expect(servers[0]!.host.flowCount).toBe(0);
    expect(net.inFlight).toBe(0);
    expect(client.pollTimeout()).toBeUndefined();
    expect(servers[0]!.host.pollTimeout()).toBeUndefined();
    expect(t.log).toEqual(["tx-syn", "rx-syn-ack", "tx-ack", "connected", "shutdown", "peer-closed", "closed:normal"]);
  });

  test("late binding: 10,000 connects split by weight within 2 %", () => {
    const weights = [3, 2, 1];
    const { net, client, servers } = topology(weights, 7);
    const N = 10_000;
    const accepted = servers.map(() => 0);
    // 20 connects a millisecond; the servers accept as connections arrive.
    for (let i = 0; i < N; i += 20) {
      for (let j = 0; j < 20; j++) client.connect(net.now, ECHO, new EchoTransport("client"));
      net.run(net.now + 1_000);
      servers.forEach((s, k) => {
        while (s.host.accept(s.listener) !== undefined) accepted[k]!++;
      });
    }
    net.run();
    servers.forEach((s, k) => {
      while (s.host.accept(s.listener) !== undefined) accepted[k]!++;
    });
    expect(accepted.reduce((a, b) => a + b, 0)).toBe(N);
    accepted.forEach((c, i) => expect(Math.abs(c / N - weights[i]! / 6)).toBeLessThan(0.02));
    expect(client.flowCount).toBe(N);
    expect([...client.drops.values()].reduce((a, b) => a + b, 0)).toBe(0);
  });

  test("a service nobody serves is refused at once", () => {
    const net = new HostNet(ONE_WAY);
    const rnd = new SeededRandom(3);
    const a = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
    const b = net.add(new SalHost({ random: rnd, locals: [loc(0, 2)] }), loc(0, 2));
    a.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 2) });
    const id = a.connect(0, ServiceId.parse("nobody.example"), new EchoTransport("client"));
    net.run();
    expect(net.events.get(a)).toContainEqual({ type: "flow-down", flow: id, reason: "refused" });
    expect(net.now).toBe(2 * ONE_WAY);
    expect(b.drops.get("no-listener")).toBe(1);
    expect(a.flowCount + b.flowCount).toBe(0);
  });

  test("a service a router has no rule for is unreachable, not refused (the router's reset carries NACK)", () => {
    const net = new HostNet(ONE_WAY);
    const rnd = new SeededRandom(4);
    const a = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
    const r = net.add(new SalHost({ random: rnd, locals: [loc(0, 254)], router: true }), loc(0, 254));
    a.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 254) });
    const id = a.connect(0, ServiceId.parse("nobody.example"), new EchoTransport("client"));
    net.run();
    expect(net.events.get(a)).toContainEqual({ type: "flow-down", flow: id, reason: "unreachable" });
    expect(net.now).toBe(2 * ONE_WAY);
    expect(r.drops.get("no-listener")).toBe(1);
    expect(a.flowCount + r.flowCount).toBe(0);
  });

  test("no route: the connect fails as unreachable", () => {
    const h = new SalHost({ random: new SeededRandom(1), locals: [loc(0, 1)] });
    const id = h.connect(0, ECHO, new EchoTransport("client"));
    expect(h.pollEvent()).toEqual({ type: "flow-down", flow: id, reason: "unreachable" });
    expect(h.flowCount).toBe(0);
  });

  test("a SYN flood keeps memory bounded and a real client still connects", () => {
    const net = new HostNet(ONE_WAY);
    const rnd = new SeededRandom(11);
    const server = net.add(new SalHost({ random: rnd, locals: [loc(0, 2)], requestQueue: 100 }), loc(0, 2));
    server.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    const client = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 2) });
    // 5,000 SYNs from random flowIDs and spoofed sources whose SYN-ACKs go nowhere.
    const flood = new SeededRandom(99);
    for (let i = 0; i < 5000; i++) {
      const buf = new Uint8Array(200);
      const n = emitSal(
        {
          srcFlowId: flood.nextU32() || 1,
          dstFlowId: 0,
          protocol: 17,
          control: { flags: SAL_SYN, verno: flood.nextU32(), ackno: 0, nonce: new Uint8Array(8).fill(i & 255) },
          services: [ECHO],
        },
        buf,
        0,
      );
      server.handlePacket(0, { bytes: buf, off: 0, len: n, src: loc(2, i & 255), dst: loc(0, 2) });
      expect(server.flowCount).toBeLessThanOrEqual(100);
    }
    const id = client.connect(0, ECHO, new EchoTransport("client"));
    net.run(200_000);
    expect(client.flowState(id)?.state).toBe("CONNECTED");
    expect(server.drops.get("request-evicted")).toBeGreaterThan(4000);
  });

  test("unlisten resets the flows waiting in its queues and emits unbind", () => {
    const { net, client, servers } = topology([1]);
    const id = client.connect(0, ECHO, new EchoTransport("client"));
    net.run();
    const s = servers[0]!;
    expect(s.host.unlisten(net.now, s.listener)).toBe(true);
    net.run();
    expect(net.events.get(client)).toContainEqual({ type: "flow-down", flow: id, reason: "reset" });
    expect(net.events.get(s.host)!.some((e) => e.type === "unbind")).toBe(true);
    expect(s.host.flowCount).toBe(0);
  });

  test("a flow migrates to a new client address and data keeps flowing", () => {
    const { net, client, servers } = topology([1]);
    net.add(client, loc(0, 2)); // the client's second interface
    const t = new EchoTransport("client");
    const id = client.connect(0, ECHO, t);
    net.run();
    t.write(new Uint8Array([1, 2, 3]));
    client.flush(net.now, id);
    net.run();
    expect(client.migrate(net.now, id, loc(0, 2))).toBe(true);
    net.down.add(key(loc(0, 1))); // the old address is gone
    net.run();
    expect(client.flowState(id)?.local).toEqual(loc(0, 2));
    const server = servers[0]!;
    const sid = server.host.accept(server.listener)!;
    expect(server.host.flowState(sid)?.peer).toEqual(loc(0, 2));
    t.write(new Uint8Array([4, 5]));
    client.flush(net.now, id);
    net.run();
    expect([...t.receivedBytes()]).toEqual([1, 2, 3, 4, 5]);
    expect(net.events.get(client)!.some((e) => e.type === "migrated")).toBe(true);
  });

  test("unconnected datagrams are routed by service, carry the source service, and can be answered", () => {
    const { net, client, router, servers } = topology([1]);
    const server = servers[0]!.host;
    const rx = server.openDatagram(ServicePrefix.parse("dgram.example"));
    const tx = client.openDatagram(ServicePrefix.parse("me.client"));
    router.serviceTable.addTarget(ServicePrefix.parse("dgram.example"), { type: "forward", locator: loc(1, 10) });
    expect(client.sendDatagram(net.now, tx, ServiceId.parse("dgram.example"), new Uint8Array([7, 7, 7]))).toBeUndefined();
    net.run();
    const got = net.events.get(server)!.find((e) => e.type === "datagram");
    if (got?.type !== "datagram") throw new Error("no datagram");
    expect(got.socket).toBe(rx);
    expect([...got.payload]).toEqual([7, 7, 7]);
    expect(got.source.equals(ServiceId.parse("me.client"))).toBe(true);
    expect(got.from).toEqual(loc(0, 1));
    // The answer goes straight back to the sender's locator.
    server.sendDatagram(net.now, rx, got.source, new Uint8Array([8]), got.from);
    net.run();
    const back = net.events.get(client)!.find((e) => e.type === "datagram");
    expect(back?.type === "datagram" && [...back.payload]).toEqual([8]);
    expect(() => client.sendDatagram(net.now, tx, ECHO, new Uint8Array(2000))).toThrow(RangeError);
    expect(client.closeDatagram(tx)).toBe(true);
    expect(server.closeDatagram(rx)).toBe(true);
  });

  test("a datagram for a stream listener or for nobody is dropped, never reset", () => {
    const { net, client, servers } = topology([1]);
    const tx = client.openDatagram();
    client.sendDatagram(net.now, tx, ECHO, new Uint8Array([1]));
    client.sendDatagram(net.now, tx, ServiceId.parse("none.example"), new Uint8Array([1]));
    net.run();
    const server = servers[0]!.host;
    expect(server.drops.get("protocol-mismatch")).toBe(1);
    expect(server.drops.get("no-listener")).toBe(1);
    expect(net.delivered).toBe(4); // two to the router, two to the server, no resets
  });

  test("DELAY on a router: resolve-request, release after a rule appears, drop", () => {
    const net = new HostNet(ONE_WAY);
    const rnd = new SeededRandom(21);
    const client = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
    const router = net.add(new SalHost({ random: rnd, locals: [loc(0, 254)], router: true }), loc(0, 254));
    const server = net.add(new SalHost({ random: rnd, locals: [loc(1, 10)] }), loc(1, 10));
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 254) });
    router.serviceTable.addTarget(ServicePrefix.of(ECHO), { type: "delay" });
    server.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    const id = client.connect(0, ECHO, new EchoTransport("client"));
    net.run(ONE_WAY);
    const req = net.events.get(router)!.find((e) => e.type === "resolve-request");
    if (req?.type !== "resolve-request") throw new Error("no resolve-request");
    // The controller learns where the service is, then releases the SYN.
    router.serviceTable.addTarget(ServicePrefix.of(ECHO), { type: "forward", locator: loc(1, 10), priority: 10 });
    expect(router.delayVerdict(net.now, req.id, "release")).toBe(true);
    net.run(net.now + 100_000);
    expect(client.flowState(id)?.state).toBe("CONNECTED");
    expect(net.now).toBeLessThan(1_000_000); // no SYN retransmission was needed

    // Drop: the SYN is gone; the client's retransmission asks again.
    router.serviceTable.removeTarget(ServicePrefix.of(ECHO), { type: "forward", locator: loc(1, 10) });
    const id2 = client.connect(net.now, ECHO, new EchoTransport("client"));
    net.run(net.now + ONE_WAY);
    const req2 = net.events.get(router)!.filter((e) => e.type === "resolve-request").at(-1);
    if (req2?.type !== "resolve-request") throw new Error("no resolve-request");
    router.delayVerdict(net.now, req2.id, "drop");
    net.run(net.now + 1_500_000);
    expect(net.events.get(router)!.filter((e) => e.type === "resolve-request").length).toBe(3);
    expect(client.flowState(id2)?.state).toBe("REQUEST");
  });

  test("DELAY on the client's own table holds its SYN until released", () => {
    const net = new HostNet(ONE_WAY);
    const rnd = new SeededRandom(22);
    const client = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
    const server = net.add(new SalHost({ random: rnd, locals: [loc(0, 2)] }), loc(0, 2));
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "delay" });
    server.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    const id = client.connect(0, ECHO, new EchoTransport("client"));
    net.run(1);
    const req = net.events.get(client)!.find((e) => e.type === "resolve-request");
    if (req?.type !== "resolve-request") throw new Error("no resolve-request");
    client.serviceTable.addTarget(ServicePrefix.of(ECHO), { type: "forward", locator: loc(0, 2) });
    client.delayVerdict(net.now, req.id, "release");
    net.run(net.now + 100_000);
    expect(client.flowState(id)?.state).toBe("CONNECTED");
  });

  test("packets at a non-zero offset in a batch buffer: a SYN reaches its listener, a datagram its socket", () => {
    const rnd = new SeededRandom(9);
    const a = new SalHost({ random: rnd, locals: [loc(0, 1)] });
    const b = new SalHost({ random: rnd, locals: [loc(0, 2)] });
    a.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 2) });
    const listener = b.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    const sock = b.openDatagram(ServicePrefix.parse("time.example"));
    const src = a.openDatagram(ServicePrefix.parse("client.example"));
    a.connect(0, ECHO, new EchoTransport("client"));
    a.sendDatagram(0, src, ServiceId.parse("time.example"), new Uint8Array([7]));
    // Both packets sit in one buffer after 100 bytes of something else, as in a datapath's batch.
    const batch = new Uint8Array(4096);
    let off = 100;
    for (let p = a.pollTransmit(); p; p = a.pollTransmit()) {
      batch.set(p.bytes, off);
      expect(b.handlePacket(1, { bytes: batch, off, len: p.bytes.length, src: loc(0, 1), dst: loc(0, 2) })).toBeUndefined();
      off += p.bytes.length + 3;
    }
    const events = [];
    for (let e = b.pollEvent(); e; e = b.pollEvent()) events.push(e);
    expect(events.filter((e) => e.type === "datagram").map((e) => e.type === "datagram" && [e.socket, [...e.payload], e.source.equals(ServiceId.parse("client.example"))]))
      .toEqual([[sock, [7], true]]);
    expect(b.accept(listener) !== undefined || b.flowCount === 1).toBe(true);
    expect([...b.drops.entries()]).toEqual([]);
  });

  test("transmit arena: segments written in place, copied out at once, arrive intact; the arena is reused once drained", () => {
    const rnd = new SeededRandom(10);
    const a = new SalHost({ random: rnd, locals: [loc(0, 1)], transmitArena: 8 * 1024 });
    const b = new SalHost({ random: rnd, locals: [loc(0, 2)] });
    a.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 2) });
    const listener = b.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    const t = new EchoTransport("client");
    const id = a.connect(0, ECHO, t);
    const views: Uint8Array[] = [];
    const pump = (now: number) => {
      for (let round = 0; round < 20; round++) {
        let moved = 0;
        for (let p = a.pollTransmit(); p; p = a.pollTransmit()) {
          views.push(p.bytes);
          b.handlePacket(now, { bytes: p.bytes.slice(), off: 0, len: p.bytes.length, src: loc(0, 1), dst: loc(0, 2) });
          moved++;
        }
        for (let e = b.pollEvent(); e; e = b.pollEvent()) if (e.type === "incoming") b.accept(listener);
        for (let p = b.pollTransmit(); p; p = b.pollTransmit()) {
          a.handlePacket(now, { bytes: p.bytes, off: 0, len: p.bytes.length, src: loc(0, 2), dst: loc(0, 1) });
          moved++;
        }
        if (moved === 0) return;
      }
    };
    pump(0);
    expect(a.flowState(id)?.state).toBe("CONNECTED");
    // Datagram-sized writes: many segments, more than the 8 KiB arena holds at once.
    const text = "0123456789abcdef".repeat(40);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) t.write(new TextEncoder().encode(text));
      a.flush(1 + round, id);
      pump(1 + round);
    }
    expect(new TextDecoder().decode(t.receivedBytes())).toBe(text.repeat(30));
    // Arena views share one buffer (the arena lives inside the checksum's memory); the allocation fallback does not.
    const perBuffer = new Map<ArrayBufferLike, number>();
    for (const v of views) perBuffer.set(v.buffer, (perBuffer.get(v.buffer) ?? 0) + 1);
    const arena = [...perBuffer].sort((x, y) => y[1] - x[1])[0]![0];
    const inArena = views.filter((v) => v.buffer === arena);
    expect(inArena.length).toBeGreaterThan(5);
    expect(new Set(inArena.map((v) => v.byteOffset)).size).toBeLessThan(inArena.length); // offsets reused
    expect([...a.drops.entries(), ...b.drops.entries()]).toEqual([]);
  });

  test("garbage never throws and is counted", () => {
    const h = new SalHost({ random: new SeededRandom(1), locals: [loc(0, 1)] });
    const r = new SeededRandom(5);
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(r.nextU32() % 120);
      for (let j = 0; j < b.length; j++) b[j] = r.nextU32();
      if (b.length > 9) b[9] = 17;
      h.handlePacket(0, { bytes: b, off: 0, len: b.length, src: loc(9, 9), dst: loc(0, 1) });
    }
    const total = [...h.drops.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(2000);
    expect(h.flowCount).toBe(0);
  });
});

import { describe, expect, test } from "bun:test";
import { SalHost, SeededRandom } from "@serval/sal";
import type { OutboundPacket } from "@serval/sal";
import { HostNet, testLocator } from "@serval/sal/testing";
import { SAL_HEADER_LEN, SAL_PROTO_UDP, ServiceId, ServicePrefix } from "@serval/wire";
import { DatagramTransport } from "./datagram_transport.ts";

/** A segment in the UDP layout carrying `payload`. */
function seg(payload: number[], lengthField = 8 + payload.length): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  b[4] = lengthField >> 8;
  b[5] = lengthField & 0xff;
  b.set(payload, 8);
  return b;
}

function deliver(t: DatagramTransport, b: Uint8Array): void {
  t.handleSegment(0, b, 0, b.length);
}

/** Everything `t` sends now, as segments. */
function drainSegments(t: DatagramTransport, max = 1468): Uint8Array[] {
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(max + 4);
  for (let n = t.pollSegment(0, buf, 2, max); n > 0; n = t.pollSegment(0, buf, 2, max)) out.push(buf.slice(2, 2 + n));
  return out;
}

describe("DatagramTransport: unit", () => {
  test("wire layout: ports 0, length, zero checksum, payload; protocol 17", () => {
    const t = new DatagramTransport();
    expect(t.protocol).toBe(SAL_PROTO_UDP);
    expect(t.send(Uint8Array.of(9, 8, 7))).toBe(true);
    const [s] = drainSegments(t);
    expect([...s!]).toEqual([0, 0, 0, 0, 0, 11, 0, 0, 9, 8, 7]);
    expect(t.counters.sent).toBe(1);
    expect(t.finished).toBe(true);
  });

  test("handshake parts are empty UDP headers", () => {
    const t = new DatagramTransport();
    const b = new Uint8Array(16).fill(0xee);
    expect(t.writeHandshake(0, "syn", b, 4, 12)).toBe(8);
    expect([...b.subarray(4, 12)]).toEqual([0, 0, 0, 0, 0, 8, 0, 0]);
    expect(t.writeHandshake(0, "ack", b, 0, 7)).toBe(0);
    t.handleHandshake(0, "syn-ack", b, 4, 8);
    t.connected(0);
    expect(t.receiveQueued).toBe(0);
    expect(t.pollTimeout()).toBeUndefined();
  });

  test("maxPayload = mtu - SAL header - UDP header; bigger sends throw and are counted", () => {
    expect(new DatagramTransport().maxPayload).toBe(1480 - SAL_HEADER_LEN - 8);
    const t = new DatagramTransport({ mtu: 100 });
    expect(t.maxPayload).toBe(80);
    expect(t.send(new Uint8Array(80))).toBe(true);
    expect(() => t.send(new Uint8Array(81))).toThrow(RangeError);
    expect(t.counters.dropped["too-big"]).toBe(1);
    expect(t.sendQueued).toBe(1);
    expect(new DatagramTransport({ mtu: 0xffff }).maxPayload).toBe(0xffff - SAL_HEADER_LEN - 8);
  });

  test("an empty send throws and is counted", () => {
    const t = new DatagramTransport();
    expect(() => t.send(new Uint8Array(0))).toThrow(RangeError);
    expect(t.counters.dropped.empty).toBe(1);
    expect(t.canSend(0)).toBe(false);
  });

  test("bad options throw RangeError", () => {
    expect(() => new DatagramTransport({ mtu: 20 })).toThrow(RangeError);
    expect(() => new DatagramTransport({ mtu: 1.5 })).toThrow(RangeError);
    expect(() => new DatagramTransport({ sendQueueCount: 0 })).toThrow(RangeError);
    expect(() => new DatagramTransport({ sendQueueBytes: -1 })).toThrow(RangeError);
    expect(() => new DatagramTransport({ receiveQueueCount: NaN })).toThrow(RangeError);
    expect(() => new DatagramTransport({ receiveQueueBytes: 0 })).toThrow(RangeError);
  });

  test("send queue is bounded by count: backpressure, counted queue-full", () => {
    const t = new DatagramTransport({ sendQueueCount: 3 });
    for (let i = 0; i < 3; i++) expect(t.send(Uint8Array.of(i))).toBe(true);
    expect(t.canSend(1)).toBe(false);
    expect(t.send(Uint8Array.of(3))).toBe(false);
    expect(t.counters.dropped["queue-full"]).toBe(1);
    expect(drainSegments(t).length).toBe(3);
    expect(t.send(Uint8Array.of(4))).toBe(true);
  });

  test("send queue is bounded by bytes; an empty queue always takes one datagram", () => {
    const t = new DatagramTransport({ sendQueueBytes: 10 });
    expect(t.send(new Uint8Array(6))).toBe(true);
    expect(t.send(new Uint8Array(5))).toBe(false);
    expect(t.send(new Uint8Array(4))).toBe(true);
    expect(t.sendQueuedBytes).toBe(10);
    drainSegments(t);
    expect(t.sendQueuedBytes).toBe(0);
    expect(t.send(new Uint8Array(1000))).toBe(true); // larger than the bound, but alone
    expect(t.send(new Uint8Array(1))).toBe(false);
    expect(t.counters.dropped["queue-full"]).toBe(2);
  });

  test("memory stays bounded under a send flood that nobody drains", () => {
    const t = new DatagramTransport({ sendQueueCount: 8, sendQueueBytes: 4096 });
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) if (t.send(new Uint8Array(100))) accepted++;
    expect(accepted).toBe(8);
    expect(t.counters.dropped["queue-full"]).toBe(100_000 - 8);
    expect(t.sendQueuedBytes).toBe(800);
  });

  test("FIFO order is kept across many sends and drains", () => {
    const t = new DatagramTransport({ sendQueueCount: 200 });
    const r = new DatagramTransport({ receiveQueueCount: 1000, receiveQueueBytes: 1 << 20 });
    let next = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 37; i++) expect(t.send(Uint8Array.of(next++ & 0xff))).toBe(true);
      // Drain only part, so the internal head moves and compacts.
      const buf = new Uint8Array(64);
      for (let i = 0; i < 30; i++) {
        const n = t.pollSegment(0, buf, 0, 64);
        r.handleSegment(0, buf, 0, n);
      }
    }
    for (const s of drainSegments(t)) deliver(r, s);
    const got: number[] = [];
    for (let p = r.receive(); p; p = r.receive()) got.push(p[0]!);
    expect(got.length).toBe(740);
    expect(got).toEqual(Array.from({ length: 740 }, (_, i) => i & 0xff));
  });

  test("the payload is copied on send and on receipt", () => {
    const t = new DatagramTransport();
    const p = Uint8Array.of(1, 2);
    t.send(p);
    p[0] = 99;
    const [s] = drainSegments(t);
    expect([...s!.subarray(8)]).toEqual([1, 2]);
    const r = new DatagramTransport();
    deliver(r, s!);
    s![8] = 77;
    expect([...r.receive()!]).toEqual([1, 2]);
  });

  test("receive: bad lengths and empty datagrams are dropped and counted", () => {
    const r = new DatagramTransport();
    r.handleSegment(0, new Uint8Array(7), 0, 7);
    deliver(r, seg([1, 2], 9)); // length field says less
    deliver(r, seg([1, 2], 11)); // length field says more
    deliver(r, seg([1, 2], 4)); // below the header
    deliver(r, seg([])); // zero-length datagram, not a FIN (facts §2.5)
    expect(r.receive()).toBeUndefined();
    expect(r.counters.dropped["bad-length"]).toBe(4);
    expect(r.counters.dropped.empty).toBe(1);
    expect(r.counters.received).toBe(0);
  });

  test("receive queue overflow drops the newest and counts it (count bound)", () => {
    const r = new DatagramTransport({ receiveQueueCount: 2 });
    for (let i = 1; i <= 4; i++) deliver(r, seg([i]));
    expect(r.counters.received).toBe(2);
    expect(r.counters.dropped["queue-full"]).toBe(2);
    expect([...r.receive()!, ...r.receive()!]).toEqual([1, 2]);
    expect(r.receive()).toBeUndefined();
    deliver(r, seg([5]));
    expect([...r.receive()!]).toEqual([5]);
  });

  test("receive queue overflow (byte bound)", () => {
    const r = new DatagramTransport({ receiveQueueBytes: 5 });
    deliver(r, seg([1, 2, 3]));
    deliver(r, seg([4, 5, 6])); // 6 > 5: dropped
    deliver(r, seg([7, 8]));
    expect(r.receiveQueuedBytes).toBe(5);
    expect(r.counters.dropped["queue-full"]).toBe(1);
    expect([...r.receive()!]).toEqual([1, 2, 3]);
    expect([...r.receive()!]).toEqual([7, 8]);
  });

  test("EOF when the peer closes; later datagrams are dropped as after-eof", () => {
    const r = new DatagramTransport();
    deliver(r, seg([1]));
    r.peerClosed(0);
    expect(r.eof).toBe(false); // one datagram still to read
    deliver(r, seg([2]));
    expect(r.counters.dropped["after-eof"]).toBe(1);
    expect([...r.receive()!]).toEqual([1]);
    expect(r.eof).toBe(true);
    expect(r.receive()).toBeUndefined();
  });

  test("frozen during migration: queue kept, sent in order on resume", () => {
    const t = new DatagramTransport();
    t.send(Uint8Array.of(1));
    t.freeze(0);
    expect(t.frozen).toBe(true);
    t.send(Uint8Array.of(2));
    expect(drainSegments(t)).toEqual([]);
    expect(t.sendQueued).toBe(2);
    expect(t.finished).toBe(false);
    t.resume(0);
    expect(drainSegments(t).map((s) => s[8])).toEqual([1, 2]);
    expect(t.finished).toBe(true);
  });

  test("a datagram larger than the host's room is dropped as too-big, the next one goes", () => {
    const t = new DatagramTransport();
    t.send(new Uint8Array(100));
    t.send(Uint8Array.of(5));
    const segs = drainSegments(t, 50);
    expect(segs.length).toBe(1);
    expect(segs[0]![8]).toBe(5);
    expect(t.counters.dropped["too-big"]).toBe(1);
    expect(t.counters.sent).toBe(1);
  });

  test("shutdown: no more sends, queued ones still go; finished when the queue is empty", () => {
    const t = new DatagramTransport();
    t.send(Uint8Array.of(1));
    t.shutdown(0);
    expect(t.send(Uint8Array.of(2))).toBe(false);
    expect(t.canSend(1)).toBe(false);
    expect(t.counters.dropped["queue-full"]).toBe(0);
    expect(t.finished).toBe(false);
    expect(drainSegments(t).length).toBe(1);
    expect(t.finished).toBe(true);
  });

  test("closed releases everything", () => {
    const t = new DatagramTransport();
    t.send(Uint8Array.of(1));
    t.freeze(0);
    deliver(t, seg([2]));
    t.closed(0, "reset");
    expect(t.closeReason).toBe("reset");
    expect([t.sendQueued, t.sendQueuedBytes, t.receiveQueued, t.receiveQueuedBytes]).toEqual([0, 0, 0, 0]);
    expect(t.finished).toBe(true);
    expect(t.eof).toBe(true);
    expect(t.receive()).toBeUndefined();
    expect(t.send(Uint8Array.of(3))).toBe(false);
    deliver(t, seg([4]));
    expect(t.receiveQueued).toBe(0);
    expect(drainSegments(t)).toEqual([]);
    t.handleTimeout(0);
    expect(t.pollTimeout()).toBeUndefined();
  });
});

// --- end to end: two SalHosts back to back ------------------------------------

const loc = testLocator;
const key = HostNet.key;
const ONE_WAY = 5_000;


const SVC = ServiceId.parse("dgram.example");

/** A data packet (no SAL extensions) in the UDP layout with a payload. */
function isUdpData(p: OutboundPacket): boolean {
  const b = p.bytes;
  return b[9] === SAL_PROTO_UDP && b[8]! << 2 === SAL_HEADER_LEN && b.length > SAL_HEADER_LEN + 8;
}

function setup() {
  const net = new HostNet(ONE_WAY);
  const rnd = new SeededRandom(5);
  const a = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)], flow: { timeWaitUs: 1_000_000 } }), loc(0, 1));
  const b = net.add(new SalHost({ random: rnd, locals: [loc(0, 2)], flow: { timeWaitUs: 1_000_000 } }), loc(0, 2));
  a.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 2) });
  const servers: DatagramTransport[] = [];
  const listener = b.listen(ServicePrefix.of(SVC), {
    transport: () => {
      const t = new DatagramTransport({ receiveQueueCount: 256, receiveQueueBytes: 1 << 20 });
      servers.push(t);
      return t;
    },
  });
  const ct = new DatagramTransport({ sendQueueCount: 256, sendQueueBytes: 1 << 20 });
  const cid = a.connect(net.now, SVC, ct);
  net.run();
  const sid = b.accept(listener)!;
  return { net, a, b, ct, cid, sid, st: servers[0]!, servers };
}

function payloads(n: number, seed: number, max: number): Uint8Array[] {
  const r = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const p = new Uint8Array(1 + (r.nextU32() % max));
    for (let i = 0; i < p.length; i++) p[i] = r.nextU32() & 0xff;
    return p;
  });
}

function receiveAll(t: DatagramTransport): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = t.receive(); p; p = t.receive()) out.push(p);
  return out;
}

describe("DatagramTransport: end to end over two SalHosts", () => {
  test("datagrams both ways, byte-exact; a corrupted one is dropped by the checksum; clean close", () => {
    const { net, a, b, ct, cid, sid, st, servers } = setup();
    expect(servers.length).toBe(1);
    expect(a.flowState(cid)?.state).toBe("CONNECTED");
    expect(b.transport(sid)).toBe(st);

    // Client -> server, up to the full maxPayload.
    const up = payloads(50, 1, ct.maxPayload);
    up.push(new Uint8Array(ct.maxPayload).fill(0xa5));
    for (const p of up) expect(ct.send(p)).toBe(true);
    a.flush(net.now, cid);
    net.run();
    expect(receiveAll(st)).toEqual(up);
    expect(ct.counters.sent).toBe(51);

    // Server -> client.
    const down = payloads(40, 2, 600);
    for (const p of down) expect(st.send(p)).toBe(true);
    b.flush(net.now, sid);
    net.run();
    expect(receiveAll(ct)).toEqual(down);

    // One datagram has a payload bit flipped in flight: the host's checksum drops it.
    let flipped = 0;
    net.tamper = (p) => {
      if (flipped === 0 && isUdpData(p)) {
        p.bytes[p.bytes.length - 1]! ^= 0x10;
        flipped++;
      }
    };
    const before = st.counters.received;
    ct.send(Uint8Array.of(1, 2, 3, 4));
    ct.send(Uint8Array.of(5, 6, 7, 8));
    a.flush(net.now, cid);
    net.run();
    net.tamper = () => {};
    expect(flipped).toBe(1);
    expect(b.drops.get("bad-transport-checksum")).toBe(1);
    expect(receiveAll(st).map((p) => [...p])).toEqual([[5, 6, 7, 8]]);
    expect(st.counters.received).toBe(before + 1);

    // Close: the client first; the server sees EOF and closes too.
    a.close(net.now, cid);
    net.run(net.now + 100_000);
    expect(net.events.get(b)).toContainEqual({ type: "peer-fin", flow: sid });
    expect(st.eof).toBe(true);
    b.close(net.now, sid);
    net.run();
    expect(a.flowCount).toBe(0);
    expect(b.flowCount).toBe(0);
    expect(net.inFlight).toBe(0);
    expect(a.pollTimeout()).toBeUndefined();
    expect(b.pollTimeout()).toBeUndefined();
    expect(ct.closeReason).toBe("normal");
    expect(st.closeReason).toBe("normal");
    for (const t of [ct, st]) {
      expect([t.sendQueued, t.sendQueuedBytes, t.receiveQueued, t.receiveQueuedBytes]).toEqual([0, 0, 0, 0]);
    }
    expect(ct.eof).toBe(true);
    const dropped = Object.values(ct.counters.dropped).concat(Object.values(st.counters.dropped));
    expect(dropped.every((n) => n === 0)).toBe(true);
  });

  test("datagrams queued during a migration go out on resume", () => {
    const { net, a, b, ct, cid, sid, st } = setup();
    net.add(a, loc(0, 3)); // the client's second interface
    expect(a.migrate(net.now, cid, loc(0, 3))).toBe(true);
    expect(ct.frozen).toBe(true);
    net.down.add(key(loc(0, 1)));
    expect(ct.send(Uint8Array.of(1))).toBe(true);
    expect(ct.send(Uint8Array.of(2))).toBe(true);
    a.flush(net.now, cid);
    expect(ct.sendQueued).toBe(2); // held while frozen
    net.run();
    expect(ct.frozen).toBe(false);
    expect(a.flowState(cid)?.local).toEqual(loc(0, 3));
    expect(receiveAll(st).map((p) => [...p])).toEqual([[1], [2]]);
    // And the answer reaches the new address.
    expect(st.send(Uint8Array.of(3))).toBe(true);
    b.flush(net.now, sid);
    net.run();
    expect(receiveAll(ct).map((p) => [...p])).toEqual([[3]]);
  });

  test("a client with no route: the flow goes down, the transport is released", () => {
    const h = new SalHost({ random: new SeededRandom(1), locals: [loc(0, 1)] });
    const t = new DatagramTransport();
    t.send(Uint8Array.of(1));
    const id = h.connect(0, SVC, t);
    expect(h.pollEvent()).toEqual({ type: "flow-down", flow: id, reason: "unreachable" });
    expect(t.closeReason).toBe("unreachable");
    expect(t.sendQueued).toBe(0);
    expect(h.flowCount).toBe(0);
  });
});

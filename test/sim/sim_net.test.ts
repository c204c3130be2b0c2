import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPurityViolations } from "../../scripts/purity.ts";
import { EventHeap } from "./_event_heap.ts";
import { SimNet } from "./sim_net.ts";
import type { SimAddress, SimNode, SimTransmit } from "./sim_node.ts";
import type { LinkParams } from "./sim_segment.ts";
import { expectIdle } from "./testing.ts";

/** Records what arrives; sends what it is told to. */
class Recorder implements SimNode {
  readonly got: { now: number; iface: number; from: SimAddress; frame: Uint8Array }[] = [];
  readonly out: SimTransmit[] = [];
  handleFrame(now: number, iface: number, frame: Uint8Array, from: SimAddress): void {
    this.got.push({ now, iface, from, frame });
  }
  send(to: SimAddress | "broadcast", frame: Uint8Array, iface = 0): void {
    this.out.push({ iface, frame, to });
  }
  pollTransmit(): SimTransmit | undefined {
    return this.out.shift();
  }
  pollTimeout(): number | undefined {
    return undefined;
  }
  handleTimeout(_now: number): void {}
}

/** Sends every frame back to its sender. */
class EchoNode extends Recorder {
  override handleFrame(now: number, iface: number, frame: Uint8Array, from: SimAddress): void {
    super.handleFrame(now, iface, frame, from);
    this.send(from, frame, iface);
  }
}

/** Sends numbered pings (u32 sequence number first) and measures round trips. */
class Pinger extends Recorder {
  readonly #sentAt = new Map<number, number>();
  readonly rtts: { seq: number; rtt: number }[] = [];
  #seq = 0;
  ping(now: number, to: SimAddress, size: number): number {
    const seq = this.#seq++;
    const frame = new Uint8Array(size);
    new DataView(frame.buffer).setUint32(0, seq);
    this.#sentAt.set(seq, now);
    this.send(to, frame);
    return seq;
  }
  override handleFrame(now: number, iface: number, frame: Uint8Array, from: SimAddress): void {
    super.handleFrame(now, iface, frame, from);
    const seq = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
    this.rtts.push({ seq, rtt: now - this.#sentAt.get(seq)! });
  }
}

/** Fires at the given virtual times; `forever` re-arms 1 ms later each time. */
class TimerNode extends Recorder {
  readonly fired: number[] = [];
  readonly #due: number[];
  constructor(due: number[], readonly forever = false) {
    super();
    this.#due = [...due];
  }
  override pollTimeout(): number | undefined {
    return this.#due[0];
  }
  override handleTimeout(now: number): void {
    this.fired.push(now);
    this.#due.shift();
    if (this.forever) this.#due.push(now + 1_000);
  }
}

function seqFrame(seq: number, size = 8): Uint8Array {
  const f = new Uint8Array(size);
  new DataView(f.buffer).setUint32(0, seq);
  return f;
}

function seqOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset).getUint32(0);
}

/** Two recorders on one link; `a` sends `n` numbered frames at t=0. */
function pair(params: Partial<LinkParams>, seed = 1) {
  const net = new SimNet({ seed });
  const a = new Recorder();
  const b = new Recorder();
  const ia = net.addNode(a, "a");
  const ib = net.addNode(b, "b");
  const seg = net.connect(ia, ib, params, "link");
  return { net, a, b, seg, addrA: net.addressOf(ia), addrB: net.addressOf(ib) };
}

let current: SimNet | undefined;
afterEach(() => {
  // Every scenario ends idle: no frame in flight, no timer armed.
  if (current !== undefined) expectIdle(current);
  current = undefined;
});

describe("SimNet addresses and topology", () => {
  test("hands out 198.18.0.0/15 addresses in attach order", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const a = net.addNode(new Recorder());
    const b = net.addNode(new Recorder());
    const seg = net.connect(a, b);
    net.attach(net.addSegment(), a);
    expect([net.addressOf(a), net.addressOf(b), net.addressOf(a, 1)]).toEqual([
      "198.18.0.1",
      "198.18.0.2",
      "198.18.0.3",
    ]);
    expect(seg.members.map((m) => [m.node, m.iface])).toEqual([[0, 0], [1, 0]]);
    expect(() => net.addressOf(b, 1)).toThrow(
      new RangeError('Cannot get address of interface 1 of node "node1": it has 1 interfaces'),
    );
    expect(() => net.node(9)).toThrow(RangeError);
    expect(net.drive()).toBe(0);
  });

  test("calls handleAttach with the new address", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const seen: [number, string][] = [];
    const node = Object.assign(new Recorder(), { handleAttach: (i: number, a: string) => seen.push([i, a]) });
    const n = net.addNode(node);
    net.attach(net.addSegment(), n);
    net.attach(net.addSegment(), n);
    expect(seen).toEqual([[0, "198.18.0.1"], [1, "198.18.0.2"]]);
  });

  test("rejects a transmit on a missing interface", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const r = new Recorder();
    net.addNode(r, "lonely");
    r.send("198.18.0.9", new Uint8Array(1));
    expect(() => net.step()).toThrow(
      new RangeError('Cannot transmit on interface 0 of node "lonely": it has 0 interfaces'),
    );
  });

  test("rejects out-of-range link parameters", () => {
    const net = (current = new SimNet({ seed: 1 }));
    expect(() => net.addSegment({ lossRate: 1.5 }, "bad")).toThrow(
      new RangeError('Cannot configure segment "bad": lossRate is 1.5, must be in 0..1'),
    );
    expect(() => net.addSegment().configure({ mtu: -1 })).toThrow(RangeError);
  });
});

describe("SimNet timing", () => {
  test("RTT is exactly 2 x latency without bandwidth limit", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const p = new Pinger();
    const ip = net.addNode(p, "pinger");
    const ie = net.addNode(new EchoNode(), "echo");
    net.connect(ip, ie, { latencyUs: 1_500 });
    p.ping(net.now, net.addressOf(ie), 64);
    net.drive();
    expect(p.rtts).toEqual([{ seq: 0, rtt: 3_000 }]);
    expect(net.now).toBe(3_000);
  });

  test("RTT is exactly 2 x latency + serialization both ways", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const p = new Pinger();
    const ip = net.addNode(p);
    const ie = net.addNode(new EchoNode());
    // 125 bytes at 1 Mbit/s: 1000 µs on the wire each way.
    const seg = net.connect(ip, ie, { latencyUs: 1_500, bandwidthBps: 1_000_000 });
    p.ping(net.now, net.addressOf(ie), 125);
    net.drive();
    expect(p.rtts).toEqual([{ seq: 0, rtt: 2 * 1_500 + 2 * 1_000 }]);
    expect(seg.stats).toMatchObject({ sent: 2, delivered: 2 });
  });

  test("serialization delay is exact for a given rate and frames queue FIFO", () => {
    const { net, a, b, addrB } = pair({ latencyUs: 0, bandwidthBps: 10_000_000 });
    current = net;
    // 1250 bytes at 10 Mbit/s: exactly 1000 µs each, back to back.
    for (let i = 0; i < 5; i++) a.send(addrB, seqFrame(i, 1_250));
    net.drive();
    expect(b.got.map((g) => [g.now, seqOf(g.frame)])).toEqual([[1_000, 0], [2_000, 1], [3_000, 2], [4_000, 3], [
      5_000,
      4,
    ]]);
  });

  test("serialization rounds up to whole microseconds", () => {
    const { net, a, b, addrB } = pair({ latencyUs: 10, bandwidthBps: 3_000_000 });
    current = net;
    a.send(addrB, new Uint8Array(1)); // 8 bits / 3 Mbit/s = 2.67 µs -> 3
    net.drive();
    expect(b.got[0]!.now).toBe(13);
  });

  test("runUntil stops at the given time and runs the rest later", () => {
    const { net, a, b, addrB } = pair({ latencyUs: 100 });
    current = net;
    a.send(addrB, seqFrame(1));
    expect(net.runUntil(50)).toBe(0);
    expect([net.now, net.inFlight, b.got.length]).toEqual([50, 1, 0]);
    expect(net.runUntil(100)).toBe(1);
    expect([net.now, net.inFlight, b.got.length]).toEqual([100, 0, 1]);
  });

  test("link parameters change at run time", () => {
    const { net, a, b, seg, addrA, addrB } = pair({ latencyUs: 100 });
    current = net;
    a.send(addrB, seqFrame(0));
    net.drive();
    seg.configure({ latencyUs: 700 });
    a.send(addrB, seqFrame(1));
    net.drive();
    seg.configure({ latencyUs: 5 }, { from: addrB, to: addrA });
    b.send(addrA, seqFrame(2));
    a.send(addrB, seqFrame(3));
    const t0 = net.now;
    net.drive();
    expect(b.got.map((g) => g.now)).toEqual([100, 800, t0 + 700]);
    expect(a.got.map((g) => g.now)).toEqual([t0 + 5]);
  });
});

describe("SimNet faults", () => {
  test("queue overflow drops frames beyond the byte limit", () => {
    // 125 B at 1 Mbit/s = 1000 µs each; 500 B of backlog fit 4 frames.
    const { net, a, b, seg, addrB } = pair({ latencyUs: 0, bandwidthBps: 1_000_000, queueLimitBytes: 500 });
    current = net;
    for (let i = 0; i < 10; i++) a.send(addrB, seqFrame(i, 125));
    net.drive();
    expect(b.got.map((g) => [g.now, seqOf(g.frame)])).toEqual([[1_000, 0], [2_000, 1], [3_000, 2], [4_000, 3]]);
    expect(seg.stats.dropped.queue).toBe(6);
    // Once drained the queue accepts again.
    a.send(addrB, seqFrame(10, 125));
    net.drive();
    expect(b.got.length).toBe(5);
  });

  test("oversize frames are dropped with reason mtu", () => {
    const { net, a, b, seg, addrB } = pair({ mtu: 100 });
    current = net;
    a.send(addrB, new Uint8Array(101));
    a.send(addrB, new Uint8Array(100));
    net.drive();
    expect(b.got.map((g) => g.frame.length)).toEqual([100]);
    expect(seg.stats).toMatchObject({ sent: 2, delivered: 1, dropped: { mtu: 1 } });
  });

  test("loss rate is statistically close to the configured rate", () => {
    const { net, a, b, seg, addrB } = pair({ lossRate: 0.2 }, 42);
    current = net;
    const n = 5_000;
    for (let i = 0; i < n; i++) a.send(addrB, seqFrame(i));
    net.drive();
    const lost = seg.stats.dropped.loss;
    // Binomial(5000, 0.2): sd ≈ 28; allow about 4 sd.
    expect(Math.abs(lost - 0.2 * n)).toBeLessThan(115);
    expect(b.got.length + lost).toBe(n);
  });

  test("duplication is observable", () => {
    const { net, a, b, seg, addrB } = pair({ duplicateRate: 0.5 }, 3);
    current = net;
    for (let i = 0; i < 1_000; i++) a.send(addrB, seqFrame(i));
    net.drive();
    const dup = seg.stats.duplicated;
    expect(Math.abs(dup - 500)).toBeLessThan(80);
    expect(b.got.length).toBe(1_000 + dup);
    const seen = new Map<number, number>();
    for (const g of b.got) seen.set(seqOf(g.frame), (seen.get(seqOf(g.frame)) ?? 0) + 1);
    expect([...seen.values()].filter((c) => c === 2).length).toBe(dup);
  });

  test("reordering is observable and bounded by the jitter", () => {
    const { net, a, b, seg, addrB } = pair({
      latencyUs: 100,
      bandwidthBps: 8_000_000,
      reorderRate: 0.3,
      reorderJitterUs: 5_000,
    }, 5);
    current = net;
    // 8-byte frames at 8 Mbit/s leave 8 µs apart.
    for (let i = 0; i < 200; i++) a.send(addrB, seqFrame(i));
    net.drive();
    const order = b.got.map((g) => seqOf(g.frame));
    expect(order.length).toBe(200);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    let inversions = 0;
    for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) inversions++;
    expect(inversions).toBeGreaterThan(10);
    expect(seg.stats.reordered).toBeGreaterThan(30);
    for (const g of b.got) {
      const base = 8 * (seqOf(g.frame) + 1) + 100;
      expect(g.now >= base && g.now <= base + 5_000).toBe(true);
    }
  });

  test("corruption flips exactly one bit of a copy", () => {
    const { net, a, b, seg, addrB } = pair({ corruptRate: 1 }, 9);
    current = net;
    const originals: Uint8Array[] = [];
    for (let i = 0; i < 100; i++) {
      const f = Uint8Array.from({ length: 40 }, (_, j) => (i * 7 + j * 13) & 0xff);
      originals.push(f);
      a.send(addrB, f);
    }
    const snapshot = originals.map((f) => f.slice());
    net.drive();
    expect(seg.stats.corrupted).toBe(100);
    for (let i = 0; i < 100; i++) {
      let bits = 0;
      const got = b.got[i]!.frame;
      for (let j = 0; j < got.length; j++) {
        let x = got[j]! ^ originals[i]![j]!;
        for (; x !== 0; x &= x - 1) bits++;
      }
      expect(bits).toBe(1);
    }
    expect(originals).toEqual(snapshot); // the sender's buffers are untouched
  });

  test("partition drops one direction; heal delivers again", () => {
    const { net, a, b, seg, addrA, addrB } = pair({ latencyUs: 10 });
    current = net;
    net.partition(seg, addrA, addrB);
    a.send(addrB, seqFrame(1));
    b.send(addrA, seqFrame(2));
    net.drive();
    expect([b.got.length, a.got.length, seg.stats.dropped.partition]).toEqual([0, 1, 1]);
    net.heal(seg, addrA, addrB);
    a.send(addrB, seqFrame(3));
    net.drive();
    expect(b.got.map((g) => seqOf(g.frame))).toEqual([3]);
  });

  test("frames in flight when a partition starts still arrive", () => {
    const { net, a, b, seg, addrA, addrB } = pair({ latencyUs: 100 });
    current = net;
    a.send(addrB, seqFrame(1));
    net.runUntil(50);
    net.partition(seg, addrA, addrB);
    net.drive();
    expect(b.got.length).toBe(1);
    net.heal(seg);
  });

  test("unicast to an address not on the segment is dropped as unreachable", () => {
    const { net, a, seg } = pair({});
    current = net;
    a.send("198.19.255.254", seqFrame(1));
    net.drive();
    expect(seg.stats.dropped.unreachable).toBe(1);
  });
});

describe("SimNet delivery", () => {
  test("broadcast reaches every other interface on the segment and no one elsewhere", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const nodes = [new Recorder(), new Recorder(), new Recorder(), new Recorder()];
    const ids = nodes.map((n, i) => net.addNode(n, `n${i}`));
    const lan = net.addSegment({ latencyUs: 20 }, "lan");
    for (const i of ids.slice(0, 3)) net.attach(lan, i);
    const wan = net.connect(ids[0]!, ids[3]!, {}, "wan");
    nodes[0]!.send("broadcast", seqFrame(7), 0);
    net.drive();
    expect(nodes.map((n) => n.got.length)).toEqual([0, 1, 1, 0]);
    expect(nodes[1]!.got[0]).toMatchObject({ now: 20, iface: 0, from: "198.18.0.1" });
    expect([lan.stats.sent, lan.stats.delivered, wan.stats.sent]).toEqual([1, 2, 0]);
    // Each receiver owns its copy.
    nodes[1]!.got[0]!.frame[0] = 0xff;
    expect(nodes[2]!.got[0]!.frame[0]).toBe(0);
  });

  test("a sender reusing its buffer does not affect frames in flight", () => {
    const { net, b, addrB } = pair({ latencyUs: 100 });
    current = net;
    const buf = new Uint8Array(4);
    let k = 0;
    const sender: SimNode = {
      handleFrame() {},
      pollTransmit: () => (k < 3 ? (buf.fill(++k), { iface: 0, frame: buf, to: addrB }) : undefined),
      pollTimeout: () => undefined,
      handleTimeout() {},
    };
    const s = net.addNode(sender, "reuser");
    net.attach(net.segments[0]!, s);
    net.drive();
    expect(b.got.map((g) => g.frame[0])).toEqual([1, 2, 3]);
  });

  test("timers fire in virtual time only", () => {
    const net = (current = new SimNet({ seed: 1 }));
    const t = new TimerNode([5_000_000, 5_000_000, 86_400_000_000]);
    net.addNode(t, "timer");
    const real = globalThis.setTimeout;
    globalThis.setTimeout = (() => {
      throw new Error("real timer used");
    }) as unknown as typeof setTimeout;
    try {
      expect(net.pendingTimeouts()).toBe(1);
      net.drive();
    } finally {
      globalThis.setTimeout = real;
    }
    expect(t.fired).toEqual([5_000_000, 5_000_000, 86_400_000_000]);
    expect(net.now).toBe(86_400_000_000);
  });

  test("a timer already in the past fires at the current time", () => {
    const net = (current = new SimNet({ seed: 1 }));
    net.runUntil(1_000);
    const t = new TimerNode([10]);
    net.addNode(t);
    net.drive();
    expect(t.fired).toEqual([1_000]);
  });

  test("drive() throws on a node that never goes idle", () => {
    const net = new SimNet({ seed: 1 });
    const t = new TimerNode([0], true);
    net.addNode(t, "busy");
    expect(() => net.drive(50)).toThrow(
      new RangeError(
        "Cannot drive network to idle: still busy after 50 steps at 49000µs (0 frames in flight, 1 timers armed)",
      ),
    );
    expect(() => expectIdle(net)).toThrow("found 0 frames in flight and 1 timers armed");
    expect(() => net.runUntil(1e12, 10)).toThrow(RangeError);
  });

  test("drive() throws on a ping-pong that never ends", () => {
    const net = new SimNet({ seed: 1 });
    const a = net.addNode(new EchoNode());
    const b = net.addNode(new EchoNode());
    net.connect(a, b);
    (net.node(a) as EchoNode).send(net.addressOf(b), seqFrame(1));
    expect(() => net.drive(100)).toThrow("1 frames in flight, 0 timers armed");
  });
});

describe("SimNet determinism", () => {
  function scenario(seed: number): string[] {
    const net = new SimNet({ seed, trace: true });
    const p = new Pinger();
    const ip = net.addNode(p, "pinger");
    const ie = net.addNode(new EchoNode(), "echo");
    const t = net.addNode(new TimerNode([2_500, 7_000]), "timer");
    net.connect(ip, ie, {
      latencyUs: 300,
      bandwidthBps: 2_000_000,
      lossRate: 0.1,
      duplicateRate: 0.1,
      reorderRate: 0.2,
      corruptRate: 0.1,
    });
    net.attach(net.segments[0]!, t);
    for (let i = 0; i < 50; i++) p.ping(net.now, net.addressOf(ie), 64 + i);
    net.drive();
    expectIdle(net);
    return [...net.trace, ...p.rtts.map((r) => `rtt ${r.seq} ${r.rtt}`)];
  }

  test("the same seed gives an identical trace", () => {
    const a = scenario(1234);
    expect(a.length).toBeGreaterThan(100);
    expect(scenario(1234)).toEqual(a);
    expect(a.some((l) => l.includes("drop:loss"))).toBe(true);
    expect(a.some((l) => l.includes("timeout timer"))).toBe(true);
  });

  test("a different seed gives a different trace", () => {
    expect(scenario(1235)).not.toEqual(scenario(1234));
  });
});

describe("EventHeap", () => {
  test("pops by time, then insertion order", () => {
    const h = new EventHeap<number>();
    const times = [5, 1, 3, 1, 5, 0, 3, 3, 9, 1];
    times.forEach((t, i) => h.push(t, i));
    const out: [number, number][] = [];
    for (let e = h.pop(); e !== undefined; e = h.pop()) out.push([e.time, e.value]);
    const expected = times.map((t, i) => [t, i] as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    expect(out).toEqual(expected);
    expect(h.size).toBe(0);
  });
});

describe("test/sim sources", () => {
  test("read no clock, start no timer and draw no randomness of their own", () => {
    const dir = fileURLToPath(new URL(".", import.meta.url));
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      // Sibling imports are fine here; everything else follows the pure-package rule.
      const violations = findPurityViolations(readFileSync(join(dir, f), "utf8"), `test/sim/${f}`);
      expect(violations.filter((v) => !v.rule.startsWith('imports "./'))).toEqual([]);
    }
  });
});

import { describe, expect, test } from "bun:test";
import { BATCH_BROADCAST, MemoryNetwork, PacketBatch } from "@serval/datapath";

const ip = (...b: number[]) => new Uint8Array(b);
const loc = (address: Uint8Array, port = 0) => ({ address, port });

function one(bytes: number[], dst: { address: Uint8Array; port: number }, flags = 0, src?: { address: Uint8Array; port: number }): PacketBatch {
  const b = new PacketBatch(1);
  b.push(new Uint8Array(bytes), 0, bytes.length, src, dst, 0, flags);
  return b;
}

describe("MemoryNetwork", () => {
  test("routes by address and port", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1), port: 1000 });
    const b = net.attach({ address: ip(198, 18, 0, 2), port: 2000 });
    const c = net.attach({ address: ip(198, 18, 0, 2), port: 3000 });
    expect(a.send(one([1], loc(ip(198, 18, 0, 2), 3000)))).toBe(1);
    const rx = new PacketBatch(4);
    expect(b.receive(rx)).toBe(0);
    expect(c.receive(rx)).toBe(1);
    expect(rx.src(0)).toEqual(loc(ip(198, 18, 0, 1), 1000));
    expect(rx.dst(0)).toEqual(loc(ip(198, 18, 0, 2), 3000));
    expect(rx.ifindex[0]).toBe(c.ifindex);
  });

  test("unknown destination → no-route; oversize → too-big", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1), mtu: 100 });
    net.attach({ address: ip(198, 18, 0, 2) });
    expect(a.send(one([1], loc(ip(198, 18, 0, 9))))).toBe(0);
    const big = new PacketBatch(1);
    big.push(new Uint8Array(101), 0, 101, undefined, loc(ip(198, 18, 0, 2)));
    expect(a.send(big)).toBe(0);
    expect(a.stats().drops).toEqual(new Map([["no-route", 1], ["too-big", 1]]));
    expect(a.stats().txPackets).toBe(0);
  });

  test("bounded queue drops queue-full at the receiver", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1) });
    const b = net.attach({ address: ip(198, 18, 0, 2), queue: 2 });
    for (let i = 0; i < 3; i++) a.send(one([i], loc(ip(198, 18, 0, 2))));
    expect(b.stats().drops.get("queue-full")).toBe(1);
    expect(b.stats().rxPackets).toBe(2);
    const rx = new PacketBatch(4);
    expect(b.receive(rx)).toBe(2);
    expect([rx.packet(0)[0], rx.packet(1)[0]]).toEqual([0, 1]);
  });

  test("broadcast stays on its segment and skips the sender", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1), segment: "x" });
    const b = net.attach({ address: ip(198, 18, 0, 2), segment: "x" });
    const c = net.attach({ address: ip(198, 18, 1, 2), segment: "y" });
    expect(a.send(one([7], loc(ip(255, 255, 255, 255)), BATCH_BROADCAST))).toBe(1);
    const rx = new PacketBatch(4);
    expect(a.receive(rx)).toBe(0);
    expect(c.receive(rx)).toBe(0);
    expect(b.receive(rx)).toBe(1);
    expect(rx.flags[0]).toBe(BATCH_BROADCAST);
    expect(rx.src(0).address).toEqual(ip(198, 18, 0, 1));
  });

  test("a packet too long for an empty batch is dropped, the next one kept", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1) });
    const b = net.attach({ address: ip(198, 18, 0, 2) });
    const big = new PacketBatch(1);
    big.push(new Uint8Array(300), 0, 300, undefined, loc(ip(198, 18, 0, 2)));
    a.send(big);
    a.send(one([5], loc(ip(198, 18, 0, 2))));
    const rx = new PacketBatch(4, 100);
    expect(b.receive(rx)).toBe(1);
    expect(rx.packet(0)[0]).toBe(5);
    expect(b.stats().drops.get("batch-too-small")).toBe(1);
  });

  test("source: ours when asked for, else the first address", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1) });
    net.addAddress(a, ip(198, 18, 5, 1));
    const b = net.attach({ address: ip(198, 18, 0, 2) });
    a.send(one([1], loc(ip(198, 18, 0, 2)), 0, loc(ip(198, 18, 5, 1))));
    a.send(one([2], loc(ip(198, 18, 0, 2)), 0, loc(ip(10, 0, 0, 1))));
    const rx = new PacketBatch(4);
    expect(b.receive(rx)).toBe(2);
    expect(rx.src(0).address).toEqual(ip(198, 18, 5, 1));
    expect(rx.src(1).address).toEqual(ip(198, 18, 0, 1));
  });

  test("address events wake wait() and change reachability", async () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1) });
    const b = net.attach({ address: ip(198, 18, 0, 2) });
    let woke = false;
    const w = b.wait().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    net.addAddress(b, ip(198, 18, 9, 9), 16);
    await w;
    expect(woke).toBe(true);
    const e = b.pollEvent();
    expect(e?.type).toBe("address-added");
    expect(e?.type === "address-added" && e.address.prefixLen).toBe(16);
    expect(a.send(one([1], loc(ip(198, 18, 9, 9))))).toBe(1);
    expect(net.removeAddress(b, ip(198, 18, 9, 9))).toBe(true);
    expect(net.removeAddress(b, ip(198, 18, 9, 9))).toBe(false);
    expect(b.pollEvent()?.type).toBe("address-removed");
    expect(b.pollEvent()).toBeUndefined();
    expect(a.send(one([1], loc(ip(198, 18, 9, 9))))).toBe(0);
  });

  test("duplicate address and bad options throw RangeError", () => {
    const net = new MemoryNetwork();
    net.attach({ address: ip(198, 18, 0, 1) });
    expect(() => net.attach({ address: ip(198, 18, 0, 1) })).toThrow(RangeError);
    expect(() => net.attach({ address: ip(1, 2, 3) })).toThrow(RangeError);
    expect(() => net.attach({ address: ip(1, 2, 3, 4), port: 70000 })).toThrow(RangeError);
    expect(() => net.attach({ address: ip(1, 2, 3, 4), mtu: 0 })).toThrow(RangeError);
  });

  test("close detaches: senders see no-route", async () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1) });
    const b = net.attach({ address: ip(198, 18, 0, 2) });
    await b.close();
    expect(b.closed).toBe(true);
    expect(a.send(one([1], loc(ip(198, 18, 0, 2))))).toBe(0);
    expect(a.stats().drops.get("no-route")).toBe(1);
    expect(b.send(one([1], loc(ip(198, 18, 0, 1))))).toBe(0);
    expect(b.stats().drops.get("closed")).toBe(1);
  });
});

describe("MemoryNetwork.setLink", () => {
  test("a down link neither sends nor receives, and events say so", () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: ip(198, 18, 0, 1) });
    const b = net.attach({ address: ip(198, 18, 0, 2) });
    net.setLink(b, false);
    net.setLink(b, false); // no second event
    expect(b.pollEvent()).toEqual({ type: "link-down", ifindex: b.ifindex, ifname: b.ifname });
    expect(b.pollEvent()).toBeUndefined();
    expect(a.send(one([1], loc(ip(198, 18, 0, 2))))).toBe(0);
    expect(a.stats().drops.get("no-route")).toBe(1);
    expect(a.send(one([1], loc(ip(255, 255, 255, 255)), BATCH_BROADCAST))).toBe(1);
    expect(b.receive(new PacketBatch(4))).toBe(0);
    expect(b.send(one([1], loc(ip(198, 18, 0, 1))))).toBe(0);
    expect(b.stats().drops.get("link-down")).toBe(1);
    net.setLink(b, true);
    expect(b.pollEvent()?.type).toBe("link-up");
    expect(a.send(one([2], loc(ip(198, 18, 0, 2))))).toBe(1);
    expect(b.receive(new PacketBatch(4))).toBe(1);
  });
});

import { afterEach, describe, expect, test } from "bun:test";
import { BATCH_BROADCAST, type Datapath, PacketBatch } from "@serval/datapath";
import { openUdpDatapath, type UdpBackend, type UdpDatapath } from "@serval/runtime";

const LO = new Uint8Array([127, 0, 0, 1]);
const opened: Datapath[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
});

async function open(opts: Parameters<typeof openUdpDatapath>[0] = {}): Promise<UdpDatapath> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, ...opts });
  opened.push(dp);
  return dp;
}

function batchOf(lens: number[], dst: { address: Uint8Array; port: number }, flags = 0, ifindex = 0): PacketBatch {
  const b = new PacketBatch(Math.max(1, lens.length), lens.reduce((x, y) => x + y, 0) + 1);
  lens.forEach((len, i) => b.push(new Uint8Array(len).fill(i + 1), 0, len, undefined, dst, ifindex, flags));
  return b;
}

/** Polls `cond` every few ms (the kernel delivers asynchronously) for at most `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

for (const backend of ["bun", "dgram"] as UdpBackend[]) {
  describe(`UdpDatapath (${backend})`, () => {
    test("reports kind, backend, bound port and the bound address only", async () => {
      const dp = await open({ backend });
      expect(dp.kind).toBe("udp");
      expect(dp.backend).toBe(backend);
      expect(dp.port).toBeGreaterThan(0);
      const las = dp.localAddresses();
      expect(las.length).toBe(1);
      expect([...las[0]!.address]).toEqual([127, 0, 0, 1]);
      expect(las[0]!.port).toBe(dp.port);
      expect(las[0]!.ifname).toBe("lo");
      expect(las[0]!.prefixLen).toBe(8);
    });

    test("a port in use fails with the address:port in the message", async () => {
      const a = await open({ backend });
      const err = await openUdpDatapath({ address: "127.0.0.1", port: a.port, backend }).then(
        (dp) => (opened.push(dp), undefined),
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toBe(`Cannot open UDP datapath on 127.0.0.1:${a.port}: the port is in use`);
    });

    test("an address that is not ours fails clearly", async () => {
      const err = await openUdpDatapath({ address: "203.0.113.254", port: 0, backend }).then(
        (dp) => (opened.push(dp), undefined),
        (e: Error) => e,
      );
      expect(err?.message).toBe("Cannot open UDP datapath on 203.0.113.254:0: the address is not one of this host's");
    });

    test("packets larger than maxPacket are dropped at the receiver", async () => {
      const a = await open({ backend });
      const b = await open({ backend, maxPacket: 100 });
      expect(a.send(batchOf([200, 50], { address: LO, port: b.port }))).toBe(2);
      const rx = new PacketBatch(4);
      expect(await until(() => (b.receive(rx), rx.count === 1 && b.stats().drops.get("too-big") === 1))).toBe(true);
      expect(rx.length[0]).toBe(50);
      expect(b.stats().rxPackets).toBe(1);
    });

    test("a full ring drops queue-full and keeps the oldest", async () => {
      const a = await open({ backend });
      const b = await open({ backend, queue: 4 });
      expect(a.send(batchOf([10, 11, 12, 13, 14, 15, 16, 17, 18, 19], { address: LO, port: b.port }))).toBe(10);
      expect(await until(() => b.stats().rxPackets + (b.stats().drops.get("queue-full") ?? 0) === 10)).toBe(true);
      expect(b.stats().drops.get("queue-full")).toBe(6);
      const rx = new PacketBatch(16);
      expect(b.receive(rx)).toBe(4);
      expect([0, 1, 2, 3].map((i) => rx.length[i])).toEqual([10, 11, 12, 13]);
    });

    test("a packet larger than an empty batch is dropped, not stuck", async () => {
      const a = await open({ backend });
      const b = await open({ backend });
      a.send(batchOf([500, 20], { address: LO, port: b.port }));
      const rx = new PacketBatch(4, 100);
      expect(await until(() => (b.receive(rx), rx.count === 1))).toBe(true);
      expect(rx.length[0]).toBe(20);
      expect(b.stats().drops.get("batch-too-small")).toBe(1);
    });

    test("our own datagrams (looped-back broadcasts) are dropped", async () => {
      const a = await open({ backend });
      expect(a.send(batchOf([30], { address: LO, port: a.port }))).toBe(1);
      expect(await until(() => a.stats().drops.get("looped-back") === 1)).toBe(true);
      expect(a.receive(new PacketBatch(4))).toBe(0);
    });

    test("broadcast: refused when disabled, or when the interface has none", async () => {
      const off = await open({ backend, broadcast: false });
      expect(off.send(batchOf([10], { address: new Uint8Array(4).fill(255), port: 9 }, BATCH_BROADCAST))).toBe(0);
      expect(off.stats().drops.get("no-broadcast")).toBe(1);
      const on = await open({ backend });
      // Bound to 127.0.0.1 (loopback, no broadcast) and asked for that interface: nothing may leave.
      const lo = on.localAddresses()[0]!.ifindex;
      expect(on.send(batchOf([10], { address: new Uint8Array(4).fill(255), port: 9 }, BATCH_BROADCAST, lo))).toBe(0);
      expect(on.stats().drops.get("no-interface")).toBe(1);
      expect(on.send(batchOf([10], { address: new Uint8Array(4).fill(255), port: 9 }, BATCH_BROADCAST, 0))).toBe(0);
      expect(on.stats().drops.get("no-interface")).toBe(2);
      expect(on.stats().txPackets).toBe(0);
    });

    test("IPv6 destinations are dropped no-ipv6", async () => {
      const a = await open({ backend });
      const b = new PacketBatch(1);
      b.push(new Uint8Array(5), 0, 5, undefined, { address: new Uint8Array(16), port: 9 });
      expect(a.send(b)).toBe(0);
      expect(a.stats().drops.get("no-ipv6")).toBe(1);
    });

    test("bound to 0.0.0.0: destination is the local address of the source's subnet", async () => {
      const w = await open({ backend, address: "0.0.0.0" });
      expect(w.localAddresses().some((la) => la.address.join(".") === "127.0.0.1" && la.port === w.port)).toBe(true);
      const a = await open({ backend });
      a.send(batchOf([12], { address: LO, port: w.port }));
      const rx = new PacketBatch(4);
      expect(await until(() => (w.receive(rx), rx.count === 1))).toBe(true);
      expect([...rx.dst(0).address]).toEqual([127, 0, 0, 1]);
      expect(rx.dst(0).port).toBe(w.port);
      expect(rx.src(0).port).toBe(a.port);
      expect(rx.ifindex[0]).toBe(w.localAddresses().find((la) => la.ifname === "lo")!.ifindex);
    });

    test("refresh() with unchanged interfaces queues no event", async () => {
      const dp = await open({ backend });
      dp.refresh();
      expect(dp.pollEvent()).toBeUndefined();
    });
  });
}

describe("openUdpDatapath options", () => {
  test("IPv4 only: an IPv6 address is refused", async () => {
    await expect(openUdpDatapath({ address: "::1", port: 0 })).rejects.toThrow("Cannot open UDP datapath on [::1]:0: IPv6 is not supported yet");
  });
  test("bad address, port and maxPacket", async () => {
    await expect(openUdpDatapath({ address: "localhost", port: 0 })).rejects.toThrow('"localhost" is not an IPv4 address');
    await expect(openUdpDatapath({ address: "127.0.0.1", port: 70000 })).rejects.toThrow(RangeError);
    await expect(openUdpDatapath({ address: "127.0.0.1", port: 0, maxPacket: 70000 })).rejects.toThrow(RangeError);
  });
});

/**
 * The packet datapath's wake-up path under a busy driver (root only; skipped
 * with a notice otherwise): `wait()` shares one armed poll instead of
 * re-arming the Worker per call, rtnetlink is read only when the Worker saw
 * it readable (or once a millisecond), and a Serval TCP stream between two
 * nodes over it stays byte-exact on both ring kinds.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { PacketBatch } from "@serval/datapath";
import type { DatapathEvent } from "@serval/datapath";
import { ServalApi, ServalNode } from "@serval/runtime";
import { formatIp, parseIpv4, ServicePrefix } from "@serval/wire";
import { leftovers, pair, skipUnlessRoot } from "../../test/e2e/netns.ts";
import { openPacketDatapath } from "./packet_datapath.ts";
import type { PacketDatapath } from "./packet_datapath.ts";

const skip = skipUnlessRoot("packet datapath wake-ups");

/** `p`, or a rejection after `ms` (bounded waits, no sleeps). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`Timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function eventUntil(dp: PacketDatapath, pred: (e: DatapathEvent) => boolean, ms: number): Promise<DatapathEvent | undefined> {
  const deadline = performance.now() + ms;
  for (;;) {
    for (let e = dp.pollEvent(); e !== undefined; e = dp.pollEvent()) if (pred(e)) return e;
    if (performance.now() >= deadline) return undefined;
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([dp.wait(), new Promise<void>((r) => (t = setTimeout(r, Math.max(1, deadline - performance.now()))))]);
    clearTimeout(t);
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe.skipIf(skip)("packet datapath wake-ups", () => {
  test("wait() while armed returns the pending promise; a packet or close resolves it", async () => {
    const t = pair();
    const { a, b } = t.hosts;
    const dps: PacketDatapath[] = [];
    try {
      const da = await openPacketDatapath({ netns: a.ns.name, ringVersion: 2 });
      dps.push(da);
      const db = await openPacketDatapath({ netns: b.ns.name, ringVersion: 2 });
      dps.push(db);
      const w1 = db.wait();
      const w2 = db.wait();
      expect(w2).toBe(w1);
      const tx = new PacketBatch(1);
      const pkt = new Uint8Array(40).map((_, i) => i);
      tx.push(pkt, 0, pkt.length, undefined, { address: parseIpv4(b.address), port: 0 });
      expect(da.send(tx)).toBe(1);
      await within(w1, 3000, "the shared wait() to resolve on a packet");
      const rx = new PacketBatch(4);
      // The first packet may wait for the kernel's neighbour resolution: wait on, bounded.
      const deadline = performance.now() + 3000;
      while (db.receive(rx) === 0 && performance.now() < deadline) await within(db.wait(), 3000, "a packet");
      expect(rx.count).toBe(1);
      expect([...rx.packet(0)]).toEqual([...pkt]);
      // A new wait() after the packet was consumed arms again (a new promise), and close() resolves it.
      const w3 = db.wait();
      expect(w3).not.toBe(w1);
      await db.close();
      await within(w3, 3000, "close() to resolve the pending wait()");
    } finally {
      for (const d of dps) await d.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("address events arrive though rtnetlink is read only when the Worker saw it readable", async () => {
    const t = pair();
    const { a } = t.hosts;
    let da: PacketDatapath | undefined;
    try {
      da = await openPacketDatapath({ netns: a.ns.name });
      // A busy driver: many wait()/pollEvent() calls that find nothing.
      for (let i = 0; i < 1000; i++) expect(da.pollEvent()).toBeUndefined();
      const extra = a.address.replace(/\.1$/, ".78");
      a.ns.ip(["addr", "add", `${extra}/24`, "dev", a.ifname]);
      const added = await eventUntil(da, (e) => e.type === "address-added", 3000);
      expect(added?.type === "address-added" ? formatIp(added.address.address) : "").toBe(extra);
      a.ns.ip(["addr", "del", `${extra}/24`, "dev", a.ifname]);
      expect((await eventUntil(da, (e) => e.type === "address-removed", 3000))?.type).toBe("address-removed");
    } finally {
      await da?.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  for (const ringVersion of [2, 3] as const) {
    test(`Serval TCP between two nodes moves 8 MB byte-exact (TPACKET_V${ringVersion}); no drops`, async () => {
      const t = pair();
      const { a, b } = t.hosts;
      const nodes: ServalNode[] = [];
      try {
        const na = await ServalNode.start({
          role: "host",
          datapath: await openPacketDatapath({ netns: a.ns.name, ringVersion }),
          mtu: 1480,
          control: { discover: false },
        });
        nodes.push(na);
        const nb = await ServalNode.start({
          role: "host",
          datapath: await openPacketDatapath({ netns: b.ns.name, ringVersion }),
          mtu: 1480,
          control: { discover: false },
        });
        nodes.push(nb);
        const listener = new ServalApi(nb).listen("sink.example");
        na.host.serviceTable.addTarget(ServicePrefix.parse("sink.example"), {
          type: "forward",
          locator: { address: parseIpv4(b.address), port: 0 },
        });
        const data = new Uint8Array(8 << 20).map((_, i) => (i * 131 + (i >>> 11)) & 255);
        const received = (async () => {
          const c = await listener.accept();
          const parts: Uint8Array[] = [];
          for await (const x of c.readable) parts.push(x);
          const got = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let o = 0;
          for (const p of parts) {
            got.set(p, o);
            o += p.length;
          }
          await c.close();
          return got;
        })();
        const c = await within(new ServalApi(na).connect("sink.example"), 5000, "connect");
        const w = c.writable.getWriter();
        for (let o = 0; o < data.length; o += 256 << 10) await w.write(data.subarray(o, o + (256 << 10)));
        await w.close();
        const got = await within(received, 30_000, "8 MB to arrive");
        expect(got.length).toBe(data.length);
        expect(sha(got)).toBe(sha(data));
        for (const n of nodes) {
          expect([...n.host.drops.entries()].filter(([r]) => r !== "unknown-flow")).toEqual([]);
          expect([...n.datapath.stats().drops.entries()]).toEqual([]);
        }
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
        t.close();
      }
      expect(leftovers()).toEqual([]);
    }, 60_000);
  }
});

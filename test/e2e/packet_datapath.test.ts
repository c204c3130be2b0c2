/**
 * The packet datapath (`@serval/datapath-ffi`) between network namespaces:
 * one datapath per namespace in this process (sockets opened with setns),
 * over a veth pair, through a kernel IP router, and on a bridged LAN.
 * Root only; skipped with a notice otherwise.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { BATCH_BROADCAST, PacketBatch } from "@serval/datapath";
import type { Datapath, DatapathEvent } from "@serval/datapath";
import { inNetns, openPacketDatapath } from "@serval/datapath-ffi";
import type { PacketDatapath } from "@serval/datapath-ffi";
import { emitSal, formatIp, parseIpv4, ServiceId } from "@serval/wire";
import { capture, lan, leftovers, pair, python3, routed, skipUnlessRoot } from "./netns.ts";
import type { Host } from "./netns.ts";

const WAIT_MS = 3000;

/** A real SAL header (SERVICE extension) followed by `extra` tagged bytes. */
function salPacket(tag: number, extra = 16): Uint8Array {
  const buf = new Uint8Array(256);
  const n = emitSal({ srcFlowId: 0x1000 + tag, dstFlowId: 0, protocol: 17, services: [ServiceId.fromNumber(16385 + tag)] }, buf, 0);
  for (let i = 0; i < extra; i++) buf[n + i] = (tag + i) & 255;
  return buf.slice(0, n + extra);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** Receives until `n` packets or the deadline (bounded). */
async function receiveUntil(dp: Datapath, rx: PacketBatch, n: number, ms = WAIT_MS): Promise<number> {
  const deadline = performance.now() + ms;
  dp.receive(rx);
  while (rx.count < n && performance.now() < deadline) {
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([dp.wait(), new Promise<void>((r) => (t = setTimeout(r, Math.max(1, deadline - performance.now()))))]);
    clearTimeout(t);
    dp.receive(rx);
  }
  return rx.count;
}

/** Waits for an event matching `pred` (bounded). */
async function eventUntil(dp: Datapath, pred: (e: DatapathEvent) => boolean, ms = WAIT_MS): Promise<DatapathEvent | undefined> {
  const deadline = performance.now() + ms;
  for (;;) {
    for (let e = dp.pollEvent(); e !== undefined; e = dp.pollEvent()) if (pred(e)) return e;
    if (performance.now() >= deadline) return undefined;
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([dp.wait(), new Promise<void>((r) => (t = setTimeout(r, Math.max(1, deadline - performance.now()))))]);
    clearTimeout(t);
  }
}

function sendTo(dp: Datapath, to: string, bytes: Uint8Array, flags = 0, ifindex = 0): number {
  const tx = new PacketBatch(1);
  tx.push(bytes, 0, bytes.length, undefined, { address: parseIpv4(to), port: 0 }, ifindex, flags);
  return dp.send(tx);
}

function open(h: Host): Promise<PacketDatapath> {
  return openPacketDatapath({ netns: h.ns.name });
}

/**
 * Open sockets and anonymous-inode fds (eventfd, epoll) of this process: the
 * kinds the datapath opens. Pipes are left out: earlier tests' child processes
 * close theirs at unpredictable times.
 */
const fdCount = () =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return /^(socket|anon_inode):/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false; // closed meanwhile (the directory's own fd, say)
    }
  }).length;
/** Shared mappings of sockets: the packet rings. */
const ringMaps = () => readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => / rw-s .*socket:\[/.test(l)).length;
const threadCount = () => readdirSync("/proc/self/task").length;

describe.skipIf(skipUnlessRoot("packet datapath"))("packet datapath", () => {
  test("veth pair: SAL packets both ways with locators, a managed neighbour, no ICMP", async () => {
    const t = pair();
    const { a, b } = t.hosts;
    const dps: PacketDatapath[] = [];
    try {
      const da = await open(a);
      dps.push(da);
      const db = await open(b);
      dps.push(db);
      expect(da.localAddresses().map((x) => formatIp(x.address))).toEqual([a.address]);
      expect(da.localAddresses()[0]!.ifindex).toBe(a.ifindex);
      expect(da.localAddresses()[0]!.prefixLen).toBe(24);
      const icmp = await capture(b, "icmp", async () => {
        for (const [from, to, fromH, toH, tag] of [[da, db, a, b, 1], [db, da, b, a, 2]] as const) {
          const pkt = salPacket(tag);
          // The first packet finds no neighbour: it waits in the queue until the kernel resolved it.
          expect(sendTo(from, toH.address, pkt)).toBe(1);
          const rx = new PacketBatch(16);
          expect(await receiveUntil(to, rx, 1)).toBe(1);
          expect(hex(rx.packet(0))).toBe(hex(pkt));
          expect(formatIp(rx.src(0).address)).toBe(fromH.address);
          expect(formatIp(rx.dst(0).address)).toBe(toH.address);
          expect([rx.family[0], rx.ifindex[0], rx.flags[0]! & BATCH_BROADCAST]).toEqual([4, toH.ifindex, 0]);
        }
        // A burst of 64 after resolution: complete and in order.
        const tx = new PacketBatch(64);
        for (let i = 0; i < 64; i++) {
          const p = salPacket(i, 100 + i);
          tx.push(p, 0, p.length, undefined, { address: parseIpv4(b.address), port: 0 });
        }
        expect(da.send(tx)).toBe(64);
        const rx = new PacketBatch(64);
        expect(await receiveUntil(db, rx, 64)).toBe(64);
        for (let i = 0; i < 64; i++) expect(hex(rx.packet(i))).toBe(hex(salPacket(i, 100 + i)));
      });
      expect(icmp).toEqual([]);
      // The kernel resolved the next hop through a managed entry we asked for.
      expect(a.ns.ip(["neigh", "show", b.address]).stdout).toContain("managed");
      expect(da.stats().txPackets).toBe(65);
      expect(db.stats().rxPackets).toBe(65);
      expect(db.stats().drops.size).toBe(0);
      // Control: without b's datapath (and its raw protocol-144 socket) the kernel does answer
      // with protocol-unreachable, so the empty capture above was not an accident of tcpdump.
      await db.close();
      const control = await capture(b, "icmp", async () => {
        expect(sendTo(da, b.address, salPacket(5))).toBe(1);
      }, { quietMs: 100 });
      expect(control.some((l) => l.includes("protocol 144 unreachable"))).toBe(true);
    } finally {
      for (const d of dps) await d.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("through a kernel IP router: delivered with TTL 63, router forwards, nobody sends ICMP", async () => {
    const t = routed();
    const { a, b } = t.hosts;
    const r = t.routers.r;
    const dps: PacketDatapath[] = [];
    try {
      const da = await open(a);
      dps.push(da);
      const db = await open(b);
      dps.push(db);
      const fwd0 = Number(r.ns.exec(["cat", "/proc/net/snmp"]).stdout.split("\n").filter((l) => l.startsWith("Ip:"))[1]!.split(" ")[6]);
      const seen = await capture(b, "ip proto 144", async () => {
        const icmp = await capture(r, "icmp", async () => {
          for (const [from, to, fromH, toH, tag] of [[da, db, a, b, 3], [db, da, b, a, 4]] as const) {
            const pkt = salPacket(tag, 200);
            expect(sendTo(from, toH.address, pkt)).toBe(1);
            const rx = new PacketBatch(8);
            expect(await receiveUntil(to, rx, 1)).toBe(1);
            expect(hex(rx.packet(0))).toBe(hex(pkt));
            expect(formatIp(rx.src(0).address)).toBe(fromH.address);
            expect(formatIp(rx.dst(0).address)).toBe(toH.address);
          }
        });
        expect(icmp).toEqual([]);
      }, { args: ["-v"] });
      // tcpdump -v shows the IP header b received: TTL 64 minus the router's hop.
      const inbound = seen.filter((l) => l.includes("In ") && l.includes("ttl"));
      expect(inbound.length).toBeGreaterThanOrEqual(1);
      for (const l of inbound) expect(l).toContain("ttl 63");
      const fwd1 = Number(r.ns.exec(["cat", "/proc/net/snmp"]).stdout.split("\n").filter((l) => l.startsWith("Ip:"))[1]!.split(" ")[6]);
      expect(fwd1 - fwd0).toBeGreaterThanOrEqual(2); // Ip: ForwDatagrams
      // The router answered ARP for the gateway; a's neighbour is the router, not b.
      expect(a.ns.ip(["neigh", "show", r.ifaces[0].address]).stdout).toContain(r.ifaces[0].mac);
    } finally {
      for (const d of dps) await d.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  for (const ringVersion of [3, 2] as const) {
    test(`forward() routes between subnets with kernel forwarding off (TPACKET_V${ringVersion})`, async () => {
      const t = routed();
      const { a, b } = t.hosts;
      const r = t.routers.r;
      const dps: PacketDatapath[] = [];
      let running = true;
      let loop: Promise<void> | undefined;
      try {
        r.ns.setForwarding(false);
        const da = await openPacketDatapath({ netns: a.ns.name, ringVersion });
        dps.push(da);
        const db = await openPacketDatapath({ netns: b.ns.name, ringVersion });
        dps.push(db);
        const dr = await openPacketDatapath({ netns: r.ns.name, ringVersion });
        dps.push(dr);
        loop = (async () => {
          while (running) {
            if (dr.forward() > 0) continue;
            let tm: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([dr.wait(), new Promise<void>((res) => (tm = setTimeout(res, 20)))]);
            clearTimeout(tm);
          }
        })();
        const snmp = () => Number(r.ns.exec(["cat", "/proc/net/snmp"]).stdout.split("\n").filter((l) => l.startsWith("Ip:"))[1]!.split(" ")[6]);
        const fwd0 = snmp();
        const seen = await capture(b, "ip proto 144", async () => {
          const tx = new PacketBatch(10);
          for (let i = 0; i < 10; i++) {
            const p = salPacket(i, 50);
            tx.push(p, 0, p.length, undefined, { address: parseIpv4(b.address), port: 0 });
          }
          expect(da.send(tx)).toBe(10);
          const rx = new PacketBatch(16);
          // forward() drops (and counts) packets while the router's kernel resolves b's MAC:
          // send the batch once more if the first one did not arrive whole.
          let got = await receiveUntil(db, rx, 10, 1000);
          if (got < 10) {
            rx.clear();
            expect(da.send(tx)).toBe(10);
            got = await receiveUntil(db, rx, 10);
          }
          expect(got).toBe(10);
          for (let i = 0; i < 10; i++) {
            expect(hex(rx.packet(i))).toBe(hex(salPacket(i, 50)));
            expect(formatIp(rx.src(i).address)).toBe(a.address);
          }
        }, { args: ["-v"] });
        // tcpdump may miss the tail of a burst when it is stopped: check what it saw.
        const inbound = seen.filter((l) => l.includes("In ") && l.includes("ttl"));
        expect(inbound.length).toBeGreaterThanOrEqual(1);
        for (const l of inbound) expect(l).toContain("ttl 63");
        expect(dr.stats().txPackets).toBeGreaterThanOrEqual(10);
        expect(snmp()).toBe(fwd0); // the kernel forwarded nothing: our loop did
      } finally {
        running = false;
        await loop;
        for (const d of dps) await d.close();
        t.close();
      }
      expect(leftovers()).toEqual([]);
    });
  }

  test("broadcast reaches every LAN host flagged BATCH_BROADCAST, not the host behind the router", async () => {
    const t = lan(3, { behindRouter: true });
    const dps: PacketDatapath[] = [];
    try {
      const [h0, h1, h2] = t.members as [Host, Host, Host];
      const d0 = await open(h0);
      dps.push(d0);
      const d1 = await open(h1);
      dps.push(d1);
      const d2 = await open(h2);
      dps.push(d2);
      const far = await open(t.far!);
      dps.push(far);
      const pkt = salPacket(9, 30);
      expect(sendTo(d0, "255.255.255.255", pkt, BATCH_BROADCAST)).toBe(1);
      for (const d of [d1, d2]) {
        const rx = new PacketBatch(8);
        expect(await receiveUntil(d, rx, 1)).toBe(1);
        expect(hex(rx.packet(0))).toBe(hex(pkt));
        expect(rx.flags[0]! & BATCH_BROADCAST).toBe(BATCH_BROADCAST);
        expect(formatIp(rx.src(0).address)).toBe(h0.address);
        expect(formatIp(rx.dst(0).address)).toBe(h0.broadcast);
      }
      // The far host hears nothing (bounded wait; a unicast afterwards proves its datapath works).
      const rxFar = new PacketBatch(8);
      expect(await receiveUntil(far, rxFar, 1, 300)).toBe(0);
      expect(sendTo(d0, t.far!.address, pkt)).toBe(1);
      expect(await receiveUntil(far, rxFar, 1)).toBe(1);
      expect(rxFar.flags[0]! & BATCH_BROADCAST).toBe(0);
    } finally {
      for (const d of dps) await d.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("address and link changes arrive as events; localAddresses() follows", async () => {
    const t = pair();
    const { a } = t.hosts;
    let da: PacketDatapath | undefined;
    try {
      da = await open(a);
      const extra = a.address.replace(/\.1$/, ".77");
      a.ns.ip(["addr", "add", `${extra}/24`, "dev", a.ifname]);
      const added = await eventUntil(da, (e) => e.type === "address-added");
      expect(added?.type === "address-added" ? formatIp(added.address.address) : "").toBe(extra);
      expect(da.localAddresses().map((x) => formatIp(x.address))).toContain(extra);
      a.ns.ip(["addr", "del", `${extra}/24`, "dev", a.ifname]);
      const removed = await eventUntil(da, (e) => e.type === "address-removed");
      expect(removed?.type === "address-removed" ? formatIp(removed.address.address) : "").toBe(extra);
      expect(da.localAddresses().map((x) => formatIp(x.address))).not.toContain(extra);
      a.ns.ip(["link", "set", a.ifname, "down"]);
      expect(await eventUntil(da, (e) => e.type === "link-down")).toEqual({ type: "link-down", ifindex: a.ifindex, ifname: a.ifname });
      a.ns.ip(["link", "set", a.ifname, "up"]);
      expect(await eventUntil(da, (e) => e.type === "link-up")).toEqual({ type: "link-up", ifindex: a.ifindex, ifname: a.ifname });
    } finally {
      await da?.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("bad IP headers are dropped and counted by reason; other protocols are ignored", async () => {
    const t = pair();
    const { a, b } = t.hosts;
    let db: PacketDatapath | undefined;
    try {
      db = await open(b);
      // Frames written by hand from a raw packet socket in a (python3): bad checksum, bad length, UDP.
      const script = `
import socket, struct, sys
def csum(h):
    s = sum(struct.unpack("!10H", h))
    s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
dst = bytes.fromhex(sys.argv[2].replace(":", "")); src = bytes.fromhex(sys.argv[3].replace(":", ""))
sa = socket.inet_aton(sys.argv[4]); da = socket.inet_aton(sys.argv[5])
def ip(total, proto, bad):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, proto, 0, sa, da)
    c = csum(h) ^ (1 if bad else 0)
    return h[:10] + struct.pack("!H", c) + h[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
eth = dst + src + b"\\x08\\x00"
s.send(eth + ip(40, 144, True) + bytes(20))
s.send(eth + ip(400, 144, False) + bytes(20))
s.send(eth + ip(40, 17, False) + bytes(20))
`;
      a.ns.exec([python3(), "-c", script, a.ifname, b.mac, a.mac, a.address, b.address]);
      const deadline = performance.now() + WAIT_MS;
      const drops = () => db!.stats().drops;
      while ((drops().get("bad-ip-checksum") ?? 0) + (drops().get("bad-ip-length") ?? 0) < 2 && performance.now() < deadline) {
        let tm: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([db.wait(), new Promise<void>((r) => (tm = setTimeout(r, 50)))]);
        clearTimeout(tm);
        db.receive(new PacketBatch(8));
      }
      expect(drops().get("bad-ip-checksum")).toBe(1);
      expect(drops().get("bad-ip-length")).toBe(1);
      expect(db.stats().rxPackets).toBe(0);
      expect(drops().size).toBe(2);
    } finally {
      await db?.close();
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("close() resolves a pending wait, is idempotent, and leaves no fds, rings or worker", async () => {
    const t = pair();
    try {
      // Bun starts a few helper threads with the first Worker of the process and keeps them:
      // measure threads after one open/close cycle, then check that more cycles add none.
      await (await open(t.hosts.a)).close();
      const fds0 = fdCount();
      const threads0 = threadCount();
      const maps0 = ringMaps();
      for (let cycle = 0; cycle < 3; cycle++) {
        const dp = await open(t.hosts.a);
        expect(fdCount()).toBeGreaterThan(fds0);
        expect(ringMaps()).toBe(maps0 + 1);
        const w = dp.wait();
        let settled = false;
        void w.then(() => (settled = true));
        await Promise.all([dp.close(), dp.close()]);
        await w;
        expect(settled).toBe(true);
        expect(dp.receive(new PacketBatch(4))).toBe(0);
        expect(sendTo(dp, t.hosts.b.address, salPacket(1))).toBe(0);
        expect(fdCount()).toBe(fds0);
        expect(ringMaps()).toBe(maps0);
      }
      // A Worker's thread exits shortly after terminate(): bounded polling.
      const deadline = performance.now() + WAIT_MS;
      while (threadCount() > threads0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(threadCount()).toBeLessThanOrEqual(threads0);
    } finally {
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("inNetns() runs a function inside the namespace and returns to the original one", () => {
    const t = pair();
    try {
      const before = readFileSync("/proc/thread-self/net/dev", "utf8");
      const inside = inNetns(t.hosts.a.ns.name, () => readFileSync("/proc/thread-self/net/dev", "utf8"));
      expect(inside).toContain(`${t.hosts.a.ifname}:`);
      expect(before).not.toContain(`${t.hosts.a.ifname}:`);
      expect(() => inNetns(t.hosts.a.ns.name, () => {
        throw new Error("boom");
      })).toThrow("boom");
      expect(readFileSync("/proc/thread-self/net/dev", "utf8")).not.toContain(`${t.hosts.a.ifname}:`);
    } finally {
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });

  test("opening fails with a clear PacketDatapathError for a missing interface or namespace", async () => {
    const t = pair();
    try {
      const fds0 = fdCount();
      await expect(openPacketDatapath({ netns: t.hosts.a.ns.name, interfaces: ["nope0"] })).rejects.toThrow(/no such interface/);
      await expect(openPacketDatapath({ netns: `${t.id}-missing` })).rejects.toThrow(/Cannot open network namespace/);
      expect(fdCount()).toBe(fds0);
    } finally {
      t.close();
    }
    expect(leftovers()).toEqual([]);
  });
});

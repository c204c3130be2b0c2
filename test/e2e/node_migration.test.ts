/**
 * Flow migration over the packet datapath in network namespaces (root only):
 * a client's address changes under a running stream (`ip addr add` the new
 * one, `ip addr del` the old one); the node learns both from netlink,
 * migrates the flow by RSYN, and the transfer arrives byte-exact. A server
 * whose address changes has its lease at the router follow at once.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { openPacketDatapath } from "@serval/datapath-ffi";
import { ServalApi, ServalNode } from "@serval/runtime";
import { formatIpv4, type Locator } from "@serval/wire";
import { lan, leftovers, skipUnlessRoot } from "./netns.ts";
import type { LanTopology } from "./netns.ts";

const skip = skipUnlessRoot("flow migration over the packet datapath");

async function start(t: LanTopology, h: string, role: "host" | "router", nodes: ServalNode[], routers: Locator[] = []): Promise<ServalNode> {
  const host = t.hosts[h]!;
  const dp = await openPacketDatapath({ netns: host.ns.name, interfaces: [host.ifname], ringVersion: 2 });
  const n = await ServalNode.start({ role, datapath: dp, mtu: 1480, control: { routers } });
  nodes.push(n);
  return n;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const v4 = (text: string): Locator => ({ address: new Uint8Array(text.split(".").map(Number)), port: 0 });
/** The same /24 as `addr`, host part `n`. */
const sibling = (addr: string, n: number) => addr.replace(/\.\d+$/, `.${n}`);

/** A router (h0), a server sending `size` bytes on blob.test (h1), a client (h2). */
async function world(t: LanTopology, nodes: ServalNode[], size: number) {
  // Deleting an interface's primary address deletes its secondaries unless they are promoted.
  for (const h of ["h1", "h2"]) t.hosts[h]!.ns.sysctl({ "net.ipv4.conf.all.promote_secondaries": "1", [`net.ipv4.conf.${t.hosts[h]!.ifname}.promote_secondaries`]: "1" });
  const r = [v4(t.hosts.h0!.address)];
  const router = await start(t, "h0", "router", nodes);
  const server = await start(t, "h1", "host", nodes, r);
  const client = await start(t, "h2", "host", nodes, r);
  const data = new Uint8Array(size).map((_, i) => (i * 131 + (i >> 9)) & 255);
  const listener = new ServalApi(server).listen("blob.test");
  const served = (async () => {
    const c = await listener.accept();
    const w = c.writable.getWriter();
    w.write(data).then(() => w.close()).catch(() => {});
    return c;
  })();
  await until(() => router.agent.leases!.size === 1, 5000, "the lease at the router");
  return { router, server, client, data, served };
}

describe.skipIf(skip)("flow migration over the packet datapath (namespaces)", () => {
  test("the client's address changes mid-transfer (ip addr add new, ip addr del old): 8 MB arrive byte-exact over the new address", async () => {
    const t = lan(3);
    const nodes: ServalNode[] = [];
    try {
      const w = await world(t, nodes, 8 << 20);
      const h2 = t.hosts.h2!;
      const oldAddr = h2.address;
      const newAddr = sibling(oldAddr, 77);
      const c = await new ServalApi(w.client).connect("blob.test");
      const sc = await w.served;
      const migrated: string[] = [];
      w.client.onEvent((e) => {
        if (e.type === "migrated" && e.flow === c.flow && e.local) migrated.push(formatIpv4(e.local.address));
      });
      const got = new Uint8Array(w.data.length);
      let n = 0;
      let moved = false;
      for await (const x of c.readable) {
        got.set(x, n);
        n += x.length;
        if (!moved && n >= w.data.length / 2) {
          moved = true;
          h2.ns.ip(["addr", "add", `${newAddr}/24`, "dev", h2.ifname]);
          h2.ns.ip(["addr", "del", `${oldAddr}/24`, "dev", h2.ifname]);
        }
      }
      expect(n).toBe(w.data.length);
      expect(sha(got)).toBe(sha(w.data));
      expect(migrated).toContain(newAddr);
      expect(w.client.locals.map((l) => formatIpv4(l.address))).toEqual([newAddr]);
      expect(formatIpv4(w.server.host.flowState(sc.flow)!.peer!.address)).toBe(newAddr);
      await c.writable.close();
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      t.close();
    }
    expect(leftovers()).toEqual([]);
  }, 60_000);

  test("the server's address changes: its lease at the router moves at once and new connects reach the new address", async () => {
    const t = lan(3);
    const nodes: ServalNode[] = [];
    try {
      const w = await world(t, nodes, 1024);
      const h1 = t.hosts.h1!;
      const newAddr = sibling(h1.address, 88);
      h1.ns.ip(["addr", "add", `${newAddr}/24`, "dev", h1.ifname]);
      h1.ns.ip(["addr", "del", `${h1.address}/24`, "dev", h1.ifname]);
      const leases = () => w.router.agent.leases!.leases().map((l) => formatIpv4(l.locator.address));
      await until(() => leases().length === 1 && leases()[0] === newAddr, 3000, "the lease to move");
      const c = await new ServalApi(w.client).connect("blob.test");
      expect(formatIpv4(w.client.host.flowState(c.flow)!.peer!.address)).toBe(newAddr);
      c.abort();
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      t.close();
    }
    expect(leftovers()).toEqual([]);
  }, 60_000);
});

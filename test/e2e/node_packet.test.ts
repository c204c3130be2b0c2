/**
 * Whole nodes over the packet datapath in network namespaces (root only):
 * Serval hosts, routers and ad hoc nodes, each with its own AF_PACKET
 * datapath opened inside its namespace, in this one test process.
 *
 * - ad hoc: two hosts on a bridge, no router: a connect by serviceID goes out
 *   as a DELAY question by real broadcast, the answer installs a rule, and the
 *   stream carries 1 MB byte-exact;
 * - a router and two replicas on a LAN: the replicas find the router by
 *   broadcast solicitation, register, and a client's connects are spread
 *   over both; a replica's listener closes and its lease goes at once.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { openPacketDatapath } from "@serval/datapath-ffi";
import { ServalApi, ServalNode } from "@serval/runtime";
import { formatIpv4 } from "@serval/wire";
import { lan, skipUnlessRoot } from "./netns.ts";
import type { LanTopology } from "./netns.ts";

const skip = skipUnlessRoot("nodes over the packet datapath");

/** Starts a node of `role` in host `h`'s namespace over a TPACKET_V2 datapath (per-packet wake-ups: request/response traffic). */
async function start(t: LanTopology, h: string, role: "host" | "router" | "adhoc", nodes: ServalNode[]): Promise<ServalNode> {
  const host = t.hosts[h]!;
  const dp = await openPacketDatapath({ netns: host.ns.name, interfaces: [host.ifname], ringVersion: 2 });
  const n = await ServalNode.start({ role, datapath: dp, mtu: 1480 });
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

describe.skipIf(skip)("nodes over the packet datapath (namespaces)", () => {
  test("ad hoc: two hosts and no router connect by serviceID (broadcast solicitation) and move 1 MB byte-exact", async () => {
    const t = lan(2);
    const nodes: ServalNode[] = [];
    try {
      const a = await start(t, "h0", "adhoc", nodes);
      const b = await start(t, "h1", "adhoc", nodes);
      const server = new ServalApi(b).listen("files.example");
      const data = new Uint8Array(1 << 20).map((_, i) => (i * 7 + 3) & 255);
      const served = (async () => {
        const c = await server.accept();
        const w = c.writable.getWriter();
        await w.write(data);
        await w.close();
        return c.closed;
      })();
      const t0 = performance.now();
      const c = await new ServalApi(a).connect("files.example");
      const connectMs = performance.now() - t0;
      const parts: Uint8Array[] = [];
      for await (const x of c.readable) parts.push(x);
      const got = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        got.set(p, o);
        o += p.length;
      }
      await c.writable.close();
      expect(got.length).toBe(data.length);
      expect(sha(got)).toBe(sha(data));
      expect(await served).toBe("normal");
      expect(a.agent.resolver!.learnedCount).toBe(1);
      console.log(`[e2e] ad hoc connect over AF_PACKET: ${connectMs.toFixed(1)} ms (solicit + advertise + handshake)`);
      for (const n of nodes) expect([...n.host.drops.entries()].filter(([r]) => r !== "unknown-flow")).toEqual([]);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      t.close();
    }
  }, 30_000);

  test("a router and two replicas on a LAN: discovery by broadcast, registration, connects spread, unlisten withdraws at once", async () => {
    const t = lan(4);
    const nodes: ServalNode[] = [];
    try {
      const router = await start(t, "h0", "router", nodes);
      const r1 = await start(t, "h1", "host", nodes);
      const r2 = await start(t, "h2", "host", nodes);
      const client = await start(t, "h3", "host", nodes);
      const listeners = [r1, r2].map((n) => {
        const l = new ServalApi(n).listen("echo.example");
        (async () => {
          for await (const c of l) c.readable.pipeTo(c.writable).catch(() => {});
        })();
        return l;
      });
      await until(() => router.agent.leases!.size === 2, 5000, "two leases at the router");
      await until(() => client.agent.routers().length === 1, 5000, "the client to find the router");
      const api = new ServalApi(client);
      const peers: Record<string, number> = {};
      for (let i = 0; i < 40; i++) {
        const c = await api.connect("echo.example");
        const peer = client.host.flowState(c.flow)?.peer;
        const w = c.writable.getWriter();
        await w.write(new Uint8Array([i]));
        await w.close();
        const echoed: number[] = [];
        for await (const x of c.readable) echoed.push(...x);
        expect(echoed).toEqual([i]);
        const k = peer ? formatIpv4(peer.address) : "?";
        peers[k] = (peers[k] ?? 0) + 1;
      }
      expect(Object.keys(peers).sort()).toEqual([t.hosts.h1!.address, t.hosts.h2!.address].sort());
      listeners[1]!.close();
      await until(() => router.agent.leases!.size === 1, 500, "the withdrawn lease to go");
      const c = await api.connect("echo.example");
      expect(formatIpv4(client.host.flowState(c.flow)!.peer!.address)).toBe(t.hosts.h1!.address);
      c.abort();
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      t.close();
    }
  }, 30_000);
});

/**
 * {@linkcode NodeAddresses} (which local addresses are usable) and the node's
 * automatic migration when a link goes down: a client with two interfaces
 * (two in-memory datapaths joined by a {@linkcode MultiDatapath}) loses the
 * link under its flow mid-transfer; the flow moves to the other interface
 * and the data arrives byte-exact.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type LocalAddress, MemoryNetwork } from "@serval/datapath";
import { formatIp, type Locator, ServiceId, ServicePrefix } from "@serval/wire";
import { MultiDatapath } from "./multi_datapath.ts";
import { NodeAddresses } from "./node_addresses.ts";
import { ServalApi } from "./serval_api.ts";
import { ServalNode } from "./serval_node.ts";

const la = (ifindex: number, d: number, port = 0): LocalAddress => ({ ifindex, ifname: `eth${ifindex}`, address: new Uint8Array([198, 18, ifindex, d]), prefixLen: 24, port });
const text = (ls: readonly Locator[]) => ls.map((l) => formatIp(l.address));

describe("NodeAddresses", () => {
  test("addresses come and go; a link going down takes its addresses out of use until it comes back", () => {
    const a = new NodeAddresses([la(1, 1), la(2, 1)]);
    expect(text(a.usable())).toEqual(["198.18.1.1", "198.18.2.1"]);
    expect(a.apply({ type: "link-down", ifindex: 1, ifname: "eth1" }).removed.map((l) => formatIp(l.address))).toEqual(["198.18.1.1"]);
    expect(a.isUsable(la(1, 1))).toBe(false);
    expect(text(a.usable())).toEqual(["198.18.2.1"]);
    expect(a.apply({ type: "link-up", ifindex: 1, ifname: "eth1" }).added.map((l) => formatIp(l.address))).toEqual(["198.18.1.1"]);
    expect(a.apply({ type: "address-added", address: la(2, 9) }).added.length).toBe(1);
    expect(a.apply({ type: "address-added", address: la(2, 9) }).added.length).toBe(0);
    expect(a.apply({ type: "address-removed", address: la(1, 1) }).removed.length).toBe(1);
    expect(text(a.usable())).toEqual(["198.18.2.1", "198.18.2.9"]);
  });

  test("names match an interface, an address or an address and port; replacements keep the family and loopbackness", () => {
    const lo = { ifindex: 9, ifname: "lo", address: new Uint8Array([127, 0, 0, 1]), prefixLen: 8, port: 5000 };
    const a = new NodeAddresses([la(1, 1, 5000), la(2, 1, 5000), lo]);
    expect(a.matches(la(1, 1, 5000), "eth1")).toBe(true);
    expect(a.matches(la(1, 1, 5000), "198.18.1.1")).toBe(true);
    expect(a.matches(la(1, 1, 5000), "198.18.1.1:5000")).toBe(true);
    expect(a.matches(la(1, 1, 5000), "eth2")).toBe(false);
    expect(formatIp(a.replacement(la(1, 1, 5000))!.address)).toBe("198.18.2.1");
    expect(a.replacement(lo)).toBeDefined();
    expect(a.find({ address: new Uint8Array([198, 18, 2, 1]), port: 0 })?.port).toBe(5000);
    expect(a.find({ address: new Uint8Array([198, 18, 7, 7]), port: 0 })).toBeUndefined();
  });
});

const open: ServalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe("ServalNode: migration when a link goes down", () => {
  test("the client's link under the flow goes down mid-transfer: the flow moves to its other interface, 1 MB byte-exact", async () => {
    const net = new MemoryNetwork();
    const a = net.attach({ address: new Uint8Array([198, 18, 0, 1]) });
    const b = net.attach({ address: new Uint8Array([198, 18, 0, 2]) });
    const s = net.attach({ address: new Uint8Array([198, 18, 0, 9]) });
    const client = await ServalNode.start({ role: "host", datapath: new MultiDatapath([a, b]), control: { discover: false } });
    const server = await ServalNode.start({ role: "host", datapath: s, control: { discover: false } });
    open.push(client, server);
    const svc = ServiceId.parse("blob.test");
    client.host.serviceTable.addTarget(ServicePrefix.of(svc), { type: "forward", locator: server.locals[0]! });
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 7 + (i >> 8)) & 255);
    const l = new ServalApi(server).listen("blob.test");
    (async () => {
      const c = await l.accept();
      const w = c.writable.getWriter();
      await w.write(data);
      await w.close();
    })().catch(() => {});
    const c = await new ServalApi(client).connect(svc);
    expect(formatIp(client.host.flowState(c.flow)!.local!.address)).toBe("198.18.0.1");
    const got = new Uint8Array(data.length);
    let n = 0;
    for await (const x of c.readable) {
      got.set(x, n);
      if (n < data.length / 2 && n + x.length >= data.length / 2) net.setLink(a, false);
      n += x.length;
    }
    expect(n).toBe(data.length);
    expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect(formatIp(client.host.flowState(c.flow)!.local!.address)).toBe("198.18.0.2");
    expect(text(client.locals)).toEqual(["198.18.0.2"]);
    // The link comes back: its address is usable again (new flows may use it), nothing moves by itself.
    net.setLink(a, true);
    await until(() => client.locals.length === 2, 2000, "the address to come back");
    await c.writable.close();
  }, 30_000);
});

/**
 * Flow migration in the runtime, over loopback UDP: a node whose datapath
 * is a {@linkcode MultiDatapath} gains a second socket (a new address) and
 * loses the first (the old address goes away); its flows move by the SAL's
 * RSYN handshake and a stream transfer stays byte-exact. Also the explicit
 * calls (`migrateFlow`, `migrateInterface`) and the re-registration of a
 * service whose host moved.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type Locator, locatorKey } from "@serval/wire";
import { MultiDatapath } from "./multi_datapath.ts";
import { ServalApi } from "./serval_api.ts";
import { ServalNode } from "./serval_node.ts";
import { openUdpDatapath, type UdpDatapath } from "./udp_datapath.ts";

const LOOP = new Uint8Array([127, 0, 0, 1]);
const open: ServalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

const udp = () => openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });

async function node(role: "host" | "router", datapath: ServalNode["datapath"], routers: Locator[] = []): Promise<ServalNode> {
  const n = await ServalNode.start({ role, datapath, control: { routers } });
  open.push(n);
  return n;
}

async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const loc = (dp: UdpDatapath): Locator => ({ address: LOOP, port: dp.port });

/** A router, a server sending `size` bytes on "blob.test", a client over a multi-datapath. */
async function world(size: number) {
  const router = await node("router", await udp());
  const r = loc(router.datapath as UdpDatapath);
  const serverDp = new MultiDatapath([await udp()]);
  const server = await node("host", serverDp, [r]);
  const first = await udp();
  const clientDp = new MultiDatapath([first]);
  const client = await node("host", clientDp, [r]);
  const data = new Uint8Array(size).map((_, i) => (i * 31 + (i >> 11)) & 255);
  const listener = new ServalApi(server).listen("blob.test");
  const served = (async () => {
    const c = await listener.accept();
    const w = c.writable.getWriter();
    // Not awaited: the writes finish only as the client reads.
    w.write(data).then(() => w.close()).catch(() => {});
    return c;
  })();
  await until(() => router.agent.leases!.size === 1, 3000, "the lease");
  return { router, server, serverDp, client, clientDp, first, data, served, listener };
}

/** Reads a connection to the end, calling `at` once when half has arrived. */
async function readAll(c: { readable: ReadableStream<Uint8Array> }, size: number, at: () => Promise<void>): Promise<Uint8Array> {
  const got = new Uint8Array(size);
  let n = 0;
  let fired: Promise<void> | undefined;
  for await (const x of c.readable) {
    got.set(x, n);
    n += x.length;
    if (!fired && n >= size / 2) fired = at();
  }
  await fired;
  return got.subarray(0, n);
}

describe("flow migration over loopback UDP", () => {
  test("the client's address changes mid-transfer (new socket added, old one removed): the flow moves and 4 MB arrive byte-exact", async () => {
    const w = await world(4 << 20);
    const c = await new ServalApi(w.client).connect("blob.test");
    const sc = await w.served;
    const migrated: Locator[] = [];
    w.client.onEvent((e) => {
      if (e.type === "migrated" && e.flow === c.flow && e.local) migrated.push(e.local);
    });
    let second: UdpDatapath | undefined;
    const got = await readAll(c, w.data.length, async () => {
      second = await udp();
      w.clientDp.add(second);
      await w.clientDp.remove(w.first);
    });
    expect(got.length).toBe(w.data.length);
    expect(sha(got)).toBe(sha(w.data));
    const now = loc(second!);
    expect(w.client.locals.map(locatorKey)).toEqual([locatorKey(now)]);
    expect(migrated.map(locatorKey)).toContain(locatorKey(now));
    // The server saw the move: its flow's peer is the new locator, flowIDs unchanged.
    expect(locatorKey(w.server.host.flowState(sc.flow)!.peer!)).toBe(locatorKey(now));
    await c.writable.close();
  }, 30_000);

  test("migrateFlow and migrateInterface move flows on request; unknown targets are refused", async () => {
    const w = await world(1 << 16);
    const c = await new ServalApi(w.client).connect("blob.test");
    await w.served;
    const second = await udp();
    w.clientDp.add(second);
    await until(() => w.client.locals.length === 2, 2000, "the second address");
    expect(w.client.migrateFlow(c.flow, { address: new Uint8Array([198, 18, 9, 9]), port: 0 })).toBe(false);
    expect(w.client.migrateFlow(0x7fffffff, loc(second))).toBe(false);
    expect(w.client.migrateFlow(c.flow, loc(second))).toBe(true);
    await until(() => w.client.host.flowState(c.flow)?.migration === "NONE" && locatorKey(w.client.host.flowState(c.flow)!.local!) === locatorKey(loc(second)), 3000, "the move");
    expect(w.client.migrateInterface("198.18.9.9")).toBe(0);
    expect(w.client.migrateInterface(locatorKey(loc(second)))).toBe(1);
    await until(() => locatorKey(w.client.host.flowState(c.flow)!.local!) === locatorKey(loc(w.first)), 3000, "the move back");
    const got = await readAll(c, w.data.length, async () => {});
    expect(sha(got)).toBe(sha(w.data));
    await c.writable.close();
  }, 30_000);

  test("a server that moves re-registers: the router's lease follows at once, the old one is withdrawn", async () => {
    const w = await world(1024);
    const [old] = w.serverDp.members;
    const lease = () => w.router.agent.leases!.leases().map((l) => locatorKey(l.locator));
    expect(lease()).toEqual([locatorKey(w.server.locals[0]!)]);
    const moved = await udp();
    w.serverDp.add(moved);
    await w.serverDp.remove(old!);
    await until(() => lease().length === 1 && lease()[0] === locatorKey(loc(moved)), 2000, "the lease to move");
    // A new connect reaches the server at its new address.
    const c = await new ServalApi(w.client).connect("blob.test");
    expect(locatorKey(w.client.host.flowState(c.flow)!.peer!)).toBe(locatorKey(loc(moved)));
    c.abort();
  }, 30_000);
});

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { AppSocketServer, connectDaemon } from "@serval/client";
import type { Locator } from "@serval/wire";
import { openUdpDatapath } from "./udp_datapath.ts";
import { ServalNode } from "./serval_node.ts";
import { ServalApi } from "./serval_api.ts";

// Two applications of one node: the SYN reaches the listener through the
// host's loopback queue; every later packet (SYN-ACK, data, ACKs) is
// addressed to the node's own locator, which a datapath drops as
// looped-back — so the host must deliver those itself too.

const LOOP = new Uint8Array([127, 0, 0, 1]);
const open: ServalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function node(role: "host" | "router" | "adhoc", routers: Locator[] = []): Promise<ServalNode> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
  const n = await ServalNode.start({ role, datapath: dp, control: { routers } });
  open.push(n);
  return n;
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 8)) & 0xff;
  return b;
}

/** Echoes `size` bytes between two applications of node `n`; returns what came back. */
async function echo(n: ServalNode, service: string, size: number): Promise<Uint8Array> {
  const api = new ServalApi(n);
  const listener = api.listen(service);
  const served = (async () => {
    const c = await listener.accept();
    await c.readable.pipeTo(c.writable);
  })();
  const conn = await api.connect(service);
  const data = pattern(size);
  const sent = (async () => {
    const w = conn.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const parts: Uint8Array[] = [];
  let got = 0;
  for await (const c of conn.readable) {
    parts.push(c);
    got += c.length;
  }
  await sent;
  await served;
  listener.close();
  const out = new Uint8Array(got);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe("same-host connects", () => {
  for (const role of ["adhoc", "host"] as const) {
    test(`${role}: a connect to a service this very node listens on is answered, 1 MB echoed byte-exact`, async () => {
      const router = await node("router");
      const n = await node(role, role === "host" ? [{ address: LOOP, port: router.locals[0]!.port }] : []);
      expect(await echo(n, "self.example", 1 << 20)).toEqual(pattern(1 << 20));
      expect(n.datapath.stats().drops.get("looped-back") ?? 0).toBe(0);
      // Nothing left behind.
      await new Promise((r) => setTimeout(r, 0));
      expect(n.host.flowIds().filter((id) => n.host.flowState(id)!.state !== "TIMEWAIT" && n.host.flowState(id)!.state !== "CLOSED")).toEqual([]);
    }, 20000);
  }

  test("adhoc, through the application socket: one application connects to another's service on the same daemon", async () => {
    const n = await node("adhoc");
    const dir = mkdtempSync("/tmp/serval-samehost-");
    const server = await AppSocketServer.listen(n, `${dir}/app.sock`);
    const [a, b] = await Promise.all([connectDaemon({ path: `${dir}/app.sock` }), connectDaemon({ path: `${dir}/app.sock` })]);
    try {
      const l = a.listen("self.example");
      await l.ready;
      const served = (async () => {
        const c = await l.accept();
        await c.readable.pipeTo(c.writable);
      })();
      const conn = await b.connect("self.example");
      const data = pattern(200_000);
      const w = conn.writable.getWriter();
      const sent = w.write(data).then(() => w.close());
      const parts: number[] = [];
      for await (const x of conn.readable) parts.push(...x);
      await sent;
      await served;
      expect(Buffer.from(parts).equals(Buffer.from(data))).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20000);
});

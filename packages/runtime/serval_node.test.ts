import { afterEach, describe, expect, test } from "bun:test";
import { EchoTransport } from "@serval/sal";
import { type Locator, ServiceId, ServicePrefix } from "@serval/wire";
import { openUdpDatapath } from "./udp_datapath.ts";
import { ServalNode } from "./serval_node.ts";

const LOOP = new Uint8Array([127, 0, 0, 1]);
const open: ServalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function node(role: "host" | "router", routers: Locator[] = [], weight = 1): Promise<ServalNode> {
  const dp = await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
  const n = await ServalNode.start({ role, datapath: dp, control: { routers, weight } });
  open.push(n);
  return n;
}

/** Resolves when `cond` holds, polling each event-loop turn; rejects after `ms`. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}

const port = (n: ServalNode) => n.locals[0]!.port;

describe("ServalNode over loopback UDP", () => {
  test("a replica registers with the router; a client connects by serviceID through it and echoes bytes", async () => {
    const router = await node("router");
    const r: Locator = { address: LOOP, port: port(router) };
    const replica = await node("host", [r]);
    const client = await node("host", [r]);
    const svc = ServiceId.fromName("echo.example");
    replica.onEvent((e, n) => {
      if (e.type === "incoming") for (let f = n.host.accept(e.listener); f !== undefined; f = n.host.accept(e.listener));
    });
    replica.host.listen(ServicePrefix.of(svc), { transport: () => new EchoTransport("server") });
    replica.kick();
    await until(() => router.agent.leases!.size === 1);
    const t = new EchoTransport("client");
    const id = client.host.connect(client.now(), svc, t);
    client.kick();
    await until(() => client.host.flowState(id)?.state === "CONNECTED");
    t.write(new TextEncoder().encode("hello over udp"));
    client.host.flush(client.now(), id);
    client.kick();
    await until(() => t.receivedBytes().length === 14);
    expect(new TextDecoder().decode(t.receivedBytes())).toBe("hello over udp");
    expect(router.stats.packetsIn).toBeGreaterThan(0);
    client.host.close(client.now(), id);
    client.kick();
    await until(() => client.host.flowState(id)?.state !== "CONNECTED");
  });

  test("close withdraws the registration at once and releases the socket", async () => {
    const router = await node("router");
    const r: Locator = { address: LOOP, port: port(router) };
    const replica = await node("host", [r]);
    replica.host.listen(ServicePrefix.of(ServiceId.fromName("x.example")), { transport: () => new EchoTransport("server") });
    replica.kick();
    await until(() => router.agent.leases!.size === 1);
    await replica.close();
    open.splice(open.indexOf(replica), 1);
    await until(() => router.agent.leases!.size === 0, 1000);
    expect(replica.closed).toBe(true);
    await replica.close(); // idempotent
  });
});

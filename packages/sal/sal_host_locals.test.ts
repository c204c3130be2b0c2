/**
 * A SAL host learns new and removed local addresses (`setLocals`): new flows
 * and datagrams start from the new first locator, established flows keep
 * theirs until migrated, and `flowIds` lists what a driver must move.
 */
import { describe, expect, test } from "bun:test";
import { ServiceId, ServicePrefix } from "@serval/wire";
import { EchoTransport } from "./echo_transport.ts";
import { SeededRandom } from "./random_source.ts";
import { SalHost } from "./sal_host.ts";
import { HostNet, testLocator as loc } from "./testing.ts";

const ECHO = ServiceId.parse("echo.example");

function world() {
  const net = new HostNet(1_000);
  const rnd = new SeededRandom(7);
  const client = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1), loc(0, 2));
  const server = net.add(new SalHost({ random: rnd, locals: [loc(1, 1)] }), loc(1, 1));
  client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(1, 1) });
  const listener = server.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
  return { net, client, server, listener };
}

describe("SalHost locals", () => {
  test("setLocals refuses an empty list and copies the one it is given", () => {
    const h = new SalHost({ random: new SeededRandom(1), locals: [loc(0, 1)] });
    expect(() => h.setLocals([])).toThrow(RangeError);
    const l = [loc(0, 2)];
    h.setLocals(l);
    l.push(loc(0, 3));
    expect(h.locals).toEqual([loc(0, 2)]);
  });

  test("a new flow starts from the new first locator; an old one keeps its own until migrated", () => {
    const { net, client, server, listener } = world();
    const a = new EchoTransport("client");
    const fa = client.connect(net.now, ECHO, a);
    net.run();
    expect(client.flowState(fa)?.local).toEqual(loc(0, 1));

    client.setLocals([loc(0, 2)]);
    const b = new EchoTransport("client");
    const fb = client.connect(net.now, ECHO, b);
    net.run();
    expect(client.flowState(fb)?.local).toEqual(loc(0, 2));
    expect(client.flowState(fa)?.local).toEqual(loc(0, 1));
    expect(client.flowIds()).toEqual([fa, fb]);

    // The driver moves what still uses a gone address.
    for (const id of client.flowIds()) {
      const st = client.flowState(id)!;
      if (HostNet.key(st.local!) !== HostNet.key(loc(0, 2))) expect(client.migrate(net.now, id, loc(0, 2))).toBe(true);
    }
    net.down.add(HostNet.key(loc(0, 1)));
    net.run();
    expect(client.flowState(fa)?.local).toEqual(loc(0, 2));
    const sids = [server.accept(listener)!, server.accept(listener)!];
    for (const s of sids) expect(server.flowState(s)?.peer).toEqual(loc(0, 2));
    a.write(new Uint8Array([9, 8, 7]));
    client.flush(net.now, fa);
    net.run();
    expect([...a.receivedBytes()]).toEqual([9, 8, 7]);
  });

  test("datagrams leave from the new first locator", () => {
    const { net, client, server } = world();
    const rx = server.openDatagram(ServicePrefix.parse("dgram.example"));
    const tx = client.openDatagram();
    client.setLocals([loc(0, 2), loc(0, 1)]);
    client.sendDatagram(net.now, tx, ServiceId.parse("dgram.example"), new Uint8Array([1]));
    net.run();
    const got = net.events.get(server)!.find((e) => e.type === "datagram" && e.socket === rx);
    expect(got?.type === "datagram" ? got.from : undefined).toEqual(loc(0, 2));
  });
});

import { describe, expect, test } from "bun:test";
import { ServiceId, ServicePrefix } from "@serval/wire";
import { EchoTransport } from "./echo_transport.ts";
import { SeededRandom } from "./random_source.ts";
import { SalHost } from "./sal_host.ts";
import { HostNet, testLocator as loc } from "./testing.ts";

const ECHO = ServiceId.parse("echo.example");

describe("SalHost.flows", () => {
  test("lists every live flow on both ends with its state, transport and service, and nothing once closed", () => {
    const net = new HostNet(5_000);
    const rnd = new SeededRandom(7);
    const client = net.add(new SalHost({ random: rnd, locals: [loc(0, 1)] }), loc(0, 1));
    const server = net.add(new SalHost({ random: rnd, locals: [loc(0, 2)] }), loc(0, 2));
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: loc(0, 2) });
    const listener = server.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
    expect([...client.flows()]).toEqual([]);
    const t = new EchoTransport("client");
    const id = client.connect(net.now, ECHO, t);
    net.run();
    const [c] = [...client.flows()];
    expect(c!.id).toBe(id);
    expect(c!.flow.state).toBe("CONNECTED");
    expect(c!.transport).toBe(t);
    expect(c!.serviceId.equals(ECHO)).toBe(true);
    expect(c!.listener).toBeUndefined();
    const [s] = [...server.flows()];
    expect(s!.listener).toBe(listener);
    expect([c!.side, s!.side]).toEqual(["client", "server"]);
    expect(server.accept(listener)).toBe(s!.id);
    expect([...server.flows()][0]!.side).toBe("server");
    expect(s!.peerFlowId).toBe(id);
    expect(c!.peerFlowId).toBe(s!.id);
    client.abort(net.now, id);
    net.run();
    expect([...client.flows()]).toEqual([]);
  });
});

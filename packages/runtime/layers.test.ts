import { afterEach, describe, expect, test } from "bun:test";
import { Deferred, Effect, Exit, Fiber, Layer } from "effect";
import { DatapathError, openDatapath, parseConfig } from "./config.ts";
import { DatapathLive, nodeLayer, type NodeReport, NodeReporter, RunningNode, runNode, ServalConfig, ServalDatapath } from "./layers.ts";
import { ServalApi } from "./serval_api.ts";
import { ServalNode } from "./serval_node.ts";
import { openUdpDatapath } from "./udp_datapath.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Resolves when `cond` holds, polling each event-loop turn; rejects after `ms`. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Runs a node from a config in a fiber, collecting its reports; returns the fiber and the reports. */
function fork(input: Record<string, unknown>) {
  const reports: NodeReport[] = [];
  const fiber = Effect.runFork(runNode(parseConfig(input)).pipe(Effect.provideService(NodeReporter, (r) => reports.push(r))));
  cleanups.push(() => Effect.runPromise(Fiber.interrupt(fiber)));
  return { fiber, reports };
}

function started(reports: NodeReport[]) {
  const s = reports.find((r) => r.type === "started");
  return s?.type === "started" ? s : undefined;
}

describe("runNode()", () => {
  test("a router and an echo host from configs: a client connects by serviceID and gets its bytes back", async () => {
    const router = fork({ role: "router", bind: "127.0.0.1", port: 0 });
    await until(() => started(router.reports) !== undefined);
    const rport = started(router.reports)!.port;
    expect(started(router.reports)!.bootId).toBeNumber();
    const host = fork({ role: "host", bind: "127.0.0.1", port: 0, routers: [`127.0.0.1:${rport}`], echo: ["echo.example"], weight: 2 });
    await until(() => router.reports.some((r) => r.type === "lease-added"));
    await until(() => host.reports.some((r) => r.type === "registered"));
    const reg = host.reports.find((r) => r.type === "registered");
    expect(reg?.type === "registered" && reg.services).toEqual(["echo.example"]);
    const added = router.reports.find((r) => r.type === "lease-added");
    expect(added?.type === "lease-added" && added.lease.weight).toBe(2);

    const client = await ServalNode.start({
      role: "host",
      datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }),
      control: { routers: [{ address: new Uint8Array([127, 0, 0, 1]), port: rport }] },
    });
    cleanups.push(() => client.close());
    const c = await new ServalApi(client).connect("echo.example");
    const w = c.writable.getWriter();
    await w.write(new TextEncoder().encode("hello through layers"));
    await w.close();
    let echoed = "";
    for await (const chunk of c.readable) echoed += new TextDecoder().decode(chunk);
    expect(echoed).toBe("hello through layers");

    // Interrupting the host withdraws its registration at once (not at lease expiry).
    const t0 = performance.now();
    await Effect.runPromise(Fiber.interrupt(host.fiber));
    expect(host.reports.at(-1)?.type).toBe("stopped");
    await until(() => router.reports.some((r) => r.type === "lease-removed"), 1000);
    const removed = router.reports.find((r) => r.type === "lease-removed");
    expect(removed?.type === "lease-removed" && removed.reason).toBe("unregistered");
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  test("balance: a router's default round robin alternates between two replicas; random is configurable", async () => {
    for (const balance of ["round-robin", "random"] as const) {
      const router = fork({ role: "router", bind: "127.0.0.1", port: 0, balance });
      await until(() => started(router.reports) !== undefined);
      const rport = started(router.reports)!.port;
      const replicas = [1, 2].map(() =>
        fork({ role: "host", bind: "127.0.0.1", port: 0, routers: [`127.0.0.1:${rport}`], echo: ["rr.example"] })
      );
      await until(() => router.reports.filter((r) => r.type === "lease-added").length === 2);
      const ports = replicas.map((r) => started(r.reports)!.port);
      const client = await ServalNode.start({
        role: "host",
        datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }),
        control: { routers: [{ address: new Uint8Array([127, 0, 0, 1]), port: rport }] },
      });
      cleanups.push(() => client.close());
      const served: number[] = [];
      const api = new ServalApi(client);
      for (let i = 0; i < 10; i++) {
        const c = await api.connect("rr.example");
        served.push(ports.indexOf(client.host.flowState(c.flow)!.peer!.port));
        c.abort();
      }
      expect(served.every((x) => x === 0 || x === 1)).toBe(true);
      if (balance === "round-robin") {
        // Strict alternation, whichever replica comes first (weighted random would pass by chance 1 time in 512).
        for (let i = 1; i < served.length; i++) expect(served[i]).toBe(1 - served[i - 1]!);
      }
      for (const c of cleanups.splice(0).reverse()) await c();
    }
  });

  test("interruption closes the socket: the port can be bound again", async () => {
    const node = fork({ role: "adhoc", bind: "127.0.0.1", port: 0, echo: ["a.example"] });
    await until(() => started(node.reports) !== undefined);
    const port = started(node.reports)!.port;
    await Effect.runPromise(Fiber.interrupt(node.fiber));
    expect(node.reports.map((r) => r.type)).toEqual(["started", "stopping", "stopped"]);
    const again = await openDatapath(parseConfig({ role: "adhoc", bind: "127.0.0.1", port }));
    await again.close();
  });

  test("a port in use fails with DatapathError, before any node starts", async () => {
    const taken = await openUdpDatapath({ address: "127.0.0.1", port: 0 });
    cleanups.push(() => taken.close());
    const reports: NodeReport[] = [];
    const exit = await Effect.runPromiseExit(
      runNode(parseConfig({ role: "router", bind: "127.0.0.1", port: taken.port })).pipe(Effect.provideService(NodeReporter, (r) => reports.push(r))),
    );
    expect(Exit.isFailure(exit)).toBe(true);
    const err = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined;
    expect(err?._tag === "Fail" && err.error).toBeInstanceOf(DatapathError);
    expect(reports).toEqual([]);
  });
});

describe("layers", () => {
  test("DatapathLive is scoped: open while the scope lives, closed after", async () => {
    const seen = await Deferred.make<number>().pipe(Effect.runPromise);
    const program = Effect.gen(function* () {
      const dp = yield* ServalDatapath;
      const port = dp.localAddresses()[0]!.port;
      yield* Deferred.succeed(seen, port);
      return port;
    }).pipe(Effect.provide(DatapathLive.pipe(Layer.provide(ServalConfig.layer(parseConfig({ role: "host", bind: "127.0.0.1", port: 0 }))))));
    const port = await Effect.runPromise(program);
    expect(port).toBeGreaterThan(0);
    // Closed at the end of the scope: binding the same port works.
    const again = await openUdpDatapath({ address: "127.0.0.1", port });
    await again.close();
  });

  test("nodeLayer provides the running node and its datapath", async () => {
    const program = Effect.gen(function* () {
      const node = yield* RunningNode;
      const dp = yield* ServalDatapath;
      const config = yield* ServalConfig;
      return [node.agent.role, node.locals[0]!.port === dp.localAddresses()[0]!.port, config.balance, node.closed] as const;
    });
    let node: ServalNode | undefined;
    const r = await Effect.runPromise(
      program.pipe(
        Effect.tap(() => Effect.gen(function* () {
          node = yield* RunningNode;
        })),
        Effect.provide(nodeLayer(parseConfig({ role: "router", bind: "127.0.0.1", port: 0 }))),
      ),
    );
    expect(r).toEqual(["router", true, "round-robin", false]);
    expect(node?.closed).toBe(true);
  });
});

import { afterEach, describe, expect, test } from "bun:test";
import { Effect, Exit } from "effect";
import { ServicePrefix } from "@serval/wire";
import { openUdpDatapath } from "./udp_datapath.ts";
import { ServalNode } from "./serval_node.ts";
import { ServalApi } from "./serval_api.ts";
import { connectScoped, datagramScoped, listenScoped } from "./scoped_api.ts";

const open: ServalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function pair() {
  const mk = async () => {
    const n = await ServalNode.start({ role: "adhoc", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }) });
    open.push(n);
    return n;
  };
  const a = await mk(), b = await mk();
  // No broadcast on loopback: a knows where the services are.
  a.host.serviceTable.addTarget(ServicePrefix.parse("echo.example"), { type: "forward", locator: b.locals[0]! });
  return { a: new ServalApi(a), b: new ServalApi(b) };
}

describe("scoped application API", () => {
  test("a scoped connection is closed gracefully when the scope ends; the listener is withdrawn", async () => {
    const { a, b } = await pair();
    let served: Promise<string> | undefined;
    const program = Effect.scoped(Effect.gen(function* () {
      const l = yield* listenScoped(b, "echo.example");
      served = l.accept().then(async (c) => {
        await c.readable.pipeTo(c.writable);
        return c.closed;
      });
      const conn = yield* Effect.scoped(Effect.gen(function* () {
        const c = yield* connectScoped(a, "echo.example");
        const w = c.writable.getWriter();
        yield* Effect.promise(() => w.write(new TextEncoder().encode("scoped")));
        w.releaseLock();
        return c;
      }));
      // The inner scope ended: our FIN went; the echo comes back, then the peer's FIN.
      const chunks: string[] = [];
      yield* Effect.promise(async () => {
        for await (const x of conn.readable) chunks.push(new TextDecoder().decode(x));
      });
      expect(chunks.join("")).toBe("scoped");
      expect(yield* Effect.promise(() => conn.closed)).toBe("normal");
      return l;
    }));
    const l = await Effect.runPromise(program);
    expect(await served).toBe("normal");
    await expect(l.accept()).rejects.toThrow(/closed/);
  }, 10_000);

  test("a failed connect is a typed ConnectError; an interrupted scope resets the flow", async () => {
    const { a, b } = await pair();
    const fail = await Effect.runPromiseExit(Effect.scoped(connectScoped(a, "nobody.example")));
    expect(Exit.isFailure(fail)).toBe(true);
    expect(JSON.stringify(fail)).toContain("ConnectError");
    const l = b.listen("echo.example");
    let conn: { closed: Promise<string> } | undefined;
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function* () {
      conn = yield* connectScoped(a, "echo.example");
      return yield* Effect.fail("boom");
    })));
    expect(Exit.isFailure(exit)).toBe(true);
    expect(await conn!.closed).toBe("aborted");
    l.close();
  }, 10_000);

  test("a scoped datagram socket is closed with its scope", async () => {
    const { a } = await pair();
    const s = await Effect.runPromise(Effect.scoped(datagramScoped(a)));
    expect(() => s.send("echo.example", new Uint8Array(1))).toThrow(RangeError);
  });

  test("a scope that ends after the writer closed does not reset: 4 MiB arrive whole", async () => {
    const { a, b } = await pair();
    // Retarget a's rule for the sink: pair() only knows echo.example.
    a.node.host.serviceTable.addTarget(ServicePrefix.parse("sink.example"), { type: "forward", locator: b.node.locals[0]! });
    const l = b.listen("sink.example");
    const N = 4 << 20;
    const got = l.accept().then(async (c) => {
      let n = 0;
      for await (const x of c.readable) n += x.length;
      return n;
    });
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const c = yield* connectScoped(a, "sink.example");
      const w = c.writable.getWriter();
      yield* Effect.promise(() => w.write(new Uint8Array(N)));
      yield* Effect.promise(() => w.close());
    })));
    expect(await got).toBe(N);
    l.close();
  }, 15_000);
});

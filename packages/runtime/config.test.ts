import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect, Result } from "effect";
import type { Datapath } from "@serval/datapath";
import { ROUND_ROBIN_PLUGIN } from "@serval/plugin-round-robin";
import { ConfigError, DatapathError, loadConfig, openDatapath, parseConfig, parseRouter, toNodeOptions } from "./config.ts";

function configError(input: unknown): string {
  try {
    parseConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig()", () => {
  test("aggregates: only a router with upstream routers; they reach the control agent as prefixes", () => {
    const c = parseConfig({ role: "router", routers: ["198.18.0.1"], aggregates: ["example/32"] });
    expect(c.aggregates).toEqual(["example/32"]);
    expect(() => parseConfig({ role: "router", aggregates: ["example/32"] })).toThrow(/aggregates: only a router with upstream routers/);
    expect(() => parseConfig({ role: "host", routers: ["198.18.0.1"], aggregates: ["example/32"] })).toThrow(/aggregates/);
    expect(() => parseConfig({ role: "router", routers: ["198.18.0.1"], aggregates: ["example/999"] })).toThrow(/aggregates\[0\]/);
  });

  test("fills defaults: udp 0.0.0.0:54325, weight 1, round robin", () => {
    const c = parseConfig({ role: "router" });
    expect(c).toEqual({
      role: "router",
      datapath: "udp",
      bind: "0.0.0.0",
      port: 54325,
      interfaces: [],
      routers: [],
      weight: 1,
      priority: 0,
      balance: "round-robin",
      echo: [],
      aggregates: [],
    });
  });

  test("keeps given values", () => {
    const c = parseConfig({
      role: "host",
      bind: "127.0.0.1",
      port: 0,
      routers: ["127.0.0.1:4000", "198.18.0.1"],
      weight: 7,
      priority: 2,
      refreshMs: 200,
      lifetimeMs: 900,
      echo: ["echo.example", "web.example/64"],
      discover: false,
      balance: "random",
    });
    expect([c.port, c.weight, c.priority, c.refreshMs, c.lifetimeMs, c.discover, c.balance]).toEqual([0, 7, 2, 200, 900, false, "random"]);
    expect(c.routers).toEqual(["127.0.0.1:4000", "198.18.0.1"]);
  });

  test("one line per bad field, naming the field and the value", () => {
    expect(configError({ role: "host", weight: 0 })).toBe("weight: expected an integer 1..65535, got 0");
    expect(configError({ role: "host", weight: 70000 })).toBe("weight: expected an integer 1..65535, got 70000");
    expect(configError({ role: "host", port: 1.5 })).toBe("port: expected an integer 0..65535, got 1.5");
    expect(configError({ role: "host", port: "abc" })).toBe('port: expected an integer 0..65535, got "abc"');
    expect(configError({ role: "switch" })).toBe('role: expected host, router or adhoc, got "switch"');
    expect(configError({})).toBe("role: missing");
    expect(configError({ role: "host", wieght: 2 })).toBe("wieght: unknown field");
    expect(configError({ role: "host", routers: ["127.0.0.1", "300.1.1.1"] })).toBe(
      'routers[1]: expected IPv4 or IPv4:PORT (port 1..65535), got "300.1.1.1"',
    );
    expect(configError({ role: "host", echo: ["zz/999"] })).toMatch(/^echo\[0\]: expected a service name or prefix .*, got "zz\/999"$/);
    expect(configError({ role: "host", datapath: "tcp" })).toBe('datapath: expected udp or packet, got "tcp"');
    expect(configError({ role: "host", bind: "localhost" })).toBe('bind: expected an IPv4 address, got "localhost"');
    expect(configError({ role: "router", balance: "least" })).toBe('balance: expected round-robin or random, got "least"');
    for (const m of [configError({ role: "host" , weight: 0 }), configError({ role: "host", routers: ["x"] })]) expect(m).not.toContain("\n");
  });

  test("rules between fields", () => {
    expect(configError({ role: "host", interfaces: ["eth0"] })).toMatch(/^interfaces: only the packet datapath/);
    expect(configError({ role: "host", datapath: "packet", routers: ["198.18.0.1:99"] })).toMatch(/^routers\[0\]: the packet datapath/);
    expect(configError({ role: "adhoc", routers: ["198.18.0.1"] })).toMatch(/^routers: an adhoc node uses no router/);
    expect(configError({ role: "host", echo: ["a.example", "b.example", "A.example"] })).toBe('echo[2]: the same service as echo[0], got "A.example"');
    expect(configError({ role: "host", refreshMs: 3000 })).toMatch(/^refreshMs: must be less than the lease lifetime/);
    expect(parseConfig({ role: "host", refreshMs: 3000, lifetimeMs: 9000 }).refreshMs).toBe(3000);
    expect(parseConfig({ role: "host", datapath: "packet", interfaces: ["veth0"], routers: ["198.18.0.1"] }).interfaces).toEqual(["veth0"]);
  });
});

describe("loadConfig()", () => {
  const dir = mkdtempSync(join(tmpdir(), "serval-config-"));
  const file = join(dir, "node.json");

  test("flags are laid over the file; text numbers from flags become numbers", async () => {
    try {
      writeFileSync(file, JSON.stringify({ role: "host", weight: 3, priority: 1, routers: ["127.0.0.1:4000"], echo: ["a.example"] }));
      const c = await Effect.runPromise(loadConfig(file, { role: "host", weight: "5", routers: [], echo: ["b.example"], port: undefined }));
      expect(c.weight).toBe(5);
      expect(c.priority).toBe(1);
      expect(c.routers).toEqual(["127.0.0.1:4000"]); // an empty flag list keeps the file's
      expect(c.echo).toEqual(["b.example"]);
      expect(c.port).toBe(54325);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("file problems are ConfigErrors with the file name", async () => {
    const missing = await Effect.runPromise(Effect.result(loadConfig(join(dir, "nope.json"), { role: "host" })));
    expect(Result.isFailure(missing) && missing.failure.message).toMatch(/^Cannot read config file ".*nope\.json": /);
    const d2 = mkdtempSync(join(tmpdir(), "serval-config-"));
    try {
      writeFileSync(join(d2, "bad.json"), "{ role: ");
      const bad = await Effect.runPromise(Effect.result(loadConfig(join(d2, "bad.json"), {})));
      expect(Result.isFailure(bad) && bad.failure._tag).toBe("ConfigError");
      expect(Result.isFailure(bad) && bad.failure.message).toMatch(/^Cannot parse config file/);
      writeFileSync(join(d2, "arr.json"), "[1]");
      const arr = await Effect.runPromise(Effect.result(loadConfig(join(d2, "arr.json"), {})));
      expect(Result.isFailure(arr) && arr.failure.message).toMatch(/expected a JSON object, got \[1\]/);
    } finally {
      rmSync(d2, { recursive: true, force: true });
    }
  });

  test("a bad flag value is reported like a bad file value", async () => {
    const r = await Effect.runPromise(Effect.result(loadConfig(undefined, { role: "host", weight: "0" })));
    expect(Result.isFailure(r) && r.failure.message).toBe("weight: expected an integer 1..65535, got 0");
  });
});

describe("parseRouter()", () => {
  test("IP and IP:PORT", () => {
    expect(parseRouter("127.0.0.1:4000")).toEqual({ address: new Uint8Array([127, 0, 0, 1]), port: 4000 });
    expect(parseRouter("198.18.0.1")).toEqual({ address: new Uint8Array([198, 18, 0, 1]), port: 54325 });
    expect(parseRouter("198.18.0.1", 0).port).toBe(0);
    expect(() => parseRouter("198.18.0")).toThrow(RangeError);
  });
});

describe("toNodeOptions()", () => {
  const dp = {} as Datapath;

  test("router: round robin by default, boot id, lease cap, announce interval", () => {
    const o = toNodeOptions(parseConfig({ role: "router", lifetimeMs: 5000, announceMs: 250 }), dp, { bootId: 42 });
    expect(o.role).toBe("router");
    expect(o.plugins?.length).toBe(1);
    expect(o.control?.leases).toEqual({ plugin: ROUND_ROBIN_PLUGIN, maxLifetimeMs: 5000 });
    expect(o.control?.bootId).toBe(42);
    expect(o.control?.announcer).toEqual({ intervalUs: 250_000 });
    expect(o.control?.registrar).toBeUndefined();
  });

  test("router: random balance uses the built-in forward", () => {
    const o = toNodeOptions(parseConfig({ role: "router", balance: "random" }), dp);
    expect(o.plugins).toEqual([]);
    expect(o.control?.leases?.plugin).toBeUndefined();
    expect(typeof o.control?.bootId).toBe("number");
  });

  test("host: routers as locators, weight, priority, registrar timing", () => {
    const o = toNodeOptions(
      parseConfig({ role: "host", routers: ["127.0.0.1:4000", "127.0.0.2"], weight: 9, priority: 3, refreshMs: 100, lifetimeMs: 400, discover: true }),
      dp,
    );
    expect(o.control?.routers).toEqual([
      { address: new Uint8Array([127, 0, 0, 1]), port: 4000 },
      { address: new Uint8Array([127, 0, 0, 2]), port: 54325 },
    ]);
    expect([o.control?.weight, o.control?.priority, o.control?.discover]).toEqual([9, 3, true]);
    expect(o.control?.registrar).toEqual({ refreshUs: 100_000, lifetimeMs: 400 });
    expect(o.control?.bootId).toBeUndefined();
  });

  test("packet datapath: routers without a port are raw-IP locators", () => {
    const o = toNodeOptions(parseConfig({ role: "host", datapath: "packet", routers: ["198.18.0.1"] }), dp);
    expect(o.control?.routers?.[0]?.port).toBe(0);
  });
});

describe("openDatapath()", () => {
  test("opens UDP at bind:port; a taken port is a DatapathError", async () => {
    const a = await openDatapath(parseConfig({ role: "router", bind: "127.0.0.1", port: 0 }));
    try {
      expect(a.kind).toBe("udp");
      const port = a.localAddresses()[0]!.port;
      expect(port).toBeGreaterThan(0);
      let err: unknown;
      try {
        const b = await openDatapath(parseConfig({ role: "router", bind: "127.0.0.1", port }));
        await b.close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DatapathError);
    } finally {
      await a.close();
    }
  });
});

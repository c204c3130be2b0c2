import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseConfig } from "@serval/runtime";
import { checkParams, decodeRequest, decodeResult, locatorText, OPS, parseLocatorText, socketPath } from "./protocol.ts";

const req = (o: Record<string, unknown>) => JSON.stringify({ v: 1, id: 7, ...o });
const fault = (line: string) => {
  const r = decodeRequest(line);
  if (!("code" in r)) throw new Error(`accepted: ${line}`);
  return r;
};

describe("decodeRequest", () => {
  test("accepts every operation in its minimal form", () => {
    const minimal: Record<string, Record<string, unknown>> = {
      "service.add": { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.2" } },
      "service.del": { prefix: "web.example/16", target: { type: "drop" } },
      "service.mod": { prefix: "default", target: { type: "demux", listener: 3 }, weight: 2 },
      "migrate.flow": { flow: 1, to: "198.18.0.1" },
      "migrate.iface": { from: "eth0" },
      auth: { token: "t" },
    };
    for (const op of OPS) {
      const r = decodeRequest(req({ op, ...minimal[op] }));
      expect("code" in r ? r.message : r.op).toBe(op);
    }
  });

  test("each bad request gets one line naming the field (the cases of the issue and more)", () => {
    const cases: [Record<string, unknown> | string, string, string][] = [
      ["not json", "bad-request", "not JSON: expected one JSON object per line"],
      ["[1,2]", "bad-request", "expected a JSON object"],
      [{ op: "service.add", prefix: "web.example/300", target: { type: "drop" } }, "bad-request", "prefix: prefix length is 300, must be 0..256"],
      [{ op: "service.add", prefix: "web..example", target: { type: "drop" } }, "bad-request", "prefix: expected 64 hex digits"],
      [{ op: "service.add", prefix: "web.example/16" }, "bad-request", "target: missing"],
      [{ op: "service.add", prefix: "web.example/16", target: { type: "forward" } }, "bad-request", "target.to: a forward target needs a locator (to)"],
      [{ op: "service.add", prefix: "web.example/16", target: { type: "drop", to: "198.18.1.2" } }, "bad-request", "target.to: a drop target takes no locator"],
      [{ op: "service.add", prefix: "web.example/16", target: { type: "forward", to: "198.18.1.300" } }, "bad-request", "target.to: expected IP or IP:PORT"],
      [{ op: "service.add", prefix: "web.example/16", target: { type: "teleport" } }, "bad-request", "target.type: expected forward, drop, delay or demux"],
      [{ op: "service.add", prefix: "a/8", target: { type: "drop" }, weight: 0 }, "bad-request", "weight: expected an integer 1..65535, got 0"],
      [{ op: "service.add", prefix: "a/8", target: { type: "drop" }, weight: 1.5 }, "bad-request", "weight: expected an integer 1..65535, got 1.5"],
      [{ op: "service.add", prefix: "a/8", target: { type: "drop" }, priority: -1 }, "bad-request", "priority: expected an integer 0..4294967295"],
      [{ op: "service.add", prefix: "a/8", target: { type: "drop" }, extra: 1 }, "bad-request", "extra: unknown field"],
      [{ op: "service.mod", prefix: "a/8", target: { type: "drop" } }, "bad-request", "request: nothing to change"],
      [{ op: "migrate.flow", flow: 0, to: "198.18.0.1" }, "bad-request", "flow: expected an integer 1..4294967295, got 0"],
      [{ op: "migrate.iface", from: "" }, "bad-request", "from: expected an interface name or address"],
      [{ op: "nope" }, "bad-request", "op: expected one of hello, auth, service.add"],
      [{ op: "stats", v: 2 }, "version", "unsupported protocol version 2"],
      [{ op: "stats", id: "x" }, "bad-request", 'id: expected an integer 0..2147483647, got "x"'],
    ];
    for (const [input, code, start] of cases) {
      const f = fault(typeof input === "string" ? input : req(input));
      expect(`${f.code} ${f.message}`).toStartWith(`${code} ${start}`);
      expect(f.message).not.toContain("\n");
    }
  });

  test("fuzz: arbitrary JSON values and strings are answered, never thrown", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (line) => {
        const r = decodeRequest(line);
        expect(typeof r).toBe("object");
      }),
      { numRuns: 2000 },
    );
  });

  test("fuzz: requests with arbitrary field values either decode to valid values or are refused with a message", () => {
    const anyValue = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.jsonValue());
    fc.assert(
      fc.property(fc.constantFrom(...OPS), fc.dictionary(fc.constantFrom("prefix", "target", "weight", "priority", "plugin", "flow", "to", "from"), anyValue), (op, params) => {
        const r = decodeRequest(req({ op, ...params }));
        if ("code" in r) expect(r.message.length).toBeGreaterThan(0);
        else expect(r.op).toBe(op);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("helpers", () => {
  test("the node config takes an opt-in remote listener, checked", () => {
    expect(parseConfig({ role: "router" }).management).toBeUndefined();
    expect(parseConfig({ role: "router", management: { listen: "127.0.0.1:7000", tokenFile: "/etc/serval/token" } }).management).toEqual({
      listen: "127.0.0.1:7000",
      tokenFile: "/etc/serval/token",
    });
    expect(() => parseConfig({ role: "router", management: { listen: "127.0.0.1", tokenFile: "/t" } })).toThrow("management.listen: expected IPv4:PORT");
    expect(() => parseConfig({ role: "router", management: { listen: "127.0.0.1:7000" } })).toThrow("management.tokenFile: missing");
  });

  test("checkParams is the daemon's check, for clients", () => {
    expect(checkParams("service.add", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.2:9" }, weight: 10 })).toEqual({
      prefix: "web.example/16",
      target: { type: "forward", to: "198.18.1.2:9" },
      weight: 10,
    });
    expect(checkParams("service.add", { prefix: "x/257", target: { type: "drop" } })).toStartWith("prefix: prefix length is 257");
  });

  test("locator texts round trip; socket path", () => {
    for (const t of ["198.18.1.2", "198.18.1.2:54325", "2001:db8::1", "[2001:db8::1]:80"]) {
      const l = parseLocatorText(t)!;
      expect(locatorText({ address: l.address, port: l.port ?? 0 })).toBe(t);
    }
    for (const t of ["198.18.1.2:70000", "host.example", "", "1.2.3", "[::1"]) expect(parseLocatorText(t)).toBeUndefined();
    expect(socketPath("/run/serval/")).toBe("/run/serval/mgmt.sock");
  });

  test("decodeResult refuses a reply of the wrong shape", () => {
    expect(decodeResult("migrate.flow", { moved: 1, to: "198.18.0.1" })).toEqual({ moved: 1, to: "198.18.0.1" });
    expect(typeof decodeResult("flow.ls", { flows: [{ id: "x" }] })).toBe("string");
  });
});

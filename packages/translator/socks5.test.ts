import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ServiceId } from "@serval/wire";
import {
  greetingReply,
  MAX_GREETING_LEN,
  MAX_REQUEST_LEN,
  parseGreeting,
  parseRequest,
  requestReply,
  socksConnectRequest,
  SocksReply,
} from "./socks5.ts";
import { serviceForHost } from "./service_for_host.ts";

const b = (...x: number[]) => new Uint8Array(x);

describe("parseGreeting()", () => {
  test("golden bytes", () => {
    // curl: VER 5, 2 methods: no auth, username/password.
    expect(parseGreeting(b(5, 2, 0, 2))).toEqual({ type: "ok", length: 4 });
    expect(parseGreeting(b(5, 1, 0, 5, 1, 0))).toEqual({ type: "ok", length: 3 }); // request bytes may follow
    expect(parseGreeting(b(5, 1, 2))).toEqual({ type: "no-method", length: 3 });
    expect(parseGreeting(b(5, 0))).toEqual({ type: "no-method", length: 2 });
    expect(parseGreeting(b(4, 1, 0, 80))).toEqual({ type: "bad-version", version: 4 }); // SOCKS4
    expect(parseGreeting(b(0x47, 0x45, 0x54))).toEqual({ type: "bad-version", version: 0x47 }); // "GET"
    expect(parseGreeting(b())).toEqual({ type: "more" });
    expect(parseGreeting(b(5))).toEqual({ type: "more" });
    expect(parseGreeting(b(5, 3, 1, 2))).toEqual({ type: "more" });
  });

  test("replies", () => {
    expect([...greetingReply(true)]).toEqual([5, 0]);
    expect([...greetingReply(false)]).toEqual([5, 0xff]);
  });
});

describe("parseRequest()", () => {
  test("golden bytes: CONNECT to a domain name and to an IPv4 address", () => {
    const dom = b(5, 1, 0, 3, 11, ...new TextEncoder().encode("web.example"), 0, 80);
    expect(parseRequest(dom)).toEqual({ type: "connect", length: 18, addressType: "domain", host: "web.example", port: 80 });
    expect([...socksConnectRequest("web.example", 80)]).toEqual([...dom]);
    expect(parseRequest(b(5, 1, 0, 1, 198, 18, 0, 1, 0x1f, 0x90, 0xaa))).toEqual({
      type: "connect",
      length: 10,
      addressType: "ipv4",
      host: "198.18.0.1",
      port: 8080,
    });
  });

  test("golden bytes: refusals carry the RFC 1928 reply code", () => {
    expect(parseRequest(b(5, 2, 0, 1))).toMatchObject({ type: "refuse", reply: SocksReply.commandNotSupported }); // BIND
    expect(parseRequest(b(5, 3))).toMatchObject({ type: "refuse", reply: SocksReply.commandNotSupported }); // UDP ASSOCIATE
    expect(parseRequest(b(5, 1, 0, 4))).toMatchObject({ type: "refuse", reply: SocksReply.addressTypeNotSupported, reason: "IPv6 addresses are not supported" });
    expect(parseRequest(b(5, 1, 0, 9))).toMatchObject({ type: "refuse", reply: SocksReply.addressTypeNotSupported });
    expect(parseRequest(b(5, 1, 0, 3, 0, 0, 80))).toMatchObject({ type: "refuse", reply: SocksReply.hostUnreachable });
    expect(parseRequest(b(4, 1))).toMatchObject({ type: "refuse", reply: SocksReply.generalFailure });
  });

  test("short input asks for more", () => {
    expect(parseRequest(b())).toEqual({ type: "more" });
    expect(parseRequest(b(5, 1, 0))).toEqual({ type: "more" });
    expect(parseRequest(b(5, 1, 0, 3, 5, 97))).toEqual({ type: "more" });
    expect(parseRequest(b(5, 1, 0, 1, 1, 2, 3, 4, 0))).toEqual({ type: "more" });
  });

  test("replies: 10 bytes, bound address 0.0.0.0:0", () => {
    expect([...requestReply(SocksReply.succeeded)]).toEqual([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect([...requestReply(SocksReply.connectionRefused)]).toEqual([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  test("socksConnectRequest() refuses what does not fit", () => {
    expect(() => socksConnectRequest("", 80)).toThrow(RangeError);
    expect(() => socksConnectRequest("a".repeat(256), 80)).toThrow(RangeError);
    expect(() => socksConnectRequest("a", 65536)).toThrow(RangeError);
    expect(() => socksConnectRequest("ü€", 1)).toThrow(/latin-1/);
  });
});

describe("SOCKS5 parsers under fuzzing", () => {
  const bytes = fc.uint8Array({ maxLength: 600 });

  test("any bytes: no throw; lengths within the input; 'more' only below the message maximum", () => {
    fc.assert(
      fc.property(bytes, (buf) => {
        const g = parseGreeting(buf);
        if (g.type === "ok" || g.type === "no-method") expect(g.length).toBeLessThanOrEqual(buf.length);
        if (g.type === "more") expect(buf.length).toBeLessThan(MAX_GREETING_LEN);
        const r = parseRequest(buf);
        if (r.type === "connect") {
          expect(r.length).toBeLessThanOrEqual(Math.min(buf.length, MAX_REQUEST_LEN));
          expect(r.port).toBeGreaterThanOrEqual(0);
          expect(r.port).toBeLessThanOrEqual(65535);
        }
        if (r.type === "more") expect(buf.length).toBeLessThan(MAX_REQUEST_LEN);
      }),
      { numRuns: 5000 },
    );
  });

  test("a valid request: every proper prefix asks for more; with any bytes after it, the same result", () => {
    const host = fc.string({ minLength: 1, maxLength: 255, unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) });
    fc.assert(
      fc.property(host, fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 40 }), (h, port, tail) => {
        const req = socksConnectRequest(h, port);
        const want = { type: "connect" as const, length: req.length, addressType: "domain" as const, host: h, port };
        for (let i = 0; i < req.length; i++) expect(parseRequest(req.subarray(0, i)).type).toBe("more");
        const more = new Uint8Array(req.length + tail.length);
        more.set(req);
        more.set(tail, req.length);
        expect(parseRequest(more)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  test("a valid greeting: prefixes ask for more; the verdict depends only on whether 0x00 is offered", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 255 }), (methods) => {
        const g = b(5, methods.length, ...methods);
        for (let i = 0; i < g.length; i++) expect(parseGreeting(g.subarray(0, i)).type).toBe("more");
        expect(parseGreeting(g)).toEqual({ type: methods.includes(0) ? "ok" : "no-method", length: g.length });
      }),
      { numRuns: 500 },
    );
  });
});

describe("serviceForHost(): the SOCKS name scheme", () => {
  test("the host name is the service name; '.serval' and a trailing dot are optional", () => {
    const web = ServiceId.parse("web.example");
    expect(serviceForHost("web.example").equals(web)).toBe(true);
    expect(serviceForHost("WEB.Example").equals(web)).toBe(true);
    expect(serviceForHost("web.example.serval").equals(web)).toBe(true);
    expect(serviceForHost("web.example.SERVAL.").equals(web)).toBe(true);
    expect(serviceForHost("web.example.").equals(web)).toBe(true);
  });

  test("serviceID text forms and IPv4 addresses", () => {
    expect(serviceForHost("16385").equals(ServiceId.parse("16385"))).toBe(true);
    expect(serviceForHost("0xab12").equals(ServiceId.parse("0xab12"))).toBe(true);
    expect(serviceForHost("0.0.64.1", "ipv4").equals(ServiceId.parse("16385"))).toBe(true);
    expect(serviceForHost("198.18.0.1", "ipv4").toString().slice(0, 8)).toBe("c6120001");
  });

  test("bad names are RangeErrors that quote the text", () => {
    expect(() => serviceForHost("web..example")).toThrow(/web\.\.example/);
    expect(serviceForHost("serval").equals(ServiceId.parse("serval"))).toBe(true); // a one-label name, not a suffix
    expect(() => serviceForHost("-x.example")).toThrow(RangeError);
    expect(() => serviceForHost("1.2.3", "ipv4")).toThrow(RangeError);
  });
});

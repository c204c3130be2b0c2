import { describe, expect, test } from "bun:test";
import { formatIpv4U32, Ipv4TextCache, ipv4Interfaces, maskOf, parseIpv4U32 } from "./_ipv4.ts";

describe("_ipv4", () => {
  test("parseIpv4U32 / formatIpv4U32 round trip and reject", () => {
    expect(parseIpv4U32("198.18.0.1")).toBe(0xc6120001);
    expect(parseIpv4U32("255.255.255.255")).toBe(0xffffffff);
    expect(formatIpv4U32(0xc6120001)).toBe("198.18.0.1");
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "::1", "1.2.3.4 ", "1234.1.1.1"]) expect(parseIpv4U32(bad)).toBe(-1);
  });
  test("maskOf", () => {
    expect(maskOf(0)).toBe(0);
    expect(maskOf(8)).toBe(0xff000000);
    expect(maskOf(32)).toBe(0xffffffff);
  });
  test("Ipv4TextCache stays bounded", () => {
    const c = new Ipv4TextCache(2);
    expect(c.text(0x7f000001)).toBe("127.0.0.1");
    expect(c.u32("10.0.0.1")).toBe(0x0a000001);
    for (let i = 0; i < 10; i++) c.text(i);
    expect(c.text(0x7f000001)).toBe("127.0.0.1");
  });
  test("ipv4Interfaces lists loopback with its broadcast", () => {
    const lo = ipv4Interfaces().find((f) => f.address === 0x7f000001);
    expect(lo?.prefixLen).toBe(8);
    expect(lo?.broadcast).toBe(0x7fffffff);
    expect(lo?.internal).toBe(true);
    expect(lo?.ifindex).toBe(1);
  });
});

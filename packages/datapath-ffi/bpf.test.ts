import { describe, expect, test } from "bun:test";
import { dropAllFilter, runBpf, servalFrameFilter } from "./bpf.ts";

function frame(ethertype: number, protoAt: number, proto: number): Uint8Array {
  const f = new Uint8Array(60);
  f[12] = ethertype >> 8;
  f[13] = ethertype & 255;
  f[protoAt] = proto;
  return f;
}

describe("servalFrameFilter()", () => {
  test("golden bytes: first and last instructions", () => {
    const p = servalFrameFilter();
    expect([...p.subarray(0, 8)]).toEqual([0x28, 0, 0, 0, 12, 0, 0, 0]);
    expect([...p.subarray(64, 72)]).toEqual([0x06, 0, 0, 0, 0, 0, 0, 0]);
  });
  test("keeps IPv4/144 and IPv6/144, drops the rest", () => {
    const p = servalFrameFilter();
    expect(runBpf(p, frame(0x0800, 23, 144))).toBeGreaterThan(0);
    expect(runBpf(p, frame(0x86dd, 20, 144))).toBeGreaterThan(0);
    expect(runBpf(p, frame(0x0800, 23, 6))).toBe(0);
    expect(runBpf(p, frame(0x86dd, 20, 17))).toBe(0);
    expect(runBpf(p, frame(0x0806, 23, 144))).toBe(0);
    expect(runBpf(p, frame(0x86dd, 23, 144))).toBe(0);
  });
});

describe("dropAllFilter()", () => {
  test("is ret #0", () => {
    expect([...dropAllFilter()]).toEqual([6, 0, 0, 0, 0, 0, 0, 0]);
    expect(runBpf(dropAllFilter(), frame(0x0800, 23, 144))).toBe(0);
  });
});

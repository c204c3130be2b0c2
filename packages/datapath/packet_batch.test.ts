import { describe, expect, test } from "bun:test";
import { PacketBatch } from "@serval/datapath";

const v4 = (...b: number[]) => ({ address: new Uint8Array(b), port: 0 });

describe("PacketBatch", () => {
  test("push writes addresses zero-padded and reuses a slot cleanly (IPv6 then IPv4)", () => {
    const b = new PacketBatch(2);
    const six = { address: new Uint8Array(16).fill(0xab), port: 7 };
    b.push(new Uint8Array([1, 2, 3]), 0, 3, six, six);
    b.clear();
    b.push(new Uint8Array([9, 8, 7, 6]), 1, 2, v4(198, 18, 0, 1), v4(198, 18, 0, 2));
    expect([...b.packet(0)]).toEqual([8, 7]);
    expect([...b.srcAddr.subarray(0, 16)]).toEqual([198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...b.dstAddr.subarray(0, 16)]).toEqual([198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(b.family[0]).toBe(4);
    // No source: all zero ("the datapath's choice").
    b.push(new Uint8Array([1]), 0, 1, undefined, six);
    expect([...b.srcAddr.subarray(16, 32)]).toEqual(new Array(16).fill(0));
    expect([...b.dstAddr.subarray(16, 32)]).toEqual(new Array(16).fill(0xab));
    expect([b.family[1], b.dstPort[1], b.srcPort[1]]).toEqual([6, 7, 0]);
  });

  test("srcIs/dstIs compare address, family and port without allocating locators", () => {
    const b = new PacketBatch(2);
    const a = v4(198, 18, 0, 1), c = v4(198, 18, 0, 2);
    b.push(new Uint8Array(1), 0, 1, a, c);
    expect([b.srcIs(0, a), b.dstIs(0, c), b.srcIs(0, c), b.dstIs(0, a)]).toEqual([true, true, false, false]);
    expect(b.srcIs(0, { address: a.address, port: 1 })).toBe(false);
    // An IPv6 locator never matches an IPv4 slot, even with the same leading bytes.
    const padded = new Uint8Array(16);
    padded.set(a.address);
    expect(b.srcIs(0, { address: padded, port: 0 })).toBe(false);
    expect(b.srcIs(0, b.src(0))).toBe(true);
  });
});

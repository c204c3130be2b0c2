import { describe, expect, test } from "bun:test";
import {
  decodeAddr,
  decodeError,
  decodeLink,
  decodeNeigh,
  decodeRoute,
  encodeDump,
  encodeGetNeigh,
  encodeGetRoute,
  encodeManagedNeigh,
  NLM_F_CREATE,
  NLM_F_REQUEST,
  RTM_GETADDR,
  RTM_GETLINK,
  splitMessages,
} from "./netlink.ts";

/** Builds a message: header + fixed struct + attributes (type, bytes). */
function msg(type: number, fixed: number[], attrs: [number, number[]][], seq = 9): Uint8Array {
  const parts: number[] = [...fixed];
  for (const [t, d] of attrs) {
    const len = 4 + d.length;
    parts.push(len & 255, len >> 8, t & 255, t >> 8, ...d);
    while (parts.length % 4 !== 0) parts.push(0);
  }
  const b = new Uint8Array(16 + parts.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, b.length, true);
  dv.setUint16(4, type, true);
  dv.setUint32(8, seq, true);
  b.set(parts, 16);
  return b;
}

const u32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24];

describe("encoders", () => {
  test("dump requests carry REQUEST|DUMP and the right struct size", () => {
    const l = encodeDump(RTM_GETLINK, 0, 3);
    const a = encodeDump(RTM_GETADDR, 2, 4);
    expect([l.length, a.length]).toEqual([32, 24]);
    expect(new DataView(l.buffer).getUint16(6, true)).toBe(0x301);
    expect(a[16]).toBe(2);
  });
  test("route lookup: rtmsg with dst_len 32 and RTA_DST", () => {
    const m = encodeGetRoute(new Uint8Array([198, 18, 2, 2]), 5);
    expect([...m.subarray(16, 18)]).toEqual([2, 32]);
    expect([...m.subarray(28, 36)]).toEqual([8, 0, 1, 0, 198, 18, 2, 2]);
    const m6 = encodeGetRoute(new Uint8Array(16), 6);
    expect([m6[16], m6[17], m6.length]).toEqual([10, 128, 16 + 12 + 20]);
  });
  test("neighbour lookup and managed neighbour", () => {
    const g = encodeGetNeigh(7, new Uint8Array([198, 18, 0, 1]), 1);
    expect(new DataView(g.buffer).getInt32(20, true)).toBe(7);
    const n = encodeManagedNeigh(7, new Uint8Array([198, 18, 0, 1]), 2);
    const dv = new DataView(n.buffer);
    expect(dv.getUint16(6, true) & (NLM_F_REQUEST | NLM_F_CREATE)).toBe(NLM_F_REQUEST | NLM_F_CREATE);
    expect(dv.getUint16(24, true)).toBe(0); // no NUD state: the kernel resolves
    expect([...n.subarray(36, 44)]).toEqual([8, 0, 15, 0, 1, 0, 0, 0]); // NDA_FLAGS_EXT = NTF_EXT_MANAGED
  });
});

describe("decoders", () => {
  test("splitMessages stops at a malformed length", () => {
    const a = msg(16, [0, 0, 0, 0], []);
    const b = new Uint8Array(a.length + 8);
    b.set(a);
    b[a.length] = 200; // claims more bytes than there are
    expect(splitMessages(b, b.length).length).toBe(1);
  });
  test("link", () => {
    const b = msg(16, [0, 0, 1, 0, ...u32(4), ...u32(0x10043), ...u32(0)], [
      [3, [...new TextEncoder().encode("veth0"), 0]],
      [1, [2, 0, 0, 0, 0, 7]],
      [4, u32(9000)],
    ]);
    const l = decodeLink(b, splitMessages(b, b.length)[0]!);
    expect([l.ifindex, l.name, l.flags, [...l.mac], l.mtu]).toEqual([4, "veth0", 0x10043, [2, 0, 0, 0, 0, 7], 9000]);
  });
  test("address prefers IFA_LOCAL and reads the broadcast", () => {
    const b = msg(20, [2, 24, 0, 0, ...u32(3)], [[1, [198, 18, 0, 9]], [2, [198, 18, 0, 1]], [4, [198, 18, 0, 255]]]);
    const a = decodeAddr(b, splitMessages(b, b.length)[0]!);
    expect([a.family, a.prefixLen, a.ifindex, [...a.address], [...a.broadcast!]]).toEqual([2, 24, 3, [198, 18, 0, 1], [198, 18, 0, 255]]);
  });
  test("route with gateway and preferred source", () => {
    const b = msg(24, [2, 32, 0, 0, 254, 2, 0, 1, ...u32(0)], [[4, u32(6)], [5, [198, 18, 1, 1]], [7, [198, 18, 1, 2]], [15, u32(254)]]);
    const r = decodeRoute(b, splitMessages(b, b.length)[0]!);
    expect([r.type, r.oif, [...r.gateway!], [...r.prefsrc!], r.table]).toEqual([1, 6, [198, 18, 1, 1], [198, 18, 1, 2], 254]);
  });
  test("neighbour and error", () => {
    const b = msg(28, [2, 0, 0, 0, ...u32(3), 2, 0, 0, 0], [[1, [198, 18, 0, 2]], [2, [2, 1, 2, 3, 4, 5]]]);
    const n = decodeNeigh(b, splitMessages(b, b.length)[0]!);
    expect([n.ifindex, n.state, [...n.dst!], [...n.lladdr!]]).toEqual([3, 2, [198, 18, 0, 2], [2, 1, 2, 3, 4, 5]]);
    const e = msg(2, [...u32(-101 >>> 0)], []);
    expect(decodeError(e, splitMessages(e, e.length)[0]!)).toBe(-101);
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { seqAdd, seqDiff } from "@serval/wire";
import { SendBuffer } from "./send_buffer.ts";

describe("SendBuffer", () => {
  test("write, read, acknowledge", () => {
    const sb = new SendBuffer(10, 1000);
    expect(sb.write(Uint8Array.of(1, 2, 3, 4))).toBe(4);
    expect([sb.sndUna, sb.sndEnd, sb.length, sb.free]).toEqual([1000, 1004, 4, 6]);
    const out = new Uint8Array(10);
    expect(sb.read(1001, 2, out, 5)).toBe(2);
    expect([...out.subarray(5, 7)]).toEqual([2, 3]);
    expect(sb.read(1004, 5, out, 0)).toBe(0);
    expect(sb.acknowledge(1002)).toBe(2);
    expect(sb.read(1002, 10, out, 0)).toBe(2);
    expect([...out.subarray(0, 2)]).toEqual([3, 4]);
  });

  test("backpressure when full, ring wraps internally", () => {
    const sb = new SendBuffer(4, 0);
    expect(sb.write(Uint8Array.of(1, 2, 3, 4, 5))).toBe(4);
    expect(sb.write(Uint8Array.of(9))).toBe(0);
    expect(sb.acknowledge(3)).toBe(3);
    expect(sb.write(Uint8Array.of(5, 6, 7, 8), 0, 4)).toBe(3);
    const out = new Uint8Array(4);
    expect(sb.read(3, 4, out, 0)).toBe(4);
    expect([...out]).toEqual([4, 5, 6, 7]);
  });

  test("ignores old, duplicate and too-new ACKs", () => {
    const sb = new SendBuffer(16, 100);
    sb.write(new Uint8Array(8));
    expect(sb.acknowledge(100)).toBe(0);
    expect(sb.acknowledge(99)).toBe(0);
    expect(sb.acknowledge(109)).toBe(0);
    expect(sb.acknowledge(108)).toBe(8);
    expect(sb.acknowledge(108)).toBe(0);
    expect(sb.sndUna).toBe(108);
    expect(sb.length).toBe(0);
  });

  test("works across the 2^32 wrap", () => {
    const sb = new SendBuffer(8, 0xfffffffc);
    const data = Uint8Array.of(10, 11, 12, 13, 14, 15);
    expect(sb.write(data)).toBe(6);
    expect(sb.sndEnd).toBe(2);
    const out = new Uint8Array(6);
    expect(sb.read(0xfffffffe, 4, out, 0)).toBe(4);
    expect([...out.subarray(0, 4)]).toEqual([12, 13, 14, 15]);
    expect(sb.acknowledge(1)).toBe(5);
    expect([sb.sndUna, sb.length]).toEqual([1, 1]);
    expect(sb.acknowledge(0xffffffff)).toBe(0);
  });

  test("throws RangeError on programmer errors", () => {
    expect(() => new SendBuffer(0, 0)).toThrow(RangeError);
    expect(() => new SendBuffer(2 ** 31, 0)).toThrow(RangeError);
    expect(() => new SendBuffer(8, -1)).toThrow(RangeError);
    expect(() => new SendBuffer(8, 2 ** 32)).toThrow(RangeError);
    const sb = new SendBuffer(8, 50);
    sb.write(new Uint8Array(4));
    expect(() => sb.write(new Uint8Array(2), 1, 2)).toThrow(RangeError);
    expect(() => sb.read(49, 1, new Uint8Array(1), 0)).toThrow(RangeError);
    expect(() => sb.read(55, 1, new Uint8Array(1), 0)).toThrow(RangeError);
    expect(() => sb.read(50, 4, new Uint8Array(3), 0)).toThrow(RangeError);
    expect(() => sb.read(50, 4, new Uint8Array(4), 1)).toThrow(/Cannot read SendBuffer/);
  });

  test("the ring grows while wrapped and keeps every byte in order", () => {
    const sb = new SendBuffer(16, 0, 4);
    sb.write(new Uint8Array([1, 2, 3, 4]));
    sb.acknowledge(2); // head moves to 2
    sb.write(new Uint8Array([5, 6])); // wraps around the 4-byte ring
    expect(sb.write(new Uint8Array([7, 8, 9]))).toBe(3); // grows while wrapped
    const out = new Uint8Array(8);
    expect(sb.read(2, 8, out, 0)).toBe(7);
    expect([...out.subarray(0, 7)]).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  test("matches an array model under random write/read/acknowledge (property)", () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant("w" as const), n: fc.integer({ min: 0, max: 40 }), v: fc.nat(255) }),
      fc.record({ k: fc.constant("r" as const), at: fc.nat(100), n: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ k: fc.constant("a" as const), d: fc.integer({ min: -20, max: 60 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.oneof(fc.constant(0xffffffe0), fc.nat(0xffffffff)),
        fc.array(op, { maxLength: 80 }),
        fc.integer({ min: 1, max: 12 }),
        (cap, iss, ops, initialSize) => {
          // Small initial sizes make the ring grow (and re-lay out) under the model.
          const sb = new SendBuffer(cap, iss, initialSize);
          let una = iss;
          let model: number[] = [];
          let counter = 0;
          const out = new Uint8Array(64);
          for (const o of ops) {
            if (o.k === "w") {
              const data = new Uint8Array(o.n);
              for (let i = 0; i < o.n; i++) data[i] = (o.v + counter++) & 0xff;
              const took = sb.write(data);
              expect(took).toBe(Math.min(o.n, cap - model.length));
              model.push(...data.subarray(0, took));
            } else if (o.k === "r") {
              const d = model.length === 0 ? 0 : o.at % (model.length + 1);
              const n = sb.read(seqAdd(una, d), o.n, out, 0);
              expect(n).toBe(Math.min(o.n, model.length - d));
              expect([...out.subarray(0, n)]).toEqual(model.slice(d, d + n));
            } else {
              const ack = seqAdd(una, o.d);
              const freed = sb.acknowledge(ack);
              const expected = o.d > 0 && o.d <= model.length ? o.d : 0;
              expect(freed).toBe(expected);
              model = model.slice(expected);
              una = seqAdd(una, expected);
            }
            expect([sb.sndUna, sb.length, sb.free]).toEqual([una, model.length, cap - model.length]);
            expect(seqDiff(sb.sndEnd, sb.sndUna)).toBe(model.length);
          }
        },
      ),
      { seed: 1, numRuns: 300 },
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  CONTROL_SERVICE,
  type ControlMessage,
  decodeControl,
  encodeControl,
  type Locator,
  ServiceId,
  ServicePrefix,
} from "./mod.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

describe("control messages", () => {
  test("golden: a register of 16385/32 at 198.18.0.5 and [2001:db8::1]:54325", () => {
    const bytes = encodeControl({
      type: "register",
      seq: 0x01020304,
      lifetimeMs: 3000,
      services: [{ prefix: ServicePrefix.parse("16385/32"), priority: 1, weight: 10 }],
      locators: [
        { address: new Uint8Array([198, 18, 0, 5]), port: 0 },
        { address: new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]), port: 54325 },
      ],
    });
    expect(hex(bytes)).toBe(
      "01" + "01" + "0054" + "01020304" + // ver, type register, length 84, seq
        "00000bb8" + "01" + "02" + "0000" + // lifetime 3000 ms, 1 service, 2 locators
        "0020" + "0001" + "000a" + "0000" + // /32, priority 1, weight 10
        "00004001" + "00".repeat(28) + // serviceID 16385
        "04" + "00" + "0000" + "c6120005" + // IPv4, port 0
        "06" + "00" + "d435" + "20010db8" + "00".repeat(11) + "01", // IPv6, port 54325
    );
    const m = decodeControl(bytes, 0, bytes.length);
    if (typeof m === "string" || m.type !== "register") throw new Error(String(m));
    expect(m.services[0]!.prefix.toString()).toBe("16385/32");
    expect(m.locators.map((l) => l.port)).toEqual([0, 54325]);
  });

  test("golden: a router announcement and an ack", () => {
    const a = encodeControl({
      type: "router-announce",
      seq: 9,
      lifetimeMs: 3000,
      bootId: 0xdeadbeef,
      priority: 5,
      locators: [{ address: new Uint8Array([198, 18, 1, 1]), port: 0 }],
    });
    expect(hex(a)).toBe("01" + "06" + "001c" + "00000009" + "00000bb8" + "deadbeef" + "0005" + "01" + "00" + "04000000c6120101");
    expect(hex(encodeControl({ type: "register-ack", seq: 9, lifetimeMs: 3000, ok: true }))).toBe(
      "01030010" + "00000009" + "00000bb8" + "00000000",
    );
  });

  test("the control service is the name control.serval", () => {
    expect(CONTROL_SERVICE.equals(ServiceId.fromName("control.serval"))).toBe(true);
  });

  test("bad input: wrong lengths, families, prefixes, weights are reasons, not exceptions", () => {
    const reg = encodeControl({
      type: "register",
      seq: 1,
      lifetimeMs: 1,
      services: [{ prefix: ServicePrefix.parse("1/32"), priority: 0, weight: 1 }],
      locators: [{ address: new Uint8Array(4), port: 0 }],
    });
    const mutate = (at: number, v: number) => {
      const b = reg.slice();
      b[at] = v;
      return decodeControl(b, 0, b.length);
    };
    expect(decodeControl(reg, 0, reg.length - 1)).toBe("truncated");
    expect(mutate(3, reg.length - 1)).toBe("truncated"); // length field says less than the locators need
    expect(mutate(16, 0x01)).toBe("bad-length"); // prefix 0x0120 = 288 bits
    expect(mutate(21, 0)).toBe("bad-length"); // weight 0 (low byte; high byte is 0)
    expect(mutate(8 + 8 + 8 + 31, 1)).toBe("bad-address"); // a bit set beyond /32
    expect(mutate(reg.length - 8, 5)).toBe("bad-address"); // family 5
    expect(mutate(13, 2)).toBe("truncated"); // claims 2 locators
    expect(() => encodeControl({ type: "register", seq: 1, lifetimeMs: 1, services: [{ prefix: ServicePrefix.DEFAULT, priority: 0, weight: 0 }], locators: [] }))
      .toThrow(RangeError);
    expect(() => encodeControl({ type: "router-solicit", seq: -1 })).toThrow(RangeError);
  });

  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const u16 = fc.integer({ min: 0, max: 0xffff });
  const locator: fc.Arbitrary<Locator> = fc.record({
    address: fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
    port: u16,
  });
  const entry = fc.record({
    prefix: fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 256 }))
      .map(([b, bits]) => ServicePrefix.of(ServiceId.fromBytes(b), bits)),
    priority: u16,
    weight: fc.integer({ min: 1, max: 0xffff }),
  });
  const record = fc.record({
    seq: u32,
    lifetimeMs: u32,
    services: fc.array(entry, { maxLength: 6 }),
    locators: fc.array(locator, { maxLength: 6 }),
  });
  const sid = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => ServiceId.fromBytes(b));
  const message: fc.Arbitrary<ControlMessage> = fc.oneof(
    record.map((r) => ({ type: "register" as const, ...r })),
    record.map((r) => ({ type: "unregister" as const, ...r })),
    record.map((r) => ({ type: "resolve-reply" as const, ...r })),
    record.map((r) => ({ type: "service-advertise" as const, ...r })),
    fc.record({ seq: u32, lifetimeMs: u32, ok: fc.boolean() }).map((r) => ({ type: "register-ack" as const, ...r })),
    fc.record({ seq: u32, serviceId: sid }).map((r) => ({ type: "resolve" as const, ...r })),
    fc.record({ seq: u32, serviceId: sid }).map((r) => ({ type: "service-solicit" as const, ...r })),
    fc.record({ seq: u32, lifetimeMs: u32, bootId: u32, priority: u16, locators: fc.array(locator, { maxLength: 5 }) })
      .map((r) => ({ type: "router-announce" as const, ...r })),
    u32.map((seq) => ({ type: "router-solicit" as const, seq })),
  );
  const canon = (m: ControlMessage | string) => JSON.stringify(m, (_k, v) => v instanceof ServiceId || v instanceof ServicePrefix ? v.toString() : v instanceof Uint8Array ? [...v] : v);

  test("every message round-trips (property)", () => {
    fc.assert(fc.property(message, (m) => {
      const b = encodeControl(m);
      expect(canon(decodeControl(b, 0, b.length))).toBe(canon(m));
    }), { seed: 3, numRuns: 500 });
  });

  test("random and mutated bytes never throw (property)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      decodeControl(b, 0, b.length);
    }), { seed: 4, numRuns: 2000 });
    fc.assert(fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, at, v) => {
      const b = encodeControl(m);
      b[at % b.length] = v;
      const r = decodeControl(b, 0, b.length);
      if (typeof r !== "string") encodeControl(r); // whatever decodes can be encoded again
    }), { seed: 5, numRuns: 2000 });
  });
});

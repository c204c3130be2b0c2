import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { ServiceId, ServicePrefix } from "./service_id.ts";

const hex = (s: string) => s.padEnd(64, "0");
const h4 = (label: string) => createHash("sha256").update(label).digest("hex").slice(0, 8);

describe("ServiceId.parse()", () => {
  test("64 hex digits", () => {
    const t = "0123456789abcdef".repeat(4);
    expect(ServiceId.parse(t).toString()).toBe(t);
    expect(ServiceId.parse(t.toUpperCase()).toString()).toBe(t);
  });

  test("0x hex is left-aligned: the leading digits of the 64-digit form", () => {
    expect(ServiceId.parse("0xab12").toString()).toBe(hex("ab12"));
    expect(ServiceId.parse("0x5").toString()).toBe(hex("5"));
    expect(ServiceId.parse("0X" + "f".repeat(64)).toString()).toBe("f".repeat(64));
  });

  test("decimal N is big-endian in bytes 0-3 (the 2012 convention)", () => {
    expect(ServiceId.parse("16385").toString()).toBe(hex("00004001"));
    expect(ServiceId.parse("4294967295").toString()).toBe(hex("ffffffff"));
    expect(ServiceId.parse("16385").firstWord()).toBe(16385);
  });

  test("default is all zero", () => {
    expect(ServiceId.parse("default").toString()).toBe(hex(""));
    expect(ServiceId.parse("0").isDefault()).toBe(true);
  });

  test("names map hierarchically, most significant label first", () => {
    // bytes 0-3: SHA-256("example")[0..4], bytes 4-7: SHA-256("web")[0..4], rest zero.
    expect(ServiceId.parse("web.example").toString()).toBe(hex(h4("example") + h4("web")));
    // More than three labels: the remaining labels, joined, fill bytes 8-11.
    expect(ServiceId.parse("a.b.web.example").toString()).toBe(hex(h4("example") + h4("web") + h4("a.b")));
    expect(ServiceId.parse("Web.EXAMPLE").equals(ServiceId.parse("web.example"))).toBe(true);
    // Bytes 12-31 stay zero: reserved for the self-certifying part.
    expect(ServiceId.parse("x.y.z.w.v").bytes.subarray(12).every((b) => b === 0)).toBe(true);
  });

  test("invalid text gives a RangeError that quotes the input", () => {
    for (const bad of ["", "0x", "0xg1", "0x" + "1".repeat(65), "4294967296", "web..example", "-web", "web_x", "default.", "1".repeat(64) + "0", "00000000001"]) {
      expect(() => ServiceId.parse(bad)).toThrow(RangeError);
      try {
        ServiceId.parse(bad);
      } catch (e) {
        expect((e as Error).message).toContain(`"${bad}"`);
        expect((e as Error).message.startsWith("Cannot parse")).toBe(true);
      }
    }
  });
});

describe("ServiceId", () => {
  test("fromBytes copies and is immutable", () => {
    const b = new Uint8Array(32);
    const id = ServiceId.fromBytes(b);
    b[0] = 1;
    expect(id.isDefault()).toBe(true);
    id.bytes[0] = 1;
    expect(id.isDefault()).toBe(true);
    expect(() => ServiceId.fromBytes(new Uint8Array(31))).toThrow(RangeError);
  });

  test("bit access, MSB of byte 0 first", () => {
    const id = ServiceId.parse("0x80" + "0".repeat(61) + "1");
    expect(id.bit(0)).toBe(1);
    expect(id.bit(1)).toBe(0);
    expect(id.bit(255)).toBe(1);
  });

  test("commonPrefixLength and compare", () => {
    const a = ServiceId.parse("0xff00");
    const b = ServiceId.parse("0xff80");
    expect(a.commonPrefixLength(b)).toBe(8);
    expect(a.commonPrefixLength(a)).toBe(256);
    expect(a.compare(b) < 0).toBe(true);
    expect(b.compare(a) > 0).toBe(true);
  });

  test("toShortString round-trips", () => {
    for (const t of ["default", "16385", "web.example"]) {
      const id = ServiceId.parse(t);
      expect(ServiceId.parse(id.toShortString()).equals(id)).toBe(true);
    }
  });

  test("toString round-trips (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
        const id = ServiceId.fromBytes(b);
        expect(ServiceId.parse(id.toString()).equals(id)).toBe(true);
        expect(ServiceId.parse(id.toShortString()).equals(id)).toBe(true);
      }),
      { seed: 5, numRuns: 500 },
    );
  });
});

describe("ServicePrefix", () => {
  test("parse /N and :N; names, numbers, hex, default", () => {
    expect(ServicePrefix.parse("web.example/16").bits).toBe(16);
    expect(ServicePrefix.parse("16385:32").toString()).toBe("16385/32");
    expect(ServicePrefix.parse("0xab/8").id.toString()).toBe(hex("ab"));
    expect(ServicePrefix.parse("web.example").bits).toBe(256);
    expect(ServicePrefix.parse("default").bits).toBe(0);
    expect(ServicePrefix.parse("default/256").bits).toBe(0);
  });

  test("masks the ID to the prefix", () => {
    expect(ServicePrefix.parse("0xffff/12").id.toString()).toBe(hex("fff0"));
    expect(ServicePrefix.parse("0xffff/0").id.isDefault()).toBe(true);
  });

  test("bad prefix lengths are RangeErrors quoting the input", () => {
    for (const bad of ["web.example/300", "web.example/", "web.example/x", "1/-1", "1/8/8"]) {
      expect(() => ServicePrefix.parse(bad)).toThrow(RangeError);
      try {
        ServicePrefix.parse(bad);
      } catch (e) {
        expect((e as Error).message).toContain(`"${bad}"`);
      }
    }
    expect(() => ServicePrefix.of(ServiceId.DEFAULT, 257)).toThrow(RangeError);
  });

  test("contains and covers follow the name hierarchy", () => {
    const example = ServicePrefix.parse("example/32");
    expect(example.contains(ServiceId.parse("web.example"))).toBe(true);
    expect(example.contains(ServiceId.parse("mail.example"))).toBe(true);
    expect(example.contains(ServiceId.parse("web.other"))).toBe(false);
    expect(example.covers(ServicePrefix.parse("web.example/64"))).toBe(true);
    expect(ServicePrefix.parse("web.example/64").covers(example)).toBe(false);
    expect(ServicePrefix.DEFAULT.covers(example)).toBe(true);
  });

  test("contains agrees with a bitwise definition (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 256 }),
        (a, b, bits) => {
          const p = ServicePrefix.of(ServiceId.fromBytes(a), bits);
          const id = ServiceId.fromBytes(b);
          let same = true;
          for (let i = 0; i < bits; i++) if (p.id.bit(i) !== id.bit(i)) same = false;
          expect(p.contains(id)).toBe(same);
          expect(p.contains(ServiceId.fromBytes(a))).toBe(true);
        },
      ),
      { seed: 3, numRuns: 500 },
    );
  });
});

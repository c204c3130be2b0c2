import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { formatIp, formatIpv4, formatIpv6, parseIp, parseIpv4, parseIpv6 } from "./ip_address.ts";

const FC = { seed: 1, numRuns: 500 } as const;

function bytes(a: Uint8Array): number[] {
  return [...a];
}

describe("parseIpv4()", () => {
  test("parses dotted quads", () => {
    expect(bytes(parseIpv4("198.18.0.1"))).toEqual([198, 18, 0, 1]);
    expect(bytes(parseIpv4("0.0.0.0"))).toEqual([0, 0, 0, 0]);
    expect(bytes(parseIpv4("255.255.255.255"))).toEqual([255, 255, 255, 255]);
  });

  test("refuses malformed text with a message quoting the input", () => {
    expect(() => parseIpv4("1.2.3")).toThrow(
      new RangeError('Cannot parse IPv4 address "1.2.3": expected 4 decimal octets'),
    );
    expect(() => parseIpv4("1.2.3.256")).toThrow(
      new RangeError('Cannot parse IPv4 address "1.2.3.256": octet 256 is greater than 255'),
    );
    expect(() => parseIpv4("1.2.3.04")).toThrow(
      new RangeError('Cannot parse IPv4 address "1.2.3.04": octet "04" has a leading zero'),
    );
    for (const t of ["", "1.2.3.4.5", "1..3.4", "1.2.3.4 ", " 1.2.3.4", "0x7f.0.0.1", "127.1", "1.2.3.-4", "1.2.3.1000", "a.b.c.d", "::1"]) {
      expect(() => parseIpv4(t)).toThrow(RangeError);
    }
  });
});

describe("formatIpv4()", () => {
  test("formats at an offset", () => {
    const b = new Uint8Array([9, 9, 10, 0, 0, 1]);
    expect(formatIpv4(b, 2)).toBe("10.0.0.1");
  });

  test("throws when the buffer is short", () => {
    expect(() => formatIpv4(new Uint8Array(3))).toThrow(RangeError);
    expect(() => formatIpv4(new Uint8Array(6), 3)).toThrow(RangeError);
  });
});

describe("parseIpv6()", () => {
  const cases: [string, string][] = [
    ["2001:db8::1", "20010db8000000000000000000000001"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "20010db8000000000000000000000001"],
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["fe80::1:2", "fe800000000000000000000000010002"],
    ["::ffff:198.18.0.1", "00000000000000000000ffffc6120001"],
    ["::198.18.0.1", "000000000000000000000000c6120001"],
    ["1:2:3:4:5:6:198.18.0.1", "000100020003000400050006c6120001"],
    ["1::6:198.18.0.1", "000100000000000000000006c6120001"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
  ];
  for (const [text, hex] of cases) {
    test(`parses ${text}`, () => {
      expect(Buffer.from(parseIpv6(text)).toString("hex")).toBe(hex);
    });
  }

  test("refuses malformed text with a message quoting the input", () => {
    expect(() => parseIpv6("1:2:3:4:5:6:7")).toThrow(
      new RangeError('Cannot parse IPv6 address "1:2:3:4:5:6:7": expected 8 groups, found 7'),
    );
    expect(() => parseIpv6("1::2::3")).toThrow(
      new RangeError('Cannot parse IPv6 address "1::2::3": expected at most one "::"'),
    );
    expect(() => parseIpv6("12345::")).toThrow(
      new RangeError('Cannot parse IPv6 address "12345::": group "12345" is not 1 to 4 hex digits'),
    );
    expect(() => parseIpv6("fe80::1%eth0")).toThrow(
      new RangeError('Cannot parse IPv6 address "fe80::1%eth0": zone identifiers are not supported'),
    );
    const bad = [
      "",
      ":",
      ":::",
      "1:::2",
      ":1::",
      "::1:",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "1:2:3:4::5:6:7:8",
      "g::1",
      "1.2.3.4",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "::1.2.3",
      "::1.2.3.256",
      "::01.2.3.4",
      "1:2:3:4:5:6:7:1.2.3.4",
      "[::1]",
      "::1/128",
      " ::1",
    ];
    for (const t of bad) expect(() => parseIpv6(t)).toThrow(RangeError);
  });
});

describe("parseIpv6() property", () => {
  test("any RFC 4291 spelling of an address parses to its bytes", () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    const spelling = fc.record({
      groups: fc.array(group, { minLength: 8, maxLength: 8 }),
      pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
      upper: fc.boolean(),
      compress: fc.boolean(),
      mixed: fc.boolean(),
      runPick: fc.nat(),
    });
    fc.assert(
      fc.property(spelling, ({ groups, pad, upper, compress, mixed, runPick }) => {
        const a = new Uint8Array(16);
        groups.forEach((g, i) => {
          a[2 * i] = g >> 8;
          a[2 * i + 1] = g & 0xff;
        });
        let parts = groups.map((g, i) => {
          const h = g.toString(16);
          const t = "0".repeat(Math.min(pad[i]!, 4 - h.length)) + h;
          return upper ? t.toUpperCase() : t;
        });
        if (mixed) parts = [...parts.slice(0, 6), `${a[12]}.${a[13]}.${a[14]}.${a[15]}`];
        const words = parts.map((p) => (p.includes(".") ? 2 : 1));
        // Pick any run of zero groups (not only the longest) to compress.
        const runs: [number, number][] = [];
        for (let i = 0; i < parts.length; i++) {
          if (parts[i]!.includes(".") || parseInt(parts[i]!, 16) !== 0) continue;
          let j = i;
          while (j < parts.length && !parts[j]!.includes(".") && parseInt(parts[j]!, 16) === 0) j++;
          for (let k = i; k < j; k++) for (let l = k + 1; l <= j; l++) runs.push([k, l]);
          i = j;
        }
        let text = parts.join(":");
        if (compress && runs.length > 0) {
          const [k, l] = runs[runPick % runs.length]!;
          text = `${parts.slice(0, k).join(":")}::${parts.slice(l).join(":")}`;
        }
        expect(words.reduce((x, y) => x + y, 0)).toBe(8);
        expect(bytes(parseIpv6(text))).toEqual(bytes(a));
      }),
      FC,
    );
  });
});

describe("formatIpv6()", () => {
  // RFC 5952 §4 rules, with its own examples where it gives them.
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"], // §4.1 leading zeros, §4.2.1 longest run
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"], // §4.2.1
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // §4.2.2: one zero group is not compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // §4.2.3: the longest run
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // §4.2.3: first run on a tie
    ["2001:DB8::ABCD", "2001:db8::abcd"], // §4.3 lowercase
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["::ffff:c612:1", "::ffff:198.18.0.1"], // §5 IPv4-mapped
    ["::ffff:0:0", "::ffff:0.0.0.0"],
    ["::c612:1", "::c612:1"], // IPv4-compatible (deprecated): no mixed notation
    ["0:0:0:0:1:ffff:c612:1", "::1:ffff:c612:1"],
  ];
  for (const [input, canonical] of cases) {
    test(`formats ${input} as ${canonical}`, () => {
      expect(formatIpv6(parseIpv6(input))).toBe(canonical);
    });
  }

  test("formats at an offset", () => {
    const b = new Uint8Array(20);
    b[3] = 0x20;
    b[4] = 0x01;
    b[18] = 1;
    expect(formatIpv6(b, 3)).toBe("2001::1");
  });

  test("throws when the buffer is short", () => {
    expect(() => formatIpv6(new Uint8Array(15))).toThrow(RangeError);
  });

  test("property: parse(format(a)) == a and format is idempotent", () => {
    // Bias toward zero groups so that "::" placement is exercised.
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const a = new Uint8Array(16);
        groups.forEach((g, i) => {
          a[2 * i] = g >> 8;
          a[2 * i + 1] = g & 0xff;
        });
        const text = formatIpv6(a);
        expect(bytes(parseIpv6(text))).toEqual(bytes(a));
        expect(formatIpv6(parseIpv6(text))).toBe(text);
        expect(text).not.toMatch(/[A-F]|(^|:)0[0-9a-f]/);
        expect(text.split("::").length).toBeLessThanOrEqual(2);
      }),
      FC,
    );
  });
});

describe("parseIp() / formatIp()", () => {
  test("picks the family from the text and the byte length", () => {
    expect(parseIp("10.0.0.1").length).toBe(4);
    expect(parseIp("::1").length).toBe(16);
    expect(formatIp(parseIp("10.0.0.1"))).toBe("10.0.0.1");
    expect(formatIp(parseIp("2001:DB8:0::1"))).toBe("2001:db8::1");
  });

  test("formatIp refuses other lengths", () => {
    expect(() => formatIp(new Uint8Array(5))).toThrow(
      new RangeError("Cannot format IP address: expected 4 or 16 bytes, got 5"),
    );
  });

  test("property: IPv4 round trip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (a) => {
        expect(bytes(parseIp(formatIp(a)))).toEqual(bytes(a));
      }),
      FC,
    );
  });

  test("property: arbitrary text either parses or throws RangeError", () => {
    const chars = fc.constantFrom(..."0123456789abcdefABCDEF:.%x ".split(""));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 45 }).map((c) => c.join("")), (t) => {
        try {
          const a = parseIp(t);
          expect([4, 16]).toContain(a.length);
          // Whatever parses formats and parses back to the same bytes.
          expect(bytes(parseIp(formatIp(a)))).toEqual(bytes(a));
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
        }
      }),
      FC,
    );
  });
});

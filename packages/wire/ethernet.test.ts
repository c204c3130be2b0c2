import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  BROADCAST_MAC,
  emitEthernet,
  ETHERNET_HEADER_LEN,
  ethernetHeaderLen,
  type EthernetRepr,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  formatMac,
  parseEthernet,
  parseMac,
  readEthernetDst,
  readEthernetEthertype,
  readEthernetSrc,
  writeEthernetDst,
  writeEthernetEthertype,
  writeEthernetSrc,
} from "./ethernet.ts";

const FC = { seed: 1, numRuns: 500 } as const;

// One broadcast frame header, from 02:00:00:00:00:01, carrying IPv4.
// prettier-ignore
const FRAME_BYTES = new Uint8Array([
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // [0..5]   dst ff:ff:ff:ff:ff:ff (broadcast)
  0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // [6..11]  src 02:00:00:00:00:01 (locally administered, unicast)
  0x08, 0x00, //                         [12..13] EtherType 0x0800 = IPv4
]);

const REPR: EthernetRepr = {
  dst: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
  src: new Uint8Array([0x02, 0, 0, 0, 0, 0x01]),
  ethertype: ETHERTYPE_IPV4,
};

function bytes(a: Uint8Array): number[] {
  return [...a];
}

describe("constants", () => {
  test("values", () => {
    expect(ETHERNET_HEADER_LEN).toBe(14);
    expect([ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6]).toEqual([0x0800, 0x0806, 0x86dd]);
    expect(bytes(BROADCAST_MAC)).toEqual([255, 255, 255, 255, 255, 255]);
  });
});

describe("Ethernet views", () => {
  test("read the golden frame", () => {
    expect(formatMac(readEthernetDst(FRAME_BYTES, 0))).toBe("ff:ff:ff:ff:ff:ff");
    expect(formatMac(readEthernetSrc(FRAME_BYTES, 0))).toBe("02:00:00:00:00:01");
    expect(readEthernetEthertype(FRAME_BYTES, 0)).toBe(0x0800);
  });

  test("write the golden frame", () => {
    const b = new Uint8Array(14);
    writeEthernetDst(b, 0, BROADCAST_MAC);
    writeEthernetSrc(b, 0, parseMac("02:00:00:00:00:01"));
    writeEthernetEthertype(b, 0, ETHERTYPE_IPV4);
    expect(bytes(b)).toEqual(bytes(FRAME_BYTES));
  });

  test("read at an offset; dst/src views alias the buffer", () => {
    const b = new Uint8Array(17);
    b.set(FRAME_BYTES, 3);
    const src = readEthernetSrc(b, 3);
    expect(formatMac(src)).toBe("02:00:00:00:00:01");
    b[3 + 11] = 7;
    expect(src[5]).toBe(7);
  });
});

describe("parseEthernet()", () => {
  test("parses the golden frame", () => {
    expect(parseEthernet(FRAME_BYTES, 0)).toStrictEqual(REPR);
  });

  test("copies the MACs (the repr never aliases the buffer)", () => {
    const b = FRAME_BYTES.slice();
    const r = parseEthernet(b, 0) as EthernetRepr;
    b.fill(0);
    expect(formatMac(r.src)).toBe("02:00:00:00:00:01");
  });

  test("ignores bytes after the header", () => {
    const b = new Uint8Array(20);
    b.set(FRAME_BYTES, 2);
    expect(parseEthernet(b, 2)).toStrictEqual(REPR);
  });

  test("truncated at every length below 14", () => {
    for (let n = 0; n < 14; n++) {
      expect(parseEthernet(FRAME_BYTES, 0, n)).toBe("truncated");
      expect(parseEthernet(FRAME_BYTES.subarray(0, n), 0)).toBe("truncated");
    }
    // `len` beyond the buffer does not read past it.
    expect(parseEthernet(FRAME_BYTES.subarray(0, 13), 0, 100)).toBe("truncated");
  });

  test("bad-ethertype: an 802.3 length field", () => {
    const b = FRAME_BYTES.slice();
    b[12] = 0x05;
    b[13] = 0xdc; // 1500: an IEEE 802.3 length
    expect(parseEthernet(b, 0)).toBe("bad-ethertype");
    b[13] = 0xff; // 0x05ff: undefined
    expect(parseEthernet(b, 0)).toBe("bad-ethertype");
    b[12] = 0x06;
    b[13] = 0x00; // 0x0600: the smallest EtherType
    expect(parseEthernet(b, 0)).toMatchObject({ ethertype: 0x0600 });
  });
});

describe("emitEthernet()", () => {
  test("emits the golden frame", () => {
    const b = new Uint8Array(14);
    expect(emitEthernet(REPR, b, 0)).toBe(14);
    expect(bytes(b)).toEqual(bytes(FRAME_BYTES));
    expect(ethernetHeaderLen(REPR)).toBe(14);
  });

  test("emits at an offset and leaves other bytes alone", () => {
    const b = new Uint8Array(16).fill(0xaa);
    emitEthernet(REPR, b, 1);
    expect(b[0]).toBe(0xaa);
    expect(b[15]).toBe(0xaa);
    expect(bytes(b.subarray(1, 15))).toEqual(bytes(FRAME_BYTES));
  });

  test("throws RangeError on programmer errors", () => {
    expect(() => emitEthernet(REPR, new Uint8Array(13), 0)).toThrow(
      new RangeError("Cannot emit Ethernet header: needs 14 bytes at offset 0, buffer has 13"),
    );
    expect(() => emitEthernet({ ...REPR, dst: new Uint8Array(5) }, new Uint8Array(14), 0)).toThrow(RangeError);
    expect(() => emitEthernet({ ...REPR, src: new Uint8Array(7) }, new Uint8Array(14), 0)).toThrow(RangeError);
    expect(() => emitEthernet({ ...REPR, ethertype: 1500 }, new Uint8Array(14), 0)).toThrow(
      new RangeError("Cannot emit Ethernet header: EtherType is 1500, must be 0x0600..0xffff"),
    );
    expect(() => emitEthernet({ ...REPR, ethertype: 0x10000 }, new Uint8Array(14), 0)).toThrow(RangeError);
  });
});

describe("formatMac() / parseMac()", () => {
  test("formats lowercase with colons", () => {
    expect(formatMac(new Uint8Array([0, 0x1b, 0x21, 0xab, 0xcd, 0xef]))).toBe("00:1b:21:ab:cd:ef");
    expect(formatMac(FRAME_BYTES, 6)).toBe("02:00:00:00:00:01");
    expect(() => formatMac(new Uint8Array(5))).toThrow(RangeError);
  });

  test("parses colons or dashes, either case", () => {
    expect(bytes(parseMac("00:1B:21:ab:cd:EF"))).toEqual([0, 0x1b, 0x21, 0xab, 0xcd, 0xef]);
    expect(bytes(parseMac("00-1b-21-ab-cd-ef"))).toEqual([0, 0x1b, 0x21, 0xab, 0xcd, 0xef]);
  });

  test("refuses malformed text", () => {
    expect(() => parseMac("00:1b:21:ab:cd")).toThrow(
      new RangeError('Cannot parse MAC address "00:1b:21:ab:cd": expected 6 hex octets separated by ":" or "-"'),
    );
    for (const t of ["", "00:1b:21:ab:cd:ef:01", "00-1b:21:ab:cd:ef", "0:1b:21:ab:cd:ef", "00:1b:21:ab:cd:eg", "001b21abcdef"]) {
      expect(() => parseMac(t)).toThrow(RangeError);
    }
  });

  test("property: parseMac(formatMac(m)) == m", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (m) => {
        expect(bytes(parseMac(formatMac(m)))).toEqual(bytes(m));
      }),
      FC,
    );
  });
});

describe("Ethernet properties", () => {
  const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
  const repr: fc.Arbitrary<EthernetRepr> = fc.record({
    dst: mac,
    src: mac,
    ethertype: fc.integer({ min: 0x0600, max: 0xffff }),
  });

  test("parse(emit(r)) deep-equals r", () => {
    fc.assert(
      fc.property(repr, fc.nat(8), (r, off) => {
        const b = new Uint8Array(off + 14);
        expect(emitEthernet(r, b, off)).toBe(14);
        expect(parseEthernet(b, off)).toStrictEqual(r);
      }),
      FC,
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.integer({ min: -2, max: 40 }), fc.integer({ min: -2, max: 40 }), (b, off, len) => {
        const r = parseEthernet(b, off, len);
        expect(["string", "object"]).toContain(typeof r);
      }),
      FC,
    );
  });

  test("single-byte mutations never throw", () => {
    fc.assert(
      fc.property(repr, fc.nat(13), fc.integer({ min: 1, max: 255 }), (r, i, x) => {
        const b = new Uint8Array(14);
        emitEthernet(r, b, 0);
        b[i]! ^= x;
        const p = parseEthernet(b, 0);
        expect(["string", "object"]).toContain(typeof p);
      }),
      FC,
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  emitIpv6Header,
  IPV6_HEADER_LEN,
  ipv6HeaderLen,
  type Ipv6Repr,
  NEXT_HEADER_SERVAL,
  parseIpv6Header,
  readIpv6Dst,
  readIpv6FlowLabel,
  readIpv6HopLimit,
  readIpv6NextHeader,
  readIpv6PayloadLen,
  readIpv6Src,
  readIpv6TrafficClass,
  readIpv6Version,
  writeIpv6Dst,
  writeIpv6FlowLabel,
  writeIpv6HopLimit,
  writeIpv6NextHeader,
  writeIpv6PayloadLen,
  writeIpv6Src,
  writeIpv6TrafficClass,
  writeIpv6Version,
} from "./ipv6.ts";

const FC = { seed: 1, numRuns: 500 } as const;

// A SAL-over-IPv6 packet: 2001:db8::1 -> 2001:db8::2, 4 payload bytes.
// prettier-ignore
const PACKET_BYTES = new Uint8Array([
  // 32-bit word: version 6 (4 bits) | traffic class 0xb8 (DSCP 46 << 2, ECN 0) | flow label 0x12345
  //   = 0110 1011 1000 0001 0010 0011 0100 0101 = 0x6b812345
  0x6b, 0x81, 0x23, 0x45,
  0x00, 0x04, //            payload length 4
  0x90, //                  next header 144 = NEXT_HEADER_SERVAL
  0x40, //                  hop limit 64
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // source 2001:db8::1
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // destination 2001:db8::2
  0xde, 0xad, 0xbe, 0xef, // payload
]);

const SRC = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const DST = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

const REPR: Ipv6Repr = {
  src: SRC,
  dst: DST,
  nextHeader: NEXT_HEADER_SERVAL,
  hopLimit: 64,
  payloadLen: 4,
  trafficClass: 0xb8,
  flowLabel: 0x12345,
};

function bytes(a: Uint8Array): number[] {
  return [...a];
}

describe("IPv6 views", () => {
  test("read the golden packet", () => {
    const b = PACKET_BYTES;
    expect(readIpv6Version(b, 0)).toBe(6);
    expect(readIpv6TrafficClass(b, 0)).toBe(0xb8);
    expect(readIpv6FlowLabel(b, 0)).toBe(0x12345);
    expect(readIpv6PayloadLen(b, 0)).toBe(4);
    expect(readIpv6NextHeader(b, 0)).toBe(NEXT_HEADER_SERVAL);
    expect(readIpv6HopLimit(b, 0)).toBe(64);
    expect(bytes(readIpv6Src(b, 0))).toEqual(bytes(SRC));
    expect(bytes(readIpv6Dst(b, 0))).toEqual(bytes(DST));
    expect(IPV6_HEADER_LEN).toBe(40);
  });

  test("write the golden packet", () => {
    const b = new Uint8Array(44);
    writeIpv6Version(b, 0, 6);
    writeIpv6TrafficClass(b, 0, 0xb8);
    writeIpv6FlowLabel(b, 0, 0x12345);
    writeIpv6PayloadLen(b, 0, 4);
    writeIpv6NextHeader(b, 0, NEXT_HEADER_SERVAL);
    writeIpv6HopLimit(b, 0, 64);
    writeIpv6Src(b, 0, SRC);
    writeIpv6Dst(b, 0, DST);
    b.set([0xde, 0xad, 0xbe, 0xef], 40);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
  });

  test("bit-field writers keep their neighbours", () => {
    const b = PACKET_BYTES.slice();
    writeIpv6TrafficClass(b, 0, 0xff);
    expect(bytes(b.subarray(0, 4))).toEqual([0x6f, 0xf1, 0x23, 0x45]);
    writeIpv6FlowLabel(b, 0, 0xfffff);
    expect(bytes(b.subarray(0, 4))).toEqual([0x6f, 0xff, 0xff, 0xff]);
    writeIpv6Version(b, 0, 0);
    expect(bytes(b.subarray(0, 4))).toEqual([0x0f, 0xff, 0xff, 0xff]);
    writeIpv6TrafficClass(b, 0, 0);
    expect(bytes(b.subarray(0, 4))).toEqual([0x00, 0x0f, 0xff, 0xff]);
  });
});

describe("parseIpv6Header()", () => {
  test("parses the golden packet", () => {
    expect(parseIpv6Header(PACKET_BYTES, 0)).toStrictEqual(REPR);
  });

  test("parses at an offset, ignoring trailing padding", () => {
    const b = new Uint8Array(2 + 44 + 6);
    b.set(PACKET_BYTES, 2);
    expect(parseIpv6Header(b, 2)).toStrictEqual(REPR);
  });

  test("omits zero traffic class and flow label (canonical form)", () => {
    const b = PACKET_BYTES.slice();
    b.set([0x60, 0, 0, 0], 0);
    const { trafficClass: _t, flowLabel: _f, ...rest } = REPR;
    expect(parseIpv6Header(b, 0)).toStrictEqual(rest);
  });

  test("returns an extension header's next header as is", () => {
    const b = PACKET_BYTES.slice();
    b[6] = 44; // Fragment header: not walked
    expect(parseIpv6Header(b, 0)).toStrictEqual({ ...REPR, nextHeader: 44 });
  });

  test("truncated at every length below 40; bad-length from 40 to 43", () => {
    for (let n = 0; n < 44; n++) {
      const want = n < 40 ? "truncated" : "bad-length";
      expect(parseIpv6Header(PACKET_BYTES, 0, n)).toBe(want);
      expect(parseIpv6Header(PACKET_BYTES.subarray(0, n), 0)).toBe(want);
    }
    expect(parseIpv6Header(PACKET_BYTES.subarray(0, 39), 0, 100)).toBe("truncated");
  });

  test("bad-version", () => {
    for (const v of [0, 4, 7, 15]) {
      const b = PACKET_BYTES.slice();
      writeIpv6Version(b, 0, v);
      expect(parseIpv6Header(b, 0)).toBe("bad-version");
    }
  });

  test("bad-length: payload length beyond the bytes available", () => {
    const b = PACKET_BYTES.slice();
    writeIpv6PayloadLen(b, 0, 5);
    expect(parseIpv6Header(b, 0)).toBe("bad-length");
    writeIpv6PayloadLen(b, 0, 0xffff);
    expect(parseIpv6Header(b, 0)).toBe("bad-length");
    writeIpv6PayloadLen(b, 0, 0);
    expect(parseIpv6Header(b, 0)).toStrictEqual({ ...REPR, payloadLen: 0 });
  });
});

describe("emitIpv6Header()", () => {
  test("emits the golden header", () => {
    const b = new Uint8Array(44);
    b.set([0xde, 0xad, 0xbe, 0xef], 40);
    expect(emitIpv6Header(REPR, b, 0)).toBe(40);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    expect(ipv6HeaderLen(REPR)).toBe(40);
  });

  test("emits at an offset, touching only the header", () => {
    const b = new Uint8Array(50).fill(0xaa);
    emitIpv6Header(REPR, b, 5);
    expect(b[4]).toBe(0xaa);
    expect(b[45]).toBe(0xaa);
    expect(bytes(b.subarray(5, 45))).toEqual(bytes(PACKET_BYTES.subarray(0, 40)));
  });

  test("throws RangeError on programmer errors", () => {
    const b = new Uint8Array(40);
    expect(() => emitIpv6Header(REPR, new Uint8Array(39), 0)).toThrow(
      new RangeError("Cannot emit IPv6 header: needs 40 bytes at offset 0, buffer has 39"),
    );
    expect(() => emitIpv6Header({ ...REPR, flowLabel: 0x100000 }, b, 0)).toThrow(
      new RangeError("Cannot emit IPv6 header: flow label is 1048576, must be 0..1048575"),
    );
    expect(() => emitIpv6Header({ ...REPR, trafficClass: 256 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv6Header({ ...REPR, hopLimit: 256 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv6Header({ ...REPR, nextHeader: 256 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv6Header({ ...REPR, payloadLen: 0x10000 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv6Header({ ...REPR, src: new Uint8Array(4) }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv6Header({ ...REPR, dst: new Uint8Array(4) }, b, 0)).toThrow(RangeError);
  });
});

describe("IPv6 properties", () => {
  const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const repr: fc.Arbitrary<Ipv6Repr> = fc.record(
    {
      src: addr,
      dst: addr,
      nextHeader: fc.integer({ min: 0, max: 255 }),
      hopLimit: fc.integer({ min: 0, max: 255 }),
      payloadLen: fc.integer({ min: 0, max: 64 }),
      trafficClass: fc.integer({ min: 1, max: 255 }),
      flowLabel: fc.integer({ min: 1, max: 0xfffff }),
    },
    { requiredKeys: ["src", "dst", "nextHeader", "hopLimit", "payloadLen"] },
  );

  test("parse(emit(r)) deep-equals r", () => {
    fc.assert(
      fc.property(repr, fc.nat(8), (r, off) => {
        const b = new Uint8Array(off + 40 + r.payloadLen);
        expect(emitIpv6Header(r, b, off)).toBe(40);
        expect(parseIpv6Header(b, off)).toStrictEqual(r);
      }),
      FC,
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -2, max: 90 }), fc.integer({ min: -2, max: 90 }), (b, off, len) => {
        expect(["string", "object"]).toContain(typeof parseIpv6Header(b, off, len));
        if (b.length > 0) b[0] = 0x60;
        expect(["string", "object"]).toContain(typeof parseIpv6Header(b, 0));
      }),
      FC,
    );
  });

  test("single-byte mutations never throw", () => {
    fc.assert(
      fc.property(repr, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, i, x) => {
        const b = new Uint8Array(40 + r.payloadLen);
        emitIpv6Header(r, b, 0);
        b[i % b.length]! ^= x;
        expect(["string", "object"]).toContain(typeof parseIpv6Header(b, 0));
      }),
      FC,
    );
  });
});

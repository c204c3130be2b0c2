import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { internetChecksum } from "./checksum.ts";
import {
  decrementIpv4Ttl,
  emitIpv4Header,
  fillIpv4Checksum,
  IPPROTO_SERVAL,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_HEADER_LEN,
  ipv4HeaderLen,
  ipv4PayloadOffset,
  type Ipv4Repr,
  parseIpv4Header,
  readIpv4Checksum,
  readIpv4Dscp,
  readIpv4Dst,
  readIpv4Ecn,
  readIpv4FlagsFrag,
  readIpv4Ident,
  readIpv4Ihl,
  readIpv4Protocol,
  readIpv4Src,
  readIpv4TotalLen,
  readIpv4Ttl,
  readIpv4Version,
  writeIpv4Checksum,
  writeIpv4Dscp,
  writeIpv4Dst,
  writeIpv4Ecn,
  writeIpv4FlagsFrag,
  writeIpv4Ident,
  writeIpv4Ihl,
  writeIpv4Protocol,
  writeIpv4Src,
  writeIpv4TotalLen,
  writeIpv4Ttl,
  writeIpv4Version,
} from "./ipv4.ts";

const FC = { seed: 1, numRuns: 500 } as const;

// A SAL-over-IPv4 packet: 198.18.0.1 -> 198.18.0.2, 4 payload bytes.
//
// Header checksum by hand (RFC 1071), 16-bit words with the checksum as 0:
//   45b9 + 0018 + 1234 + 4000 + 4090 + 0000 + c612 + 0001 + c612 + 0002
//   = 0x264bc; fold: 0x64bc + 0x2 = 0x64be; complement: 0x9b41.
// prettier-ignore
const PACKET_BYTES = new Uint8Array([
  0x45, //                   version 4, IHL 5 (20 bytes)
  0xb9, //                   DSCP 46 (EF) << 2 | ECN 1 (ECT(1)) = 0xb8 | 0x01
  0x00, 0x18, //             total length 24 = 20 header + 4 payload
  0x12, 0x34, //             identification 0x1234
  0x40, 0x00, //             flags DF (0x4000), fragment offset 0
  0x40, //                   TTL 64 (SERVAL_DEFTTL, facts §1.1)
  0x90, //                   protocol 144 = IPPROTO_SERVAL
  0x9b, 0x41, //             header checksum 0x9b41 (derived above)
  0xc6, 0x12, 0x00, 0x01, // source 198.18.0.1
  0xc6, 0x12, 0x00, 0x02, // destination 198.18.0.2
  0xde, 0xad, 0xbe, 0xef, // payload (not covered by the header checksum)
]);

const REPR: Ipv4Repr = {
  src: new Uint8Array([198, 18, 0, 1]),
  dst: new Uint8Array([198, 18, 0, 2]),
  protocol: IPPROTO_SERVAL,
  ttl: 64,
  payloadLen: 4,
  dscp: 46,
  ecn: 1,
  ident: 0x1234,
};

function bytes(a: Uint8Array): number[] {
  return [...a];
}

/** A copy of the golden packet with `edit` applied and the checksum refilled. */
function edited(edit: (b: Uint8Array) => void): Uint8Array {
  const b = PACKET_BYTES.slice();
  edit(b);
  fillIpv4Checksum(b, 0);
  return b;
}

describe("IPv4 views", () => {
  test("read the golden packet", () => {
    const b = PACKET_BYTES;
    expect(readIpv4Version(b, 0)).toBe(4);
    expect(readIpv4Ihl(b, 0)).toBe(5);
    expect(readIpv4Dscp(b, 0)).toBe(46);
    expect(readIpv4Ecn(b, 0)).toBe(1);
    expect(readIpv4TotalLen(b, 0)).toBe(24);
    expect(readIpv4Ident(b, 0)).toBe(0x1234);
    expect(readIpv4FlagsFrag(b, 0)).toBe(IPV4_FLAG_DF);
    expect(readIpv4Ttl(b, 0)).toBe(64);
    expect(readIpv4Protocol(b, 0)).toBe(IPPROTO_SERVAL);
    expect(readIpv4Checksum(b, 0)).toBe(0x9b41);
    expect(bytes(readIpv4Src(b, 0))).toEqual([198, 18, 0, 1]);
    expect(bytes(readIpv4Dst(b, 0))).toEqual([198, 18, 0, 2]);
    expect(ipv4PayloadOffset(b, 0)).toBe(20);
    expect(IPV4_HEADER_LEN).toBe(20);
  });

  test("write the golden packet", () => {
    const b = new Uint8Array(24);
    writeIpv4Version(b, 0, 4);
    writeIpv4Ihl(b, 0, 5);
    writeIpv4Dscp(b, 0, 46);
    writeIpv4Ecn(b, 0, 1);
    writeIpv4TotalLen(b, 0, 24);
    writeIpv4Ident(b, 0, 0x1234);
    writeIpv4FlagsFrag(b, 0, IPV4_FLAG_DF);
    writeIpv4Ttl(b, 0, 64);
    writeIpv4Protocol(b, 0, IPPROTO_SERVAL);
    writeIpv4Src(b, 0, new Uint8Array([198, 18, 0, 1]));
    writeIpv4Dst(b, 0, new Uint8Array([198, 18, 0, 2]));
    b.set([0xde, 0xad, 0xbe, 0xef], 20);
    expect(fillIpv4Checksum(b, 0)).toBe(0x9b41);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    writeIpv4Checksum(b, 0, 0);
    expect(readIpv4Checksum(b, 0)).toBe(0);
  });

  test("nibble and bit-field writers keep their neighbours", () => {
    const b = PACKET_BYTES.slice();
    writeIpv4Version(b, 0, 6);
    expect(b[0]).toBe(0x65);
    writeIpv4Ihl(b, 0, 15);
    expect(b[0]).toBe(0x6f);
    writeIpv4Dscp(b, 0, 0);
    expect(b[1]).toBe(0x01);
    writeIpv4Ecn(b, 0, 0);
    writeIpv4Dscp(b, 0, 63);
    expect(b[1]).toBe(0xfc);
  });

  test("the checksum verifies: a header sums to 0", () => {
    expect(internetChecksum(PACKET_BYTES, 0, 20)).toBe(0);
  });
});

describe("parseIpv4Header()", () => {
  test("parses the golden packet", () => {
    expect(parseIpv4Header(PACKET_BYTES, 0)).toStrictEqual(REPR);
    expect(parseIpv4Header(PACKET_BYTES, 0, 24)).toStrictEqual(REPR);
  });

  test("parses at an offset, ignoring trailing padding", () => {
    const b = new Uint8Array(3 + 24 + 10);
    b.set(PACKET_BYTES, 3);
    expect(parseIpv4Header(b, 3)).toStrictEqual(REPR);
  });

  test("omits zero dscp, ecn and ident (canonical form)", () => {
    const b = edited((b) => {
      b[1] = 0;
      b[4] = 0;
      b[5] = 0;
    });
    const { dscp: _d, ecn: _e, ident: _i, ...rest } = REPR;
    expect(parseIpv4Header(b, 0)).toStrictEqual(rest);
  });

  test("skips options (IHL 6)", () => {
    // Insert one 4-byte option word (NOP NOP NOP EOL) after the fixed header.
    const b = new Uint8Array(28);
    b.set(PACKET_BYTES.subarray(0, 20), 0);
    b.set([1, 1, 1, 0], 20);
    b.set([0xde, 0xad, 0xbe, 0xef], 24);
    b[0] = 0x46;
    b[3] = 28;
    fillIpv4Checksum(b, 0);
    expect(ipv4PayloadOffset(b, 0)).toBe(24);
    expect(parseIpv4Header(b, 0)).toStrictEqual(REPR);
  });

  test("accepts DF clear and TTL 0 (RFC 1122 §3.2.1.7)", () => {
    const b = edited((b) => {
      b[6] = 0;
      b[8] = 0;
    });
    expect(parseIpv4Header(b, 0)).toStrictEqual({ ...REPR, ttl: 0 });
  });

  test("truncated at every length below 20; bad-length from 20 to 23", () => {
    for (let n = 0; n < 24; n++) {
      const want = n < 20 ? "truncated" : "bad-length";
      expect(parseIpv4Header(PACKET_BYTES, 0, n)).toBe(want);
      expect(parseIpv4Header(PACKET_BYTES.subarray(0, n), 0)).toBe(want);
    }
    expect(parseIpv4Header(PACKET_BYTES.subarray(0, 19), 0, 100)).toBe("truncated");
  });

  test("bad-version", () => {
    expect(parseIpv4Header(edited((b) => (b[0] = 0x65)), 0)).toBe("bad-version");
    expect(parseIpv4Header(edited((b) => (b[0] = 0x05)), 0)).toBe("bad-version");
  });

  test("bad-length: IHL below 5", () => {
    for (let ihl = 0; ihl < 5; ihl++) {
      const b = PACKET_BYTES.slice();
      b[0] = 0x40 | ihl;
      expect(parseIpv4Header(b, 0)).toBe("bad-length");
    }
  });

  test("bad-length: total length below the header length", () => {
    expect(parseIpv4Header(edited((b) => (b[3] = 19)), 0)).toBe("bad-length");
    // IHL 6 (24 bytes) with total length 20.
    expect(parseIpv4Header(edited((b) => ((b[0] = 0x46), (b[3] = 20))), 0)).toBe("bad-length");
  });

  test("bad-length: total length beyond the bytes available", () => {
    expect(parseIpv4Header(edited((b) => (b[3] = 25)), 0)).toBe("bad-length");
    expect(parseIpv4Header(edited((b) => (b[2] = 0xff)), 0)).toBe("bad-length");
  });

  test("bad-checksum", () => {
    const b = PACKET_BYTES.slice();
    b[11] ^= 1;
    expect(parseIpv4Header(b, 0)).toBe("bad-checksum");
    const c = PACKET_BYTES.slice();
    c[15] ^= 0x80; // source address corrupted
    expect(parseIpv4Header(c, 0)).toBe("bad-checksum");
    // The payload is not covered.
    const d = PACKET_BYTES.slice();
    d[23] ^= 0xff;
    expect(parseIpv4Header(d, 0)).toStrictEqual(REPR);
  });

  test("fragment: MF set or a non-zero offset", () => {
    expect(parseIpv4Header(edited((b) => writeIpv4FlagsFrag(b, 0, IPV4_FLAG_DF | IPV4_FLAG_MF)), 0)).toBe("fragment");
    expect(parseIpv4Header(edited((b) => writeIpv4FlagsFrag(b, 0, 1)), 0)).toBe("fragment");
    expect(parseIpv4Header(edited((b) => writeIpv4FlagsFrag(b, 0, IPV4_FRAG_OFFSET_MASK)), 0)).toBe("fragment");
    // The reserved ("evil") bit alone is not a fragment.
    expect(parseIpv4Header(edited((b) => writeIpv4FlagsFrag(b, 0, 0x8000)), 0)).toStrictEqual(REPR);
  });
});

describe("emitIpv4Header()", () => {
  test("emits the golden header", () => {
    const b = new Uint8Array(24);
    b.set([0xde, 0xad, 0xbe, 0xef], 20);
    expect(emitIpv4Header(REPR, b, 0)).toBe(20);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    expect(ipv4HeaderLen(REPR)).toBe(20);
  });

  test("emits at an offset, touching only the header", () => {
    const b = new Uint8Array(30).fill(0xaa);
    emitIpv4Header(REPR, b, 5);
    expect(b[4]).toBe(0xaa);
    expect(b[25]).toBe(0xaa);
    expect(bytes(b.subarray(5, 25))).toEqual(bytes(PACKET_BYTES.subarray(0, 20)));
  });

  test("throws RangeError on programmer errors", () => {
    const b = new Uint8Array(20);
    expect(() => emitIpv4Header(REPR, new Uint8Array(19), 0)).toThrow(
      new RangeError("Cannot emit IPv4 header: needs 20 bytes at offset 0, buffer has 19"),
    );
    expect(() => emitIpv4Header({ ...REPR, ttl: 0 }, b, 0)).toThrow(
      new RangeError("Cannot emit IPv4 header: TTL is 0, must be 1..255"),
    );
    expect(() => emitIpv4Header({ ...REPR, ttl: 256 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, protocol: -1 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, payloadLen: 65516 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, payloadLen: 1.5 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, dscp: 64 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, ecn: 4 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, ident: 0x10000 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, src: new Uint8Array(16) }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header({ ...REPR, dst: new Uint8Array(3) }, b, 0)).toThrow(RangeError);
  });
});

describe("decrementIpv4Ttl()", () => {
  test("golden: 64 -> 63 and checksum 0x9b41 -> 0x9c41", () => {
    // RFC 1624 eqn. 3: the word TTL|protocol goes from 0x4090 to 0x3f90, so the
    // sum drops by 0x0100 and the complemented checksum rises by 0x0100.
    const b = PACKET_BYTES.slice();
    expect(decrementIpv4Ttl(b, 0)).toBe(63);
    expect(readIpv4Ttl(b, 0)).toBe(63);
    expect(readIpv4Checksum(b, 0)).toBe(0x9c41);
    expect(internetChecksum(b, 0, 20)).toBe(0);
  });

  test("TTL 1 -> 0 (the caller drops); TTL 0 is left alone", () => {
    const b = edited((b) => (b[8] = 1));
    expect(decrementIpv4Ttl(b, 0)).toBe(0);
    expect(internetChecksum(b, 0, 20)).toBe(0);
    const before = bytes(b);
    expect(decrementIpv4Ttl(b, 0)).toBe(0);
    expect(bytes(b)).toEqual(before);
  });

  test("property: matches a full recomputation for any header", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.integer({ min: 1, max: 255 }), (h, ttl) => {
        h[0] = 0x45;
        h[8] = ttl;
        fillIpv4Checksum(h, 0);
        decrementIpv4Ttl(h, 0);
        const patched = readIpv4Checksum(h, 0);
        expect(fillIpv4Checksum(h, 0)).toBe(patched);
      }),
      FC,
    );
  });
});

describe("IPv4 properties", () => {
  const addr = fc.uint8Array({ minLength: 4, maxLength: 4 });
  const repr: fc.Arbitrary<Ipv4Repr> = fc.record(
    {
      src: addr,
      dst: addr,
      protocol: fc.integer({ min: 0, max: 255 }),
      ttl: fc.integer({ min: 1, max: 255 }),
      payloadLen: fc.integer({ min: 0, max: 64 }),
      dscp: fc.integer({ min: 1, max: 63 }),
      ecn: fc.integer({ min: 1, max: 3 }),
      ident: fc.integer({ min: 1, max: 0xffff }),
    },
    { requiredKeys: ["src", "dst", "protocol", "ttl", "payloadLen"] },
  );

  test("parse(emit(r)) deep-equals r", () => {
    fc.assert(
      fc.property(repr, fc.nat(8), (r, off) => {
        const b = new Uint8Array(off + 20 + r.payloadLen);
        expect(emitIpv4Header(r, b, off)).toBe(20);
        expect(parseIpv4Header(b, off)).toStrictEqual(r);
      }),
      FC,
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: -2, max: 70 }), fc.integer({ min: -2, max: 70 }), (b, off, len) => {
        expect(["string", "object"]).toContain(typeof parseIpv4Header(b, off, len));
        if (b.length > 0) b[0] = 0x45;
        expect(["string", "object"]).toContain(typeof parseIpv4Header(b, 0));
      }),
      FC,
    );
  });

  test("single-byte mutations never throw, and any header change is caught", () => {
    fc.assert(
      fc.property(repr, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, i, x) => {
        const b = new Uint8Array(20 + r.payloadLen);
        emitIpv4Header(r, b, 0);
        const k = i % b.length;
        b[k]! ^= x;
        const p = parseIpv4Header(b, 0);
        if (k < 20) expect(typeof p).toBe("string");
        else expect(typeof p).toBe("object");
      }),
      FC,
    );
  });
});

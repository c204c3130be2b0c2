import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { checksumAdd, checksumFinish } from "./checksum.ts";
import {
  emitUdp,
  fillUdpChecksum,
  IPPROTO_UDP,
  parseUdp,
  readUdpChecksum,
  readUdpDstPort,
  readUdpLength,
  readUdpSrcPort,
  SERVAL_UDP_CLIENT_PORT,
  SERVAL_UDP_PORT,
  UDP_HEADER_LEN,
  udpHeaderLen,
  type UdpRepr,
  writeUdpChecksum,
  writeUdpDstPort,
  writeUdpLength,
  writeUdpSrcPort,
} from "./udp.ts";

const FC = { seed: 1, numRuns: 500 } as const;

// Addresses of the pseudo-headers.
const V4_SRC = new Uint8Array([198, 18, 0, 1]); // c612 0001
const V4_DST = new Uint8Array([198, 18, 0, 2]); // c612 0002
const V6_SRC = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // 2001:db8::1
const V6_DST = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]); // 2001:db8::2

// A UDP datagram of the Serval datapath, client port -> server port, 4 payload
// bytes, checksummed over the IPv4 pseudo-header 198.18.0.1 -> 198.18.0.2.
//
// Checksum by hand (RFC 768, RFC 1071), 16-bit words:
//   pseudo-header: c612 + 0001 + c612 + 0002 + 0011 (protocol 17) + 000c (length 12)
//                  = 0x18c44 -> fold 0x8c45
//   datagram:      d434 + d435 + 000c + 0000 (checksum as 0) + dead + beef
//                  = 0x34611 -> fold 0x4614
//   total 0x8c45 + 0x4614 = 0xd259; complement: 0x2da6.
// Over IPv6 (2001:db8::1 -> 2001:db8::2) the pseudo-header is
//   2001 + 0db8 + 0001 + 2001 + 0db8 + 0002 + 0000 000c (32-bit length) + 0000 0011
//   = 0x5b92; total 0x5b92 + 0x4614 = 0xa1a6; complement: 0x5e59.
// prettier-ignore
const PACKET_BYTES = new Uint8Array([
  0xd4, 0x34, //             source port 54324 (SERVAL_UDP_CLIENT_PORT)
  0xd4, 0x35, //             destination port 54325 (SERVAL_UDP_PORT)
  0x00, 0x0c, //             length 12 = 8 header + 4 payload
  0x2d, 0xa6, //             checksum 0x2da6 (IPv4 pseudo-header, derived above)
  0xde, 0xad, 0xbe, 0xef, // payload
]);
const V6_CHECKSUM = 0x5e59;

const REPR: UdpRepr = { srcPort: SERVAL_UDP_CLIENT_PORT, dstPort: SERVAL_UDP_PORT, payloadLen: 4 };

function bytes(a: Uint8Array): number[] {
  return [...a];
}

function withChecksum(c: number): Uint8Array {
  const b = PACKET_BYTES.slice();
  writeUdpChecksum(b, 0, c);
  return b;
}

describe("UDP views", () => {
  test("read the golden datagram", () => {
    expect(readUdpSrcPort(PACKET_BYTES, 0)).toBe(54324);
    expect(readUdpDstPort(PACKET_BYTES, 0)).toBe(54325);
    expect(readUdpLength(PACKET_BYTES, 0)).toBe(12);
    expect(readUdpChecksum(PACKET_BYTES, 0)).toBe(0x2da6);
    expect(UDP_HEADER_LEN).toBe(8);
    expect(IPPROTO_UDP).toBe(17);
  });

  test("write the golden datagram", () => {
    const b = new Uint8Array(12);
    writeUdpSrcPort(b, 0, 54324);
    writeUdpDstPort(b, 0, 54325);
    writeUdpLength(b, 0, 12);
    b.set([0xde, 0xad, 0xbe, 0xef], 8);
    expect(fillUdpChecksum(b, 0, V4_SRC, V4_DST)).toBe(0x2da6);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    expect(fillUdpChecksum(b, 0, V6_SRC, V6_DST)).toBe(V6_CHECKSUM);
    writeUdpChecksum(b, 0, 0);
    expect(readUdpChecksum(b, 0)).toBe(0);
  });
});

describe("parseUdp()", () => {
  test("parses the golden datagram with and without the IPv4 pseudo-header", () => {
    expect(parseUdp(PACKET_BYTES, 0)).toStrictEqual(REPR);
    expect(parseUdp(PACKET_BYTES, 0, 12, V4_SRC, V4_DST)).toStrictEqual(REPR);
  });

  test("verifies the IPv6 pseudo-header variant", () => {
    const b = withChecksum(V6_CHECKSUM);
    expect(parseUdp(b, 0, 12, V6_SRC, V6_DST)).toStrictEqual(REPR);
    expect(parseUdp(b, 0, 12, V4_SRC, V4_DST)).toBe("bad-checksum");
    expect(parseUdp(PACKET_BYTES, 0, 12, V6_SRC, V6_DST)).toBe("bad-checksum");
  });

  test("parses at an offset; bytes after the length field are ignored", () => {
    const b = new Uint8Array(3 + 12 + 6).fill(0x55);
    b.set(PACKET_BYTES, 3);
    expect(parseUdp(b, 3, 18, V4_SRC, V4_DST)).toStrictEqual(REPR);
    expect(parseUdp(b, 3)).toStrictEqual(REPR);
  });

  test("a zero checksum means none over IPv4, is refused over IPv6", () => {
    const b = withChecksum(0);
    expect(parseUdp(b, 0, 12, V4_SRC, V4_DST)).toStrictEqual(REPR);
    expect(parseUdp(b, 0, 12, V6_SRC, V6_DST)).toBe("bad-checksum");
    expect(parseUdp(b, 0, 12)).toStrictEqual(REPR);
  });

  test("truncated below 8 bytes; bad-length from 8 to 11", () => {
    for (let n = 0; n < 12; n++) {
      const want = n < 8 ? "truncated" : "bad-length";
      expect(parseUdp(PACKET_BYTES, 0, n)).toBe(want);
      expect(parseUdp(PACKET_BYTES.subarray(0, n), 0, n, V4_SRC, V4_DST)).toBe(want);
    }
    expect(parseUdp(PACKET_BYTES.subarray(0, 7), 0, 100)).toBe("truncated");
  });

  test("bad-length: length field below 8 or beyond the bytes available", () => {
    for (const l of [0, 7, 13, 0xffff]) {
      const b = PACKET_BYTES.slice();
      writeUdpLength(b, 0, l);
      expect(parseUdp(b, 0)).toBe("bad-length");
    }
  });

  test("bad-checksum", () => {
    expect(parseUdp(withChecksum(0x2da7), 0, 12, V4_SRC, V4_DST)).toBe("bad-checksum");
    const b = PACKET_BYTES.slice();
    b[11] ^= 0x01; // payload is covered
    expect(parseUdp(b, 0, 12, V4_SRC, V4_DST)).toBe("bad-checksum");
    expect(parseUdp(PACKET_BYTES, 0, 12, V4_SRC, new Uint8Array([198, 18, 0, 3]))).toBe("bad-checksum");
  });
});

describe("emitUdp()", () => {
  test("emits the golden datagram (IPv4 checksum)", () => {
    const b = new Uint8Array(12);
    b.set([0xde, 0xad, 0xbe, 0xef], 8);
    expect(emitUdp(REPR, b, 0, V4_SRC, V4_DST)).toBe(8);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    expect(udpHeaderLen(REPR)).toBe(8);
  });

  test("emits the IPv6 checksum", () => {
    const b = new Uint8Array(12);
    b.set([0xde, 0xad, 0xbe, 0xef], 8);
    emitUdp(REPR, b, 0, V6_SRC, V6_DST);
    expect(readUdpChecksum(b, 0)).toBe(V6_CHECKSUM);
  });

  test("without addresses writes checksum 0", () => {
    const b = new Uint8Array(8).fill(0xaa);
    emitUdp(REPR, b, 0);
    expect(bytes(b)).toEqual([0xd4, 0x34, 0xd4, 0x35, 0x00, 0x0c, 0x00, 0x00]);
  });

  test("a Serval UDP transport header: ports 0 (facts §2.5)", () => {
    const b = new Uint8Array(8);
    emitUdp({ srcPort: 0, dstPort: 0, payloadLen: 0 }, b, 0);
    expect(bytes(b)).toEqual([0, 0, 0, 0, 0, 8, 0, 0]);
  });

  test("a computed checksum of 0 is sent as 0xffff and verifies", () => {
    // Choose the 2 payload bytes so the one's-complement sum is 0xffff: the sum
    // of everything else, folded, is S; a payload word of 0xffff - S completes it.
    const b = new Uint8Array(10);
    writeUdpLength(b, 0, 10);
    let s = checksumAdd(b, 0, 8, 0) + 0xc612 + 0x0001 + 0xc612 + 0x0002 + IPPROTO_UDP + 10;
    s = 0xffff - (~checksumFinish(s) & 0xffff);
    b[8] = s >> 8;
    b[9] = s & 0xff;
    expect(emitUdp({ srcPort: 0, dstPort: 0, payloadLen: 2 }, b, 0, V4_SRC, V4_DST)).toBe(8);
    expect(readUdpChecksum(b, 0)).toBe(0xffff);
    expect(parseUdp(b, 0, 10, V4_SRC, V4_DST)).toStrictEqual({ srcPort: 0, dstPort: 0, payloadLen: 2 });
  });

  test("throws RangeError on programmer errors", () => {
    const b = new Uint8Array(12);
    expect(() => emitUdp(REPR, new Uint8Array(7), 0)).toThrow(
      new RangeError("Cannot emit UDP header: needs 8 bytes at offset 0, buffer has 7"),
    );
    // With addresses the payload must be in the buffer.
    expect(() => emitUdp(REPR, new Uint8Array(11), 0, V4_SRC, V4_DST)).toThrow(RangeError);
    expect(() => emitUdp({ ...REPR, srcPort: 65536 }, b, 0)).toThrow(
      new RangeError("Cannot emit UDP header: source port is 65536, must be 0..65535"),
    );
    expect(() => emitUdp({ ...REPR, dstPort: -1 }, b, 0)).toThrow(RangeError);
    expect(() => emitUdp({ ...REPR, payloadLen: 65528 }, b, 0)).toThrow(RangeError);
    expect(() => emitUdp(REPR, b, 0, V4_SRC, V6_DST)).toThrow(RangeError);
    expect(() => emitUdp(REPR, b, 0, new Uint8Array(5), new Uint8Array(5))).toThrow(RangeError);
  });
});

describe("UDP properties", () => {
  const repr: fc.Arbitrary<UdpRepr> = fc.record({
    srcPort: fc.integer({ min: 0, max: 0xffff }),
    dstPort: fc.integer({ min: 0, max: 0xffff }),
    payloadLen: fc.integer({ min: 0, max: 64 }),
  });
  const addrs = fc.oneof(
    fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 })),
    fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
  );

  test("parse(emit(r)) deep-equals r, with IPv4 or IPv6 checksums", () => {
    fc.assert(
      fc.property(repr, addrs, fc.uint8Array({ maxLength: 64 }), fc.nat(8), (r, [src, dst], payload, off) => {
        const b = new Uint8Array(off + 8 + r.payloadLen);
        b.set(payload.subarray(0, r.payloadLen), off + 8);
        expect(emitUdp(r, b, off, src, dst)).toBe(8);
        expect(parseUdp(b, off, 8 + r.payloadLen, src, dst)).toStrictEqual(r);
        expect(parseUdp(b, off)).toStrictEqual(r);
        expect(readUdpChecksum(b, off)).not.toBe(0);
        emitUdp(r, b, off);
        expect(parseUdp(b, off)).toStrictEqual(r);
      }),
      FC,
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: -2, max: 50 }), fc.integer({ min: -2, max: 50 }), addrs, (b, off, len, [src, dst]) => {
        expect(["string", "object"]).toContain(typeof parseUdp(b, off, len));
        expect(["string", "object"]).toContain(typeof parseUdp(b, off, len, src, dst));
      }),
      FC,
    );
  });

  test("single-byte mutations never throw", () => {
    fc.assert(
      fc.property(repr, addrs, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, [src, dst], i, x) => {
        const b = new Uint8Array(8 + r.payloadLen);
        emitUdp(r, b, 0, src, dst);
        b[i % b.length]! ^= x;
        expect(["string", "object"]).toContain(typeof parseUdp(b, 0, b.length, src, dst));
        expect(["string", "object"]).toContain(typeof parseUdp(b, 0));
      }),
      FC,
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  emitTcp,
  fillTcpChecksum,
  IPPROTO_TCP,
  parseTcp,
  readTcpAck,
  readTcpChecksum,
  readTcpDataOffset,
  readTcpDstPort,
  readTcpFlags,
  readTcpSeq,
  readTcpSrcPort,
  readTcpUrgent,
  readTcpWindow,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_HEADER_LEN,
  TCP_MAX_OPTIONS_LEN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  tcpHeaderLen,
  type TcpOptions,
  type TcpRepr,
  writeTcpAck,
  writeTcpChecksum,
  writeTcpDataOffset,
  writeTcpDstPort,
  writeTcpFlags,
  writeTcpSeq,
  writeTcpSrcPort,
  writeTcpUrgent,
  writeTcpWindow,
} from "./tcp.ts";

const FC = { seed: 1, numRuns: 500 } as const;

const V4_SRC = new Uint8Array([198, 18, 0, 1]); // c612 0001
const V4_DST = new Uint8Array([198, 18, 0, 2]); // c612 0002
const V6_SRC = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // 2001:db8::1
const V6_DST = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]); // 2001:db8::2

// A Serval TCP segment (the part after the SAL header) carrying every option
// in the canonical layout, 4 payload bytes; 56 bytes in all.
//
// Checksum by hand (RFC 9293 §3.1, RFC 1071), 16-bit words, checksum as 0:
//   header+payload: 0000 0000 0102 0304 0506 0708 d018 2000 0000 0000
//                   0204 05b4 0402 080a 0000 0064 0000 00c8 0103 0307
//                   0101 050a 0000 1000 0000 2000 dead beef
//                   = 0x2eccd -> fold 0xeccf
//   IPv4 pseudo-header: c612 + 0001 + c612 + 0002 + 0006 + 0038 (TCP length 56)
//                   = 0x18c65 -> fold 0x8c66
//   total 0xeccf + 0x8c66 = 0x17935 -> fold 0x7936; complement: 0x86c9.
//   IPv6 pseudo-header: 2001 + 0db8 + 0001 + 2001 + 0db8 + 0002 + 0000 0038 + 0000 0006
//                   = 0x5bb3; total 0xeccf + 0x5bb3 = 0x14882 -> 0x4883; complement: 0xb77c.
// prettier-ignore
const PACKET_BYTES = new Uint8Array([
  0x00, 0x00, //             source port 0 (Serval TCP, facts §2.5)
  0x00, 0x00, //             destination port 0
  0x01, 0x02, 0x03, 0x04, // sequence number 0x01020304
  0x05, 0x06, 0x07, 0x08, // acknowledgment number 0x05060708
  0xd0, //                   data offset 13 words (52 bytes) << 4, reserved 0
  0x18, //                   flags PSH (0x08) | ACK (0x10)
  0x20, 0x00, //             window 8192
  0x86, 0xc9, //             checksum 0x86c9 (IPv4 pseudo-header, derived above)
  0x00, 0x00, //             urgent pointer 0
  // options, 32 bytes:
  0x02, 0x04, 0x05, 0xb4, // MSS (kind 2, length 4) 1460
  0x04, 0x02, //             SACK-permitted (kind 4, length 2), in place of two NOPs
  0x08, 0x0a, //             timestamps (kind 8, length 10)
  0x00, 0x00, 0x00, 0x64, //   TSval 100
  0x00, 0x00, 0x00, 0xc8, //   TSecr 200
  0x01, 0x03, 0x03, 0x07, // NOP, window scale (kind 3, length 3) shift 7
  0x01, 0x01, 0x05, 0x0a, // NOP, NOP, SACK (kind 5, length 2 + 8 * 1 block)
  0x00, 0x00, 0x10, 0x00, //   left edge 0x1000
  0x00, 0x00, 0x20, 0x00, //   right edge 0x2000
  0xde, 0xad, 0xbe, 0xef, // payload
]);
const V6_CHECKSUM = 0xb77c;

const REPR: TcpRepr = {
  seq: 0x01020304,
  ack: 0x05060708,
  flags: TCP_PSH | TCP_ACK,
  window: 8192,
  urgent: 0,
  options: {
    mss: 1460,
    sackPermitted: true,
    timestamps: { tsval: 100, tsecr: 200 },
    windowScale: 7,
    sackBlocks: [[0x1000, 0x2000]],
  },
  payloadLen: 4,
};

function bytes(a: Uint8Array): number[] {
  return [...a];
}

function base(options: TcpOptions, payloadLen = 0): TcpRepr {
  return { seq: 1, ack: 0, flags: TCP_SYN, window: 65535, urgent: 0, options, payloadLen };
}

/** A segment with the given option bytes (padded with EOL to a word) and no payload. */
function withOptions(opts: number[]): Uint8Array {
  const olen = Math.ceil(opts.length / 4) * 4;
  const b = new Uint8Array(20 + olen);
  writeTcpDataOffset(b, 0, (20 + olen) / 4);
  writeTcpFlags(b, 0, TCP_SYN);
  b.set(opts, 20);
  return b;
}

function optionsOf(b: Uint8Array): TcpOptions | string {
  const r = parseTcp(b, 0);
  return typeof r === "string" ? r : r.options;
}

describe("TCP constants", () => {
  test("flags", () => {
    expect([TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR]).toEqual([
      0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80,
    ]);
    expect(TCP_HEADER_LEN).toBe(20);
    expect(TCP_MAX_OPTIONS_LEN).toBe(40);
    expect(IPPROTO_TCP).toBe(6);
  });
});

describe("TCP views", () => {
  test("read the golden segment", () => {
    const b = PACKET_BYTES;
    expect(readTcpSrcPort(b, 0)).toBe(0);
    expect(readTcpDstPort(b, 0)).toBe(0);
    expect(readTcpSeq(b, 0)).toBe(0x01020304);
    expect(readTcpAck(b, 0)).toBe(0x05060708);
    expect(readTcpDataOffset(b, 0)).toBe(13);
    expect(readTcpFlags(b, 0)).toBe(TCP_PSH | TCP_ACK);
    expect(readTcpWindow(b, 0)).toBe(8192);
    expect(readTcpChecksum(b, 0)).toBe(0x86c9);
    expect(readTcpUrgent(b, 0)).toBe(0);
  });

  test("write the golden segment", () => {
    const b = new Uint8Array(56);
    writeTcpSrcPort(b, 0, 0);
    writeTcpDstPort(b, 0, 0);
    writeTcpSeq(b, 0, 0x01020304);
    writeTcpAck(b, 0, 0x05060708);
    writeTcpDataOffset(b, 0, 13);
    writeTcpFlags(b, 0, TCP_PSH | TCP_ACK);
    writeTcpWindow(b, 0, 8192);
    writeTcpUrgent(b, 0, 0);
    b.set(PACKET_BYTES.subarray(20), 20); // options and payload have no views
    expect(fillTcpChecksum(b, 0, 56, V4_SRC, V4_DST)).toBe(0x86c9);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    expect(fillTcpChecksum(b, 0, 56, V6_SRC, V6_DST)).toBe(V6_CHECKSUM);
    writeTcpChecksum(b, 0, 0x86c9);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
  });

  test("the data offset writer keeps the reserved bits", () => {
    const b = new Uint8Array(20);
    b[12] = 0x0f;
    writeTcpDataOffset(b, 0, 5);
    expect(b[12]).toBe(0x5f);
  });
});

describe("parseTcp()", () => {
  test("parses the golden segment, with and without pseudo-headers", () => {
    expect(parseTcp(PACKET_BYTES, 0)).toStrictEqual(REPR);
    expect(parseTcp(PACKET_BYTES, 0, 56, V4_SRC, V4_DST)).toStrictEqual(REPR);
  });

  test("verifies the IPv6 pseudo-header variant", () => {
    const b = PACKET_BYTES.slice();
    writeTcpChecksum(b, 0, V6_CHECKSUM);
    expect(parseTcp(b, 0, 56, V6_SRC, V6_DST)).toStrictEqual(REPR);
    expect(parseTcp(b, 0, 56, V4_SRC, V4_DST)).toBe("bad-checksum");
    expect(parseTcp(PACKET_BYTES, 0, 56, V6_SRC, V6_DST)).toBe("bad-checksum");
  });

  test("parses at an offset; the TCP length is `len`", () => {
    const b = new Uint8Array(3 + 56 + 5);
    b.set(PACKET_BYTES, 3);
    expect(parseTcp(b, 3, 56, V4_SRC, V4_DST)).toStrictEqual(REPR);
    // Without `len` the segment runs to the end of the buffer.
    expect(parseTcp(b, 3)).toStrictEqual({ ...REPR, payloadLen: 9 });
  });

  test("ignores ports, reserved bits and AE/NS", () => {
    const b = PACKET_BYTES.slice();
    writeTcpSrcPort(b, 0, 80);
    writeTcpDstPort(b, 0, 8080);
    b[12] |= 0x0f;
    expect(parseTcp(b, 0)).toStrictEqual(REPR);
  });

  test("no options: options is {}", () => {
    const b = withOptions([]);
    expect(parseTcp(b, 0)).toStrictEqual({ seq: 0, ack: 0, flags: TCP_SYN, window: 0, urgent: 0, options: {}, payloadLen: 0 });
  });

  test("truncated below 20 bytes, bad-length below the data offset, then shorter payloads", () => {
    for (let n = 0; n <= 56; n++) {
      const want = n < 20 ? "truncated" : n < 52 ? "bad-length" : { ...REPR, payloadLen: n - 52 };
      expect(parseTcp(PACKET_BYTES, 0, n)).toStrictEqual(want);
      expect(parseTcp(PACKET_BYTES.subarray(0, n), 0)).toStrictEqual(want);
      // With a pseudo-header every shortened segment fails the checksum.
      if (n >= 52 && n < 56) expect(parseTcp(PACKET_BYTES, 0, n, V4_SRC, V4_DST)).toBe("bad-checksum");
    }
    expect(parseTcp(PACKET_BYTES.subarray(0, 19), 0, 100)).toBe("truncated");
  });

  test("bad-length: data offset below 5 or beyond len", () => {
    for (const doff of [0, 1, 4, 15]) {
      const b = PACKET_BYTES.slice();
      writeTcpDataOffset(b, 0, doff);
      expect(parseTcp(b, 0)).toBe("bad-length");
    }
  });

  test("bad-checksum", () => {
    const b = PACKET_BYTES.slice();
    b[55] ^= 0x01; // payload is covered
    expect(parseTcp(b, 0, 56, V4_SRC, V4_DST)).toBe("bad-checksum");
    expect(parseTcp(b, 0)).toStrictEqual(REPR); // not checked without addresses
    const c = PACKET_BYTES.slice();
    c[16] ^= 0x80;
    expect(parseTcp(c, 0, 56, V4_SRC, V4_DST)).toBe("bad-checksum");
  });

  test("a bad-option behind a good checksum is still bad-option", () => {
    const b = PACKET_BYTES.slice();
    b[21] = 5; // MSS length 5
    fillTcpChecksum(b, 0, 56, V4_SRC, V4_DST);
    expect(parseTcp(b, 0, 56, V4_SRC, V4_DST)).toBe("bad-option");
  });

  test("bad-option cases", () => {
    const bad: [string, number[]][] = [
      ["length byte missing (kind in the last byte)", [1, 1, 1, 2]],
      ["length 0", [30, 0, 0, 0]],
      ["length 1", [30, 1, 0, 0]],
      ["overruns the header", [30, 6, 0, 0]],
      ["MSS length 3", [2, 3, 5, 0]],
      ["MSS length 5", [2, 5, 5, 0xb4, 0, 0, 0, 0]],
      ["window scale length 2", [3, 2, 1, 1]],
      ["window scale length 4", [3, 4, 7, 0]],
      ["SACK-permitted length 3", [4, 3, 0, 0]],
      ["timestamps length 9", [8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      ["timestamps length 11", [8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      ["SACK length 2 (no block)", [5, 2, 0, 0]],
      ["SACK length 9", [5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      ["SACK length 11", [5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      ["SACK 2 blocks overrunning", [5, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ];
    for (const [what, opts] of bad) {
      expect([what, optionsOf(withOptions(opts))]).toEqual([what, "bad-option"]);
    }
  });

  test("non-canonical layouts: the Linux SYN order, EOL, unknown kinds", () => {
    // MSS, SACK-permitted, timestamps, NOP, window scale (Linux SYN without the merge).
    expect(optionsOf(withOptions([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]))).toStrictEqual({
      mss: 1460,
      sackPermitted: true,
      timestamps: { tsval: 1, tsecr: 0 },
      windowScale: 7,
    });
    // After EOL everything is ignored, even garbage.
    expect(optionsOf(withOptions([2, 4, 5, 0xb4, 0, 99, 1, 0]))).toStrictEqual({ mss: 1460 });
    // Unknown kinds with a sane length are skipped (kind 30 = MPTCP, kind 34 = TFO).
    expect(optionsOf(withOptions([30, 4, 0, 0, 34, 2, 3, 3, 14, 1, 1, 1]))).toStrictEqual({ windowScale: 14 });
    // Repeated options: the last one wins.
    expect(optionsOf(withOptions([2, 4, 0, 1, 2, 4, 0, 2]))).toStrictEqual({ mss: 2 });
    // Two SACK blocks.
    expect(optionsOf(withOptions([1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]))).toStrictEqual({
      sackBlocks: [
        [1, 2],
        [3, 4],
      ],
    });
  });

  test("a window scale above 14 reads as 14 (RFC 7323 §2.3)", () => {
    expect(optionsOf(withOptions([1, 3, 3, 15]))).toStrictEqual({ windowScale: 14 });
    expect(optionsOf(withOptions([1, 3, 3, 255]))).toStrictEqual({ windowScale: 14 });
  });
});

describe("emitTcp()", () => {
  test("emits the golden segment (IPv4 checksum)", () => {
    const b = new Uint8Array(56);
    b.set([0xde, 0xad, 0xbe, 0xef], 52);
    expect(emitTcp(REPR, b, 0, V4_SRC, V4_DST)).toBe(52);
    expect(bytes(b)).toEqual(bytes(PACKET_BYTES));
    expect(tcpHeaderLen(REPR)).toBe(52);
  });

  test("emits the IPv6 checksum", () => {
    const b = new Uint8Array(56);
    b.set([0xde, 0xad, 0xbe, 0xef], 52);
    emitTcp(REPR, b, 0, V6_SRC, V6_DST);
    expect(readTcpChecksum(b, 0)).toBe(V6_CHECKSUM);
  });

  test("without addresses writes checksum 0, and ports 0 always", () => {
    const b = new Uint8Array(56).fill(0xaa);
    emitTcp(REPR, b, 0);
    expect(readTcpChecksum(b, 0)).toBe(0);
    expect(readTcpSrcPort(b, 0)).toBe(0);
    expect(readTcpDstPort(b, 0)).toBe(0);
    expect(b[52]).toBe(0xaa); // payload untouched
  });

  test("canonical layouts, one option at a time", () => {
    const cases: [TcpOptions, number[]][] = [
      [{}, []],
      [{ mss: 1460 }, [2, 4, 0x05, 0xb4]],
      [{ timestamps: { tsval: 1, tsecr: 2 } }, [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]],
      [{ sackPermitted: true, timestamps: { tsval: 1, tsecr: 2 } }, [4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]],
      [{ sackPermitted: true }, [1, 1, 4, 2]],
      [{ windowScale: 14 }, [1, 3, 3, 14]],
      [{ sackBlocks: [[1, 2]] }, [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]],
      [
        { sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]] },
        [1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8],
      ],
      // All but SACK blocks, in order: MSS, SACK-permitted+TS, window scale.
      [
        { windowScale: 0, mss: 536, timestamps: { tsval: 0, tsecr: 0 }, sackPermitted: true },
        [2, 4, 2, 0x18, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 0],
      ],
    ];
    for (const [options, opts] of cases) {
      const r = base(options);
      const b = new Uint8Array(60);
      const n = emitTcp(r, b, 0);
      expect(n).toBe(20 + opts.length);
      expect(tcpHeaderLen(r)).toBe(n);
      expect(readTcpDataOffset(b, 0)).toBe(n / 4);
      expect(bytes(b.subarray(20, n))).toEqual(opts);
      expect(parseTcp(b, 0, n)).toStrictEqual(r);
    }
  });

  test("the bytes of a plain SYN header", () => {
    const b = new Uint8Array(20);
    emitTcp({ seq: 0xdeadbeef, ack: 0, flags: TCP_SYN, window: 0x1234, urgent: 0, options: {}, payloadLen: 0 }, b, 0);
    expect(bytes(b)).toEqual([0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0x50, 0x02, 0x12, 0x34, 0, 0, 0, 0]);
  });

  test("throws RangeError when SACK blocks do not fit", () => {
    const five: [number, number][] = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]];
    expect(() => emitTcp(base({ sackBlocks: five }), new Uint8Array(100), 0)).toThrow(
      new RangeError("Cannot emit TCP header: 5 SACK blocks do not fit in 40 bytes of options"),
    );
    const three = five.slice(0, 3);
    expect(() =>
      emitTcp(base({ mss: 1460, timestamps: { tsval: 0, tsecr: 0 }, windowScale: 1, sackBlocks: three }), new Uint8Array(100), 0),
    ).toThrow(new RangeError("Cannot emit TCP header: 3 SACK blocks do not fit in 20 bytes of options"));
    // Linux's usual: timestamps plus 3 blocks fit exactly.
    expect(emitTcp(base({ timestamps: { tsval: 0, tsecr: 0 }, sackBlocks: three }), new Uint8Array(100), 0)).toBe(60);
  });

  test("throws RangeError on other programmer errors", () => {
    const b = new Uint8Array(100);
    expect(() => emitTcp(base({ sackBlocks: [] }), b, 0)).toThrow(
      new RangeError("Cannot emit TCP header: sackBlocks is empty, omit it instead"),
    );
    expect(() => emitTcp(base({ windowScale: 15 }), b, 0)).toThrow(
      new RangeError("Cannot emit TCP header: window scale is 15, must be 0..14"),
    );
    expect(() => emitTcp(base({ mss: 65536 }), b, 0)).toThrow(RangeError);
    expect(() => emitTcp(base({ timestamps: { tsval: -1, tsecr: 0 } }), b, 0)).toThrow(RangeError);
    expect(() => emitTcp(base({ timestamps: { tsval: 0, tsecr: 2 ** 32 } }), b, 0)).toThrow(RangeError);
    expect(() => emitTcp(base({ sackBlocks: [[0, 2 ** 32]] }), b, 0)).toThrow(RangeError);
    expect(() => emitTcp({ ...base({}), seq: 2 ** 32 }, b, 0)).toThrow(RangeError);
    expect(() => emitTcp({ ...base({}), ack: -1 }, b, 0)).toThrow(RangeError);
    expect(() => emitTcp({ ...base({}), flags: 256 }, b, 0)).toThrow(RangeError);
    expect(() => emitTcp({ ...base({}), window: 65536 }, b, 0)).toThrow(RangeError);
    expect(() => emitTcp({ ...base({}), urgent: 0.5 }, b, 0)).toThrow(RangeError);
    expect(() => emitTcp({ ...base({}), payloadLen: -1 }, b, 0)).toThrow(RangeError);
    expect(() => emitTcp(REPR, new Uint8Array(51), 0)).toThrow(
      new RangeError("Cannot emit TCP header: needs 52 bytes at offset 0, buffer has 51"),
    );
    // With addresses the payload must be in the buffer.
    expect(() => emitTcp(REPR, new Uint8Array(55), 0, V4_SRC, V4_DST)).toThrow(RangeError);
    expect(() => emitTcp(REPR, new Uint8Array(56), 0, V4_SRC, V6_DST)).toThrow(RangeError);
  });
});

describe("TCP properties", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const options: fc.Arbitrary<TcpOptions> = fc
    .record(
      {
        mss: fc.integer({ min: 0, max: 0xffff }),
        windowScale: fc.integer({ min: 0, max: 14 }),
        sackPermitted: fc.constant(true as const),
        sackBlocks: fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 }),
        timestamps: fc.record({ tsval: u32, tsecr: u32 }),
      },
      { requiredKeys: [] },
    )
    .map((o) => {
      // Keep as many SACK blocks as fit next to the other options (at least 2 always do).
      if (o.sackBlocks === undefined) return o;
      const room = Math.floor((TCP_MAX_OPTIONS_LEN - (tcpHeaderLen(base({ ...o, sackBlocks: undefined })) - 20) - 4) / 8);
      return { ...o, sackBlocks: o.sackBlocks.slice(0, room) };
    });
  const repr: fc.Arbitrary<TcpRepr> = fc.record({
    seq: u32,
    ack: u32,
    flags: fc.integer({ min: 0, max: 255 }),
    window: fc.integer({ min: 0, max: 0xffff }),
    urgent: fc.integer({ min: 0, max: 0xffff }),
    options,
    payloadLen: fc.integer({ min: 0, max: 40 }),
  });
  const addrs = fc.oneof(
    fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 })),
    fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
  );

  test("parse(emit(r)) deep-equals r, with IPv4 or IPv6 checksums", () => {
    fc.assert(
      fc.property(repr, addrs, fc.uint8Array({ maxLength: 40 }), fc.nat(8), (r, [src, dst], payload, off) => {
        const n = tcpHeaderLen(r);
        const b = new Uint8Array(off + n + r.payloadLen);
        b.set(payload.subarray(0, r.payloadLen), off + n);
        expect(emitTcp(r, b, off, src, dst)).toBe(n);
        expect(parseTcp(b, off, n + r.payloadLen, src, dst)).toStrictEqual(r);
        expect(parseTcp(b, off)).toStrictEqual(r);
      }),
      FC,
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -2, max: 90 }), fc.integer({ min: -2, max: 90 }), addrs, (b, off, len, [src, dst]) => {
        expect(["string", "object"]).toContain(typeof parseTcp(b, off, len));
        expect(["string", "object"]).toContain(typeof parseTcp(b, off, len, src, dst));
        // Give the random bytes a plausible data offset so options get walked.
        if (b.length >= 20) {
          b[12] = (Math.min(15, b.length >> 2) << 4) | (b[12]! & 0x0f);
          expect(["string", "object"]).toContain(typeof parseTcp(b, 0));
        }
      }),
      FC,
    );
  });

  test("single-byte mutations never throw; with a checksum they are always dropped", () => {
    fc.assert(
      fc.property(repr, addrs, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, [src, dst], i, x) => {
        const n = tcpHeaderLen(r) + r.payloadLen;
        const b = new Uint8Array(n);
        emitTcp(r, b, 0, src, dst);
        b[i % n]! ^= x;
        expect(typeof parseTcp(b, 0, n, src, dst)).toBe("string");
        expect(["string", "object"]).toContain(typeof parseTcp(b, 0));
      }),
      FC,
    );
  });
});

/**
 * The acceptance test of the wire format: a client's SYN for serviceID 16385
 * (the echo service of the 2012 tests), emitted by our code, equals bytes
 * written out by hand from the facts file, checksums included.
 */
import { describe, expect, test } from "bun:test";
import {
  emitSal,
  emitTcp,
  fromHex,
  parseSal,
  parseTcp,
  SAL_SYN,
  ServiceId,
  TCP_SYN,
} from "../mod.ts";

// Addresses of the packet (the TCP checksum covers an IPv4 pseudo-header, facts §2.5).
const SRC = fromHex("c6120001"); // 198.18.0.1, the client
const DST = fromHex("c6120102"); // 198.18.1.2, the service instance

// SAL header, facts §2.2-2.4 (68 bytes):
//   11223344  src flowID (the client's)
//   00000000  dst flowID: none yet (SYN)
//   11        shl = 17 words = 12 base + 20 CONTROL + 36 SERVICE
//   06        protocol: TCP layout follows
//   23bd      checksum over the 68 header bytes: words 1122+3344+1106+1014+8000+0102+0304
//             +a1a2+a3a4+a5a6+a7a8+2024+4001 = 0x3dc3f -> fold 0xdc42 -> complement 0x23bd
//   10 14 80 00   CONTROL: type 1, length 20, flags SYN, reserved
//   01020304      verno = the client's ISS
//   00000000      ackno = rcv_nxt = 0
//   a1..a8        the client's nonce
//   20 24 00 00   SERVICE: type 2, length 36, reserved
//   00004001 + 28 zero bytes: serviceID 16385 (decimal N big-endian in bytes 0-3)
// TCP SYN, facts §2.5 (24 bytes): ports 0 and 0, seq a0b0c0d0, ack 0, data offset 6 words,
//   flags SYN (02), window ffff, checksum a97d, urgent 0, option MSS 1460 (02 04 05b4).
//   Checksum: pseudo-header c612+0001+c612+0102+0006 (protocol)+0018 (TCP length 24)
//   = 0x18d45, TCP words a0b0+c0d0+6002+ffff+0204+05b4 = 0x2c939; sum 0x4567e
//   -> fold 0x5682 -> complement 0xa97d.
const SYN_BY_HAND = fromHex(
  "11223344 00000000 11 06 23bd" +
    "10148000 01020304 00000000 a1a2a3a4a5a6a7a8" +
    "20240000 00004001" + "00".repeat(28) +
    "0000 0000 a0b0c0d0 00000000 6002 ffff a97d 0000 020405b4",
);

describe("a SAL SYN for serviceID 16385", () => {
  test("emitted by the code equals the bytes written by hand", () => {
    const buf = new Uint8Array(SYN_BY_HAND.length);
    const salLen = emitSal(
      {
        srcFlowId: 0x11223344,
        dstFlowId: 0,
        protocol: 6,
        control: { flags: SAL_SYN, verno: 0x01020304, ackno: 0, nonce: fromHex("a1a2a3a4a5a6a7a8") },
        services: [ServiceId.parse("16385")],
      },
      buf,
      0,
    );
    const tcpLen = emitTcp(
      { seq: 0xa0b0c0d0, ack: 0, flags: TCP_SYN, window: 0xffff, urgent: 0, options: { mss: 1460 }, payloadLen: 0 },
      buf,
      salLen,
      SRC,
      DST,
    );
    expect(salLen + tcpLen).toBe(SYN_BY_HAND.length);
    expect(buf).toEqual(SYN_BY_HAND);
  });

  test("the bytes written by hand parse, checksums verified", () => {
    const sal = parseSal(SYN_BY_HAND, 0, SYN_BY_HAND.length);
    if (typeof sal === "string") throw new Error(sal);
    expect(sal.control?.flags).toBe(SAL_SYN);
    expect(sal.services[0]!.firstWord()).toBe(16385);
    const tcp = parseTcp(SYN_BY_HAND, 68, SYN_BY_HAND.length - 68, SRC, DST);
    if (typeof tcp === "string") throw new Error(tcp);
    expect(tcp.flags).toBe(TCP_SYN);
    expect(tcp.options.mss).toBe(1460);
    // The TCP checksum covers the addresses: the same bytes to another instance do not verify.
    expect(parseTcp(SYN_BY_HAND, 68, SYN_BY_HAND.length - 68, SRC, fromHex("c6120103"))).toBe("bad-checksum");
  });
});

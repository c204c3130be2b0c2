import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fromHex } from "./bytes.ts";
import { DROP_REASONS } from "./drop_reason.ts";
import { emitSal, fillSalChecksum, parseSal, salHeaderLen, verifySalChecksum } from "./sal_header.ts";
import type { Locator, SalRepr } from "./sal_header.ts";
import { SalIndex } from "./sal_index.ts";
import {
  readControlAckno,
  readControlFlags,
  readControlVerno,
  readExtType,
  readSalChecksum,
  readSalDstFlowId,
  readSalHeaderLen,
  readSalProtocol,
  readSalSrcFlowId,
  SAL_ACK,
  SAL_SYN,
  writeControlAckno,
  writeControlFlags,
  writeControlVerno,
  writeSalDstFlowId,
  writeSalHeaderLen,
  writeSalProtocol,
  writeSalSrcFlowId,
} from "./sal_layout.ts";
import { ServiceId } from "./service_id.ts";

// Golden 1: a SAL SYN header, written out by hand from facts §2.2–2.4.
//   base:    src flowID 0x11223344, dst flowID 0 (SYN), shl 17 words (12+20+36 = 68 bytes),
//            protocol 6, checksum 0x23bd
//   CONTROL: 0x10 (type 1 << 4), length 20, flags 0x80 (SYN), reserved 0,
//            verno 0x01020304, ackno 0, nonce a1..a8
//   SERVICE: 0x20 (type 2 << 4), length 36, 2 reserved bytes, serviceID 16385
//            (00004001 big-endian in bytes 0-3, 28 zero bytes)
// Checksum by hand: 16-bit words 1122+3344+1106+1014+8000+0102+0304+a1a2+a3a4+a5a6+a7a8
//   +2024+4001 = 0x3dc3f; fold: 0xdc3f + 0x3 = 0xdc42; complement: 0x23bd.
const SYN = fromHex(
  "11223344 00000000 11 06 23bd" +
    "10148000 01020304 00000000 a1a2a3a4a5a6a7a8" +
    "20240000 00004001" + "00".repeat(28),
);
const SYN_REPR: SalRepr = {
  srcFlowId: 0x11223344,
  dstFlowId: 0,
  protocol: 6,
  control: { flags: SAL_SYN, verno: 0x01020304, ackno: 0, nonce: fromHex("a1a2a3a4a5a6a7a8") },
  services: [ServiceId.fromNumber(16385)],
};

// Golden 2: a SYN-ACK carrying a SOURCE extension (client, router, instance), facts §5.3.
//   shl 12 (12+20+16 = 48), CONTROL flags SYN|ACK (0xa0), verno 0x0a0b0c0d, ackno 0x01020305,
//   SOURCE: 0x40, length 16 (4 + 3 addresses), 198.18.0.1, 198.18.1.1, 198.18.2.2.
const SYNACK = fromHex(
  "55667788 11223344 0c 06 b04d" +
    "1014a000 0a0b0c0d 01020305 b1b2b3b4b5b6b7b8" +
    "40100000 c6120001 c6120101 c6120202",
);
const SYNACK_REPR: SalRepr = {
  srcFlowId: 0x55667788,
  dstFlowId: 0x11223344,
  protocol: 6,
  control: { flags: SAL_SYN | SAL_ACK, verno: 0x0a0b0c0d, ackno: 0x01020305, nonce: fromHex("b1b2b3b4b5b6b7b8") },
  services: [],
  source: [fromHex("c6120001"), fromHex("c6120101"), fromHex("c6120202")],
};

// Golden 3: an unconnected datagram (facts §3.9) with the new LOCATORS extension (type 5).
//   shl 29 (12 + 2*36 + 32 = 116), protocol 17, SERVICE dst 16385, SERVICE src 7,
//   LOCATORS: 0x50, length 32, 2 reserved; entry 1: family 4, flags 0, port 54325 (d435),
//   198.18.0.1; entry 2: family 6, flags 0, port 0, 2001:db8::1.
const DGRAM = fromHex(
  "00000007 00000000 1d 11 4073" +
    "20240000 00004001" + "00".repeat(28) +
    "20240000 00000007" + "00".repeat(28) +
    "50200000 0400d435 c6120001 06000000 20010db8" + "00".repeat(11) + "01",
);
const DGRAM_REPR: SalRepr = {
  srcFlowId: 7,
  dstFlowId: 0,
  protocol: 17,
  services: [ServiceId.fromNumber(16385), ServiceId.fromNumber(7)],
  locators: [
    { address: fromHex("c6120001"), port: 54325 },
    { address: fromHex("20010db8000000000000000000000001"), port: 0 },
  ],
};

// Golden 4: the ADDRESS extension (parsed and carried only): 0x30, length 16, verno 5,
//   ackno 6, one address 198.18.0.9; shl 7 (28 bytes), checksum 0x02c0.
const ADDR = fromHex("00000001 00000002 07 06 02c0" + "30100000 00000005 00000006 c6120009");
const ADDR_REPR: SalRepr = {
  srcFlowId: 1,
  dstFlowId: 2,
  protocol: 6,
  services: [],
  address: { verno: 5, ackno: 6, addresses: [fromHex("c6120009")] },
};

const GOLDEN: [string, Uint8Array<ArrayBuffer>, SalRepr][] = [
  ["SYN", SYN, SYN_REPR],
  ["SYN-ACK with SOURCE", SYNACK, SYNACK_REPR],
  ["datagram with LOCATORS", DGRAM, DGRAM_REPR],
  ["ADDRESS", ADDR, ADDR_REPR],
];

describe("SAL header views", () => {
  test("read the golden SYN in place", () => {
    expect(readSalSrcFlowId(SYN, 0)).toBe(0x11223344);
    expect(readSalDstFlowId(SYN, 0)).toBe(0);
    expect(readSalHeaderLen(SYN, 0)).toBe(68);
    expect(readSalProtocol(SYN, 0)).toBe(6);
    expect(readSalChecksum(SYN, 0)).toBe(0x23bd);
    expect(readExtType(SYN, 12)).toBe(1);
    expect(readControlFlags(SYN, 12)).toBe(SAL_SYN);
    expect(readControlVerno(SYN, 12)).toBe(0x01020304);
    expect(readControlAckno(SYN, 12)).toBe(0);
    expect(readExtType(SYN, 32)).toBe(2);
    expect(verifySalChecksum(SYN, 0)).toBe(true);
  });

  test("write the golden SYN field by field", () => {
    const b = new Uint8Array(68);
    writeSalSrcFlowId(b, 0, 0x11223344);
    writeSalDstFlowId(b, 0, 0);
    writeSalHeaderLen(b, 0, 68);
    writeSalProtocol(b, 0, 6);
    b[12] = 0x10;
    b[13] = 20;
    writeControlFlags(b, 12, SAL_SYN);
    writeControlVerno(b, 12, 0x01020304);
    writeControlAckno(b, 12, 0);
    b.set(fromHex("a1a2a3a4a5a6a7a8"), 24);
    b[32] = 0x20;
    b[33] = 36;
    ServiceId.fromNumber(16385).writeTo(b, 36);
    fillSalChecksum(b, 0);
    expect(b).toEqual(SYN);
  });

  test("views work at a non-zero offset", () => {
    const b = new Uint8Array(100);
    b.set(SYN, 14);
    expect(readSalSrcFlowId(b, 14)).toBe(0x11223344);
    expect(verifySalChecksum(b, 14)).toBe(true);
    const r = parseSal(b, 14, 68);
    expect(r).toEqual(SYN_REPR);
  });
});

describe("parseSal()", () => {
  for (const [name, bytes, repr] of GOLDEN) {
    test(`parses the golden ${name}`, () => {
      expect(parseSal(bytes, 0, bytes.length)).toEqual(repr);
    });
  }

  test("ignores what follows the header (the transport part)", () => {
    const b = new Uint8Array(SYN.length + 20);
    b.set(SYN);
    b.fill(0xee, SYN.length);
    expect(parseSal(b, 0, b.length)).toEqual(SYN_REPR);
  });

  test("every truncation is a drop", () => {
    for (let n = 0; n < SYN.length; n++) {
      const r = parseSal(SYN, 0, n);
      expect(r).toBe(n < 12 ? "truncated" : "header-overrun");
    }
  });

  test("a buffer shorter than the claimed length is truncated", () => {
    expect(parseSal(SYN.subarray(0, 30), 0, 68)).toBe("truncated");
  });

  const mutate = (f: (b: Uint8Array) => void, fix = true): Uint8Array => {
    const b = SYN.slice();
    f(b);
    if (fix) fillSalChecksum(b, 0);
    return b;
  };

  test("bad checksum", () => {
    expect(parseSal(mutate((b) => (b[40] = 1), false), 0, 68)).toBe("bad-checksum");
    expect(parseSal(mutate((b) => (b[11] ^= 0xff), false), 0, 68)).toBe("bad-checksum");
  });

  test("shl below the base header", () => {
    expect(parseSal(mutate((b) => (b[8] = 2)), 0, 68)).toBe("bad-length");
  });

  test("unknown protocol", () => {
    expect(parseSal(mutate((b) => (b[9] = 1)), 0, 68)).toBe("bad-protocol");
  });

  test("unknown extension type", () => {
    expect(parseSal(mutate((b) => (b[32] = 0x60)), 0, 68)).toBe("unknown-extension");
    expect(parseSal(mutate((b) => (b[32] = 0xf0)), 0, 68)).toBe("unknown-extension");
  });

  test("CONTROL and SERVICE must have their exact lengths", () => {
    expect(parseSal(mutate((b) => (b[13] = 16)), 0, 68)).toBe("bad-length");
    expect(parseSal(mutate((b) => (b[33] = 32)), 0, 68)).toBe("bad-length");
    expect(parseSal(mutate((b) => (b[13] = 1)), 0, 68)).toBe("bad-length");
  });

  test("an extension crossing the header end", () => {
    expect(parseSal(mutate((b) => (b[33] = 40)), 0, 68)).toBe("bad-length");
  });

  test("a second CONTROL", () => {
    // Rewrite the SERVICE ext as a 20-byte CONTROL followed by 16 bytes of PAD: PAD counts
    // as extensions, so use a shorter header: base + CONTROL + CONTROL.
    const b = new Uint8Array(52);
    b.set(SYN.subarray(0, 32));
    b.set(SYN.subarray(12, 32), 32);
    b[8] = 13;
    fillSalChecksum(b, 0);
    expect(parseSal(b, 0, 52)).toBe("second-control");
  });

  test("a third SERVICE", () => {
    const buf = new Uint8Array(200);
    const n = emitSal({ srcFlowId: 7, dstFlowId: 0, protocol: 17, services: DGRAM_REPR.services }, buf, 0);
    const b = new Uint8Array(n + 36);
    b.set(buf.subarray(0, n));
    b.set(buf.subarray(12, 48), n);
    b[8] = (n + 36) >> 2;
    fillSalChecksum(b, 0);
    expect(parseSal(b, 0, b.length)).toBe("too-many-services");
  });

  test("a second source list", () => {
    const buf = new Uint8Array(200);
    const n = emitSal(SYNACK_REPR, buf, 0);
    const b = new Uint8Array(n + 16);
    b.set(buf.subarray(0, n));
    b.set(buf.subarray(32, 48), n);
    b[8] = (n + 16) >> 2;
    fillSalChecksum(b, 0);
    expect(parseSal(b, 0, b.length)).toBe("second-source");
  });

  test("SOURCE with one address", () => {
    const b = SYNACK.slice(0, 40);
    b[33] = 8;
    b[8] = 10;
    fillSalChecksum(b, 0);
    expect(parseSal(b, 0, 40)).toBe("bad-source");
  });

  test("LOCATORS with a bad family", () => {
    const b = DGRAM.slice();
    b[88] = 5;
    fillSalChecksum(b, 0);
    expect(parseSal(b, 0, b.length)).toBe("bad-source");
  });

  test("more than 10 extensions (PAD counts)", () => {
    const b = new Uint8Array(12 + 12);
    b.set(fromHex("00000001 00000002 06 06 0000"));
    fillSalChecksum(b, 0);
    expect(parseSal(b, 0, b.length)).toBe("too-many-extensions");
    const ok = new Uint8Array(12 + 8);
    ok.set(fromHex("00000001 00000002 05 06 0000"));
    fillSalChecksum(ok, 0);
    expect(parseSal(ok, 0, ok.length)).toEqual({ srcFlowId: 1, dstFlowId: 2, protocol: 6, services: [] });
  });

  test("reserved bits are ignored on receipt", () => {
    const b = mutate((x) => {
      x[12] |= 0x0f;
      x[15] = 0xff;
      x[34] = 0xff;
    });
    expect(parseSal(b, 0, 68)).toEqual(SYN_REPR);
  });
});

describe("emitSal()", () => {
  for (const [name, bytes, repr] of GOLDEN) {
    test(`emits the golden ${name}`, () => {
      const b = new Uint8Array(bytes.length);
      expect(emitSal(repr, b, 0)).toBe(bytes.length);
      expect(salHeaderLen(repr)).toBe(bytes.length);
      expect(b).toEqual(bytes);
    });
  }

  test("refuses reprs that cannot be encoded", () => {
    const b = new Uint8Array(2000);
    const s = ServiceId.fromNumber(1);
    expect(() => emitSal({ ...SYN_REPR, services: [s, s, s] }, b, 0)).toThrow(RangeError);
    expect(() => emitSal({ ...SYNACK_REPR, source: [fromHex("01020304")] }, b, 0)).toThrow(RangeError);
    expect(() => emitSal({ ...SYN_REPR, control: { ...SYN_REPR.control!, nonce: new Uint8Array(4) } }, b, 0)).toThrow(
      RangeError,
    );
    expect(() => emitSal({ ...SYN_REPR, protocol: 1 }, b, 0)).toThrow(RangeError);
    expect(() => emitSal(SYN_REPR, new Uint8Array(40), 0)).toThrow(RangeError);
  });
});

// --- properties -------------------------------------------------------------

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const locator: fc.Arbitrary<Locator> = fc.record({
  address: fc.oneof(ipv4, fc.uint8Array({ minLength: 16, maxLength: 16 })),
  port: fc.integer({ min: 0, max: 0xffff }),
});
const serviceId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => ServiceId.fromBytes(b));

/** Every SalRepr that emitSal accepts. */
const salReprArb: fc.Arbitrary<SalRepr> = fc
  .record(
    {
      srcFlowId: u32,
      dstFlowId: u32,
      protocol: fc.constantFrom(6, 17),
      control: fc.record({
        flags: fc.integer({ min: 0, max: 255 }),
        verno: u32,
        ackno: u32,
        nonce: fc.uint8Array({ minLength: 8, maxLength: 8 }),
      }),
      services: fc.array(serviceId, { maxLength: 2 }),
      address: fc.record({ verno: u32, ackno: u32, addresses: fc.array(ipv4, { maxLength: 10 }) }),
      source: fc.array(ipv4, { minLength: 2, maxLength: 20 }),
      locators: fc.array(locator, { minLength: 1, maxLength: 10 }),
    },
    { requiredKeys: ["srcFlowId", "dstFlowId", "protocol", "services"] },
  )
  .filter((r) => !(r.source && r.locators))
  .filter((r) => !r.locators || r.locators.reduce((n, l) => n + (l.address.length === 4 ? 8 : 20), 4) <= 252);

describe("SAL properties", () => {
  test("parseSal(emitSal(r)) equals r", () => {
    const buf = new Uint8Array(1100);
    fc.assert(
      fc.property(salReprArb, (r) => {
        const n = emitSal(r, buf, 3);
        expect(parseSal(buf, 3, n)).toEqual(r);
      }),
      { seed: 2026, numRuns: 1000 },
    );
  });

  test("random bytes never throw", () => {
    const ix = new SalIndex();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (b, fix) => {
        if (fix && b.length >= 12 && (b[8]! << 2) <= b.length && b[8]! >= 3) fillSalChecksum(b, 0);
        const r = parseSal(b, 0, b.length);
        if (typeof r === "string") expect(DROP_REASONS).toContain(r);
        ix.scan(b, 0, b.length);
      }),
      { seed: 7, numRuns: 5000 },
    );
  });

  test("mutated valid packets never throw", () => {
    const buf = new Uint8Array(1100);
    fc.assert(
      fc.property(
        salReprArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (r, muts, fix) => {
          const n = emitSal(r, buf, 0);
          const b = buf.slice(0, n);
          for (const [i, v] of muts) b[i % n] = v;
          if (fix && (b[8]! << 2) <= n && b[8]! >= 3) fillSalChecksum(b, 0);
          const out = parseSal(b, 0, n);
          if (typeof out === "string") expect(DROP_REASONS).toContain(out);
        },
      ),
      { seed: 99, numRuns: 3000 },
    );
  });
});

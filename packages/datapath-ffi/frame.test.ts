import { describe, expect, test } from "bun:test";
import { emitIpv4Header, emitSal, internetChecksum, IPPROTO_SERVAL, parseIpv4Header, ServiceId } from "@serval/wire";
import { classifyFrame, forwardIpv4Frame, RxFrame, writeIpv4Frame, writeIpv6Frame } from "./frame.ts";

const MAC_A = new Uint8Array([2, 0, 0, 0, 0, 0xa]);
const MAC_B = new Uint8Array([2, 0, 0, 0, 0, 0xb]);
const ADDRS = new Uint8Array([198, 18, 0, 1, 198, 18, 0, 2]);

function ipv4Frame(payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(34 + payload.length);
  writeIpv4Frame(f, 0, MAC_B, MAC_A, ADDRS, 0, ADDRS, 4, payload.length, 0x1234, 64);
  f.set(payload, 34);
  return f;
}

describe("writeIpv4Frame()", () => {
  test("writes the IPv4 header of @serval/wire's emitIpv4Header, DF off", () => {
    const f = ipv4Frame(new Uint8Array(40));
    const ref = new Uint8Array(20);
    emitIpv4Header({ src: ADDRS.subarray(0, 4), dst: ADDRS.subarray(4), protocol: IPPROTO_SERVAL, ttl: 64, payloadLen: 40, ident: 0x1234 }, ref, 0);
    // wire sets DF; the datapath leaves it off (the issue asks for DF off): compare the rest.
    ref[6] &= ~0x40;
    ref.fill(0, 10, 12);
    const c = internetChecksum(ref, 0, 20);
    ref[10] = c >> 8;
    ref[11] = c & 255;
    expect([...f.subarray(14, 34)]).toEqual([...ref]);
    expect([...f.subarray(0, 6)]).toEqual([...MAC_B]);
    expect([...f.subarray(6, 12)]).toEqual([...MAC_A]);
    expect(internetChecksum(f, 14, 20)).toBe(0);
    const p = parseIpv4Header(f, 14);
    expect(typeof p === "string" ? p : p.payloadLen).toBe(40);
  });

  test("checksum is right for many random headers", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    const f = new Uint8Array(64);
    const a = new Uint8Array(8);
    for (let k = 0; k < 1000; k++) {
      for (let i = 0; i < 8; i++) a[i] = rnd() & 255;
      writeIpv4Frame(f, 0, MAC_A, MAC_B, a, 0, a, 4, rnd() % 1480, rnd(), 1 + (rnd() % 255));
      expect(internetChecksum(f, 14, 20)).toBe(0);
    }
  });
});

describe("classifyFrame()", () => {
  const sal = new Uint8Array(64);
  const salLen = emitSal({ srcFlowId: 1, dstFlowId: 2, protocol: 17, services: [ServiceId.fromNumber(16385)] }, sal, 0);

  test("accepts SAL over IPv4 and points at the SAL packet and addresses", () => {
    const f = ipv4Frame(sal.subarray(0, salLen));
    const r = new RxFrame();
    // Ethernet padding after the IP packet is not part of the SAL packet.
    const padded = new Uint8Array(f.length + 10);
    padded.set(f);
    expect(classifyFrame(padded, 0, padded.length, r)).toBe("serval");
    expect([r.family, r.salOff, r.salLen, r.srcOff, r.dstOff, r.ttl]).toEqual([4, 34, salLen, 26, 30, 64]);
  });

  test("ignores other EtherTypes and protocols without counting", () => {
    const f = ipv4Frame(new Uint8Array(8));
    const r = new RxFrame();
    f[23] = 17;
    expect(classifyFrame(f, 0, f.length, r)).toBe("ignore");
    const arp = ipv4Frame(new Uint8Array(8));
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(classifyFrame(arp, 0, arp.length, r)).toBe("ignore");
    expect(classifyFrame(f, 0, 10, r)).toBe("ignore");
  });

  test("drops bad headers with a reason", () => {
    const r = new RxFrame();
    const cases: [string, (f: Uint8Array) => void, number?][] = [
      ["bad-ip-version", (f) => (f[14] = 0x55)],
      ["bad-ip-header-length", (f) => (f[14] = 0x44)],
      ["bad-ip-length", (f) => (f[17] = f[17]! + 1)],
      ["bad-ip-length", (f) => (f[17] = 10)],
      ["bad-ip-checksum", (f) => (f[30] ^= 0x80)],
      ["truncated", () => {}, 30],
    ];
    for (const [want, mutate, len] of cases) {
      const f = ipv4Frame(new Uint8Array(8));
      mutate(f);
      expect([want, classifyFrame(f, 0, len ?? f.length, r)]).toEqual([want, want]);
    }
    const frag = ipv4Frame(new Uint8Array(8));
    frag[20] = 0x20; // MF
    frag.fill(0, 24, 26);
    const c = internetChecksum(frag, 14, 20);
    frag[24] = c >> 8;
    frag[25] = c & 255;
    expect(classifyFrame(frag, 0, frag.length, r)).toBe("ip-fragment");
  });

  test("IPv6: accepts next header 144, checks the payload length", () => {
    const f = new Uint8Array(54 + 20);
    const a = new Uint8Array(32);
    a[0] = 0x20;
    a[16] = 0x20;
    a[31] = 2;
    writeIpv6Frame(f, 0, MAC_A, MAC_B, a, 0, a, 16, 20, 64);
    const r = new RxFrame();
    expect(classifyFrame(f, 0, f.length, r)).toBe("serval");
    expect([r.family, r.salOff, r.salLen, r.srcOff, r.dstOff]).toEqual([6, 54, 20, 22, 38]);
    expect(classifyFrame(f, 0, f.length - 1, r)).toBe("bad-ip-length");
    f[20] = 6;
    expect(classifyFrame(f, 0, f.length, r)).toBe("ignore");
  });
});

describe("forwardIpv4Frame()", () => {
  test("decrements TTL, keeps the checksum valid, rewrites MACs; refuses TTL 1", () => {
    const f = ipv4Frame(new Uint8Array(8));
    for (let ttl = 64; ttl > 1; ttl--) {
      expect(forwardIpv4Frame(f, 0, MAC_A, MAC_B)).toBe(ttl - 1);
      expect(internetChecksum(f, 14, 20)).toBe(0);
    }
    expect([...f.subarray(0, 6)]).toEqual([...MAC_A]);
    expect(forwardIpv4Frame(f, 0, MAC_A, MAC_B)).toBe(-1);
  });
});

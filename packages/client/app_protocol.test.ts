import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type AppMessage, encodeMessage, FrameDecoder, HEADER_LEN, MAX_MESSAGE, MAX_NAME, MAX_PAYLOAD } from "./app_protocol.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

const SAMPLES: AppMessage[] = [
  { type: "hello", version: 1, window: 262144 },
  { type: "welcome", version: 1, window: 65536 },
  { type: "connect", channel: 1, service: "web.example" },
  { type: "listen", channel: 2, backlog: 16, prefix: "web.example/64" },
  { type: "open-datagram", channel: 3, prefix: "" },
  { type: "send-datagram", channel: 3, service: "dns.example", payload: bytes(1, 2, 3) },
  { type: "close", channel: 2 },
  { type: "data", channel: 0x8000_0001, payload: bytes(9, 8, 7) },
  { type: "fin", channel: 5 },
  { type: "reset", channel: 5, code: "timeout", message: "Connection timed out" },
  { type: "credit", channel: 5, bytes: 65536 },
  { type: "ok", channel: 1 },
  { type: "accepted", channel: 2, stream: 0x8000_0000 },
  { type: "datagram", channel: 3, source: new Uint8Array(32).fill(0xab), from: { address: bytes(127, 0, 0, 1), port: 54325 }, payload: bytes(4, 5) },
  { type: "error", channel: 0, code: "version", message: "unsupported protocol version 2" },
  { type: "error", channel: 1, code: "refused", message: "Cannot connect to x: refused" },
];

function decodeAll(chunks: Uint8Array[]): unknown[] {
  const d = new FrameDecoder();
  const out: unknown[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let m = d.next(); m !== undefined; m = d.next()) {
      out.push(m);
      if (m.type === "invalid") return out;
    }
  }
  return out;
}

/** Messages as plain data (Uint8Array views compared by content). */
const plain = (m: unknown) => JSON.parse(JSON.stringify(m, (_, v) => (v instanceof Uint8Array ? [...v] : v)));

describe("application protocol", () => {
  test("golden bytes: fin, credit, hello", () => {
    expect(encodeMessage({ type: "fin", channel: 3 })).toEqual(bytes(0x11, 0, 0, 0, 3, 0, 0, 0, 0));
    expect(encodeMessage({ type: "credit", channel: 0x8000_0002, bytes: 0x10000 })).toEqual(
      bytes(0x13, 0x80, 0, 0, 2, 0, 0, 0, 4, 0, 1, 0, 0),
    );
    // "SRVL", version 1, window 256 KiB
    expect(encodeMessage({ type: "hello", version: 1, window: 262144 })).toEqual(
      bytes(0x01, 0, 0, 0, 0, 0, 0, 0, 10, 0x53, 0x52, 0x56, 0x4c, 0, 1, 0, 4, 0, 0),
    );
  });

  test("every message kind decodes back to itself", () => {
    for (const m of SAMPLES) expect(plain(decodeAll([encodeMessage(m)]))).toEqual([plain(m)]);
  });

  test("property: any split of a message sequence decodes the same", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...SAMPLES), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (ms, cuts) => {
        const all = new Uint8Array(ms.reduce((n, m) => n + encodeMessage(m).length, 0));
        let o = 0;
        for (const m of ms) {
          const b = encodeMessage(m);
          all.set(b, o);
          o += b.length;
        }
        const points = [...new Set(cuts.map((c) => (all.length === 0 ? 0 : c % all.length)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const p of [...points, all.length]) {
          chunks.push(all.subarray(prev, p));
          prev = p;
        }
        expect(plain(decodeAll(chunks))).toEqual(ms.map(plain));
      }),
      { numRuns: 300 },
    );
  });

  test("property: arbitrary bytes never throw; a failure is sticky", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        const d = new FrameDecoder();
        d.push(b);
        let last: ReturnType<FrameDecoder["next"]>;
        for (let i = 0; i < 200; i++) {
          last = d.next();
          if (last === undefined || last.type === "invalid") break;
        }
        if (last?.type === "invalid") expect(d.next()).toEqual(last);
      }),
      { numRuns: 2000 },
    );
  });

  test("bad frames are named", () => {
    const reason = (b: Uint8Array) => {
      const m = decodeAll([b]).at(-1) as { type: string; reason?: string } | undefined;
      return m?.type === "invalid" ? m.reason : m?.type;
    };
    expect(reason(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))).toMatch(/exceeds|unknown frame type/);
    expect(reason(bytes(0x7f, 0, 0, 0, 1, 0, 0, 0, 0))).toBe("unknown frame type 0x7f");
    expect(reason(bytes(0x10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff))).toBe(`frame of 4294967295 bytes exceeds ${MAX_PAYLOAD}`);
    expect(reason(bytes(0x11, 0, 0, 0, 0, 0, 0, 0, 0))).toBe("bad fin frame: channel 0");
    expect(reason(bytes(0x13, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0))).toBe("bad credit frame: zero credit");
    expect(reason(bytes(0x02, 0, 0, 0, 1, 0, 0, 0, 2, 0xc3, 0x28))).toBe("bad connect frame: service is not short UTF-8 text");
    expect(reason(encodeMessage({ type: "hello", version: 1, window: 10 }))).toMatch(/bad hello frame: window 10/);
    const notMagic = encodeMessage({ type: "hello", version: 1, window: 65536 });
    notMagic[HEADER_LEN] = 0;
    expect(reason(notMagic)).toBe("bad hello frame: not a Serval application handshake");
  });

  test("a payload too large to encode is a RangeError (a sender's bug)", () => {
    expect(() => encodeMessage({ type: "data", channel: 1, payload: new Uint8Array(MAX_PAYLOAD + 1) })).toThrow(RangeError);
  });
});

describe("long text", () => {
  const decode = (b: Uint8Array) => {
    const d = new FrameDecoder();
    d.push(b);
    return d.next();
  };

  test("an error quoting a name of MAX_NAME bytes still decodes (messages have their own bound)", () => {
    const name = "n".repeat(MAX_NAME);
    const m = decode(encodeMessage({ type: "error", channel: 1, code: "invalid", message: `Cannot connect to ${name}: unreachable (no route to the service)` }));
    expect(m?.type).toBe("error");
    expect(m?.type === "error" && m.message.includes(name)).toBe(true);
  });

  test("longer messages are truncated on a character boundary, never misframed", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 0, maxLength: 3000 }), fc.constantFrom("error" as const, "reset" as const), (text, type) => {
        const m = decode(encodeMessage({ type, channel: 7, code: "invalid", message: text }));
        expect(m?.type).toBe(type);
        if (m?.type !== "error" && m?.type !== "reset") return;
        const n = new TextEncoder().encode(m.message).length;
        expect(n).toBeLessThanOrEqual(MAX_MESSAGE);
        if (new TextEncoder().encode(text).length <= MAX_MESSAGE) expect(m.message).toBe(text);
        else expect(m.message.endsWith("…")).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test("a service name longer than MAX_NAME cannot be encoded (it would be a protocol error, or misframe as u16)", () => {
    const long = "x".repeat(MAX_NAME + 1);
    expect(() => encodeMessage({ type: "connect", channel: 1, service: long })).toThrow(RangeError);
    expect(() => encodeMessage({ type: "listen", channel: 1, backlog: 1, prefix: long })).toThrow(RangeError);
    expect(() => encodeMessage({ type: "send-datagram", channel: 1, service: "y".repeat(70_000), payload: new Uint8Array(1) })).toThrow(RangeError);
    const ok = encodeMessage({ type: "send-datagram", channel: 1, service: "x".repeat(MAX_NAME), payload: new Uint8Array([5]) });
    const m = decode(ok);
    expect(m?.type === "send-datagram" && m.service.length === MAX_NAME && m.payload[0] === 5).toBe(true);
  });
});

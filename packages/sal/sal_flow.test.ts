import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SAL_ACK, SAL_FIN, SAL_RST, SAL_RSYN } from "@serval/wire";
import type { Locator } from "@serval/wire";
import { SalFlow } from "./sal_flow.ts";
import type { ControlOut, FlowEvent } from "./sal_flow.ts";

const loc = (last: number): Locator => ({ address: new Uint8Array([198, 18, 0, last]), port: 0 });
const A = loc(1);
const A2 = loc(11);
const B = loc(2);
const B2 = loc(22);
const NA = new Uint8Array(8).fill(0xa1);
const NB = new Uint8Array(8).fill(0xb2);
const ONE_WAY = 10_000; // 10 ms

type Dir = "ab" | "ba";
/** Decides whether a packet is lost: called for every packet with its direction and a counter. */
type Loss = (dir: Dir, c: ControlOut, n: number) => boolean;

/**
 * Two flow ends joined by a pipe with a fixed one-way delay, driven in
 * virtual time. The passive end is created when the first SYN arrives.
 */
class Pair {
  now = 0;
  a: SalFlow;
  b: SalFlow | undefined;
  readonly events: { a: FlowEvent[]; b: FlowEvent[] } = { a: [], b: [] };
  readonly sent: { dir: Dir; c: ControlOut }[] = [];
  readonly drops: string[] = [];
  #wire: { at: number; dir: Dir; c: ControlOut; from: Locator }[] = [];
  #n = 0;
  aLocal: Locator = A;
  bLocal: Locator = B;

  constructor(readonly loss: Loss = () => false, opts = {}) {
    this.a = SalFlow.connect(0, { iss: 1000, nonce: NA, local: A, options: opts });
    this.opts = opts;
  }
  readonly opts: object;

  #collect(): void {
    for (const [side, f] of [["a", this.a], ["b", this.b]] as const) {
      if (!f) continue;
      for (let c = f.pollControl(); c; c = f.pollControl()) {
        const dir: Dir = side === "a" ? "ab" : "ba";
        this.sent.push({ dir, c });
        const from = c.from ?? (side === "a" ? this.a.local ?? this.aLocal : this.b!.local ?? this.bLocal);
        if (!this.loss(dir, c, this.#n++)) this.#wire.push({ at: this.now + ONE_WAY, dir, c, from });
      }
      for (let e = f.pollEvent(); e; e = f.pollEvent()) this.events[side].push(e);
    }
  }

  #deliver(p: { dir: Dir; c: ControlOut; from: Locator }): void {
    const nonce = p.dir === "ab" ? NA : NB;
    if (p.dir === "ab") {
      if (!this.b) {
        this.b = SalFlow.accept(this.now, {
          iss: 5000,
          nonce: NB,
          peerNonce: nonce,
          synVerno: p.c.verno,
          peer: p.from,
          local: B,
          options: this.opts,
        });
        return;
      }
      const d = this.b.handleControl(this.now, { ...p.c, nonce }, p.from);
      if (d) this.drops.push(`b:${d}`);
    } else {
      const d = this.a.handleControl(this.now, { ...p.c, nonce }, p.from);
      if (d) this.drops.push(`a:${d}`);
    }
  }

  /** Runs until nothing is in flight and no timer is due before `until`. */
  run(until = Infinity, maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps; i++) {
      this.#collect();
      const next = Math.min(
        this.#wire.length ? Math.min(...this.#wire.map((w) => w.at)) : Infinity,
        this.a.pollTimeout() ?? Infinity,
        this.b?.pollTimeout() ?? Infinity,
      );
      if (next === Infinity || next > until) {
        if (until !== Infinity) this.now = until;
        return;
      }
      this.now = next;
      const due = this.#wire.filter((w) => w.at <= this.now);
      this.#wire = this.#wire.filter((w) => w.at > this.now);
      for (const p of due) this.#deliver(p);
      if ((this.a.pollTimeout() ?? Infinity) <= this.now) this.a.handleTimeout(this.now);
      if (this.b && (this.b.pollTimeout() ?? Infinity) <= this.now) this.b.handleTimeout(this.now);
    }
    throw new Error("pair never went idle");
  }

  get inFlight(): number {
    return this.#wire.length;
  }
}

function expectNoLeaks(p: Pair): void {
  expect(p.inFlight).toBe(0);
  for (const f of [p.a, p.b!]) {
    expect(f.state).toBe("CLOSED");
    expect(f.pollTimeout()).toBeUndefined();
    expect(f.pendingControl).toBe(0);
  }
}

const types = (es: FlowEvent[]) => es.map((e) => (e.type === "closed" ? `closed:${e.reason}` : e.type));

/** Connects, closes from `a`, then from `b`, and runs to the end of TIME-WAIT. */
function fullLife(p: Pair): void {
  p.run();
  expect([p.a.state, p.b!.state]).toEqual(["CONNECTED", "CONNECTED"]);
  p.a.close(p.now);
  p.run(p.now + 10_000_000); // long enough for a lost FIN or ACK to be retransmitted
  if (p.b!.state === "CLOSEWAIT") p.b!.close(p.now);
  p.run();
}

describe("SalFlow handshake", () => {
  test("SYN, SYN-ACK, ACK: both ends connected after one round trip", () => {
    const p = new Pair();
    p.run();
    expect([p.a.state, p.b!.state]).toEqual(["CONNECTED", "CONNECTED"]);
    expect(types(p.events.a)).toEqual(["connected"]);
    expect(types(p.events.b)).toEqual(["connected"]);
    // Three packets: the SYN (resolved by service), SYN-ACK, third ACK with a SERVICE ext.
    expect(p.sent.map((s) => [s.dir, s.c.flags, s.c.service, s.c.to === undefined])).toEqual([
      ["ab", 0x80, true, true],
      ["ba", 0xa0, false, false],
      ["ab", 0x20, true, false],
    ]);
    expect(p.a.srttUs).toBe(2 * ONE_WAY);
    expect(p.a.seq).toEqual({ sndUna: 1001, sndNxt: 1001, rcvNxt: 5001 });
  });

  for (const [what, n] of [["SYN", 0], ["SYN-ACK", 1], ["third ACK", 2]] as const) {
    test(`recovers when the ${what} is lost`, () => {
      const p = new Pair((_d, _c, i) => i === n);
      p.run();
      expect([p.a.state, p.b!.state]).toEqual(["CONNECTED", "CONNECTED"]);
      expect(types(p.events.a)).toEqual(["connected"]);
      expect(types(p.events.b)).toEqual(["connected"]);
      expect(p.now).toBeGreaterThanOrEqual(1_000_000); // one initial RTO
    });
  }

  test("a lost SYN-ACK is recovered by the server's retransmission", () => {
    // Lose the first SYN-ACK and every retransmitted SYN: only the server's timer can help.
    const p = new Pair((d, c, i) => (i === 1) || (d === "ab" && c.retransmit));
    p.run();
    expect(p.b!.state).toBe("CONNECTED");
    expect(p.sent.filter((s) => s.dir === "ba" && s.c.retransmit).length).toBeGreaterThan(0);
  });

  test("a lost SYN-ACK is recovered by the client's SYN retransmission", () => {
    // Lose the server's retransmissions: the client's duplicate SYN makes the server answer at once.
    const p = new Pair((d, c, i) => i === 1 || (d === "ba" && c.retransmit && c.flags === 0xa0 && i < 4));
    p.run();
    expect([p.a.state, p.b!.state]).toEqual(["CONNECTED", "CONNECTED"]);
  });

  test("gives up after the retry limit with a timeout", () => {
    const p = new Pair(() => true, { maxRetries: 3 });
    p.run();
    expect(p.a.state).toBe("CLOSED");
    expect(types(p.events.a)).toEqual(["closed:timeout"]);
    // 1 + 2 + 4 + 8 s of back-off.
    expect(p.now).toBe(15_000_000);
    expect(p.a.pollTimeout()).toBeUndefined();
  });

  test("a reset that acknowledges the SYN refuses the connection; others are ignored", () => {
    const a = SalFlow.connect(0, { iss: 77, nonce: NA });
    a.pollControl();
    expect(a.handleControl(1, { flags: SAL_RST | SAL_ACK, verno: 0, ackno: 99, nonce: NB }, B)).toBe("bad-ack");
    expect(a.handleControl(1, { flags: SAL_RST, verno: 0, ackno: 78, nonce: NB }, B)).toBe("bad-ack");
    expect(a.state).toBe("REQUEST");
    expect(a.handleControl(2, { flags: SAL_RST | SAL_ACK, verno: 0, ackno: 78, nonce: NB }, B)).toBeUndefined();
    expect(a.pollEvent()).toEqual({ type: "closed", reason: "refused" });
  });
});

describe("SalFlow close", () => {
  test("FIN from one side, then the other: TIME-WAIT, then both closed", () => {
    const p = new Pair();
    p.run();
    p.a.close(p.now);
    p.run(p.now + 1_000_000);
    expect([p.a.state, p.b!.state]).toEqual(["FINWAIT2", "CLOSEWAIT"]);
    expect(types(p.events.b)).toEqual(["connected", "peer-fin"]);
    // Half-close: b may still move and talk.
    p.b!.close(p.now);
    p.run(p.now + 1_000_000);
    expect([p.a.state, p.b!.state]).toEqual(["TIMEWAIT", "CLOSED"]);
    p.run();
    expect(types(p.events.a)).toEqual(["connected", "peer-fin", "closed:normal"]);
    expect(types(p.events.b)).toEqual(["connected", "peer-fin", "closed:normal"]);
    expectNoLeaks(p);
  });

  test("simultaneous close goes through CLOSING to TIME-WAIT on both sides", () => {
    const p = new Pair();
    p.run();
    p.a.close(p.now);
    p.b!.close(p.now);
    expect([p.a.state, p.b!.state]).toEqual(["FINWAIT1", "FINWAIT1"]);
    p.run(p.now + ONE_WAY);
    expect([p.a.state, p.b!.state]).toEqual(["CLOSING", "CLOSING"]);
    p.run(p.now + 1_000_000);
    expect([p.a.state, p.b!.state]).toEqual(["TIMEWAIT", "TIMEWAIT"]);
    p.run();
    expectNoLeaks(p);
  });

  test("every control packet of a close may be lost once", () => {
    // Packets after the handshake (index >= 3), each dropped in turn.
    for (let k = 3; k < 9; k++) {
      const p = new Pair((_d, _c, i) => i === k);
      fullLife(p);
      expectNoLeaks(p);
      expect(p.events.a.at(-1)).toEqual({ type: "closed", reason: "normal" });
      expect(p.events.b.at(-1)).toEqual({ type: "closed", reason: "normal" });
    }
  });

  test("FIN-WAIT-2 and TIME-WAIT are bounded", () => {
    const p = new Pair(undefined, { timeWaitUs: 5_000_000 });
    p.run();
    p.a.close(p.now);
    const t0 = p.now;
    p.run();
    // b never closes: a leaves FIN-WAIT-2 after the bound.
    expect(p.a.state).toBe("CLOSED");
    expect(p.now - t0).toBeLessThanOrEqual(5_000_000 + 2 * ONE_WAY);
    expect(p.b!.state).toBe("CLOSEWAIT");
  });
});

describe("SalFlow reset and forgery", () => {
  test("abort sends a RST the peer accepts", () => {
    const p = new Pair();
    p.run();
    p.a.abort(p.now);
    p.run();
    expect(types(p.events.a).at(-1)).toBe("closed:aborted");
    expect(types(p.events.b).at(-1)).toBe("closed:reset");
    expectNoLeaks(p);
  });

  test("forged RST, FIN, RSYN and ACK with a wrong nonce change nothing", () => {
    const p = new Pair();
    p.run();
    const b = p.b!;
    const before = JSON.stringify([b.state, b.seq, b.migration, b.peer]);
    const seq = b.seq;
    const forged = new Uint8Array(8).fill(0x66);
    for (const flags of [SAL_RST, SAL_RST | SAL_ACK, SAL_FIN | SAL_ACK, SAL_RSYN, SAL_ACK, SAL_RSYN | SAL_ACK]) {
      expect(b.handleControl(p.now, { flags, verno: seq.rcvNxt, ackno: seq.sndNxt, nonce: forged }, A2)).toBe("bad-nonce");
    }
    expect(JSON.stringify([b.state, b.seq, b.migration, b.peer])).toBe(before);
    expect(b.pollControl()).toBeUndefined();
    expect(b.pollEvent()).toBeUndefined();
  });

  test("a RST outside the window is ignored even with the right nonce", () => {
    const p = new Pair();
    p.run();
    const seq = p.b!.seq;
    expect(p.b!.handleControl(p.now, { flags: SAL_RST, verno: seq.rcvNxt + 5, ackno: 0, nonce: NA }, A)).toBe("old-verno");
    expect(p.b!.state).toBe("CONNECTED");
  });
});

describe("SalFlow migration", () => {
  function migrated(p: Pair): void {
    expect(p.a.local).toEqual(A2);
    expect(p.b!.peer).toEqual(A2);
    expect([p.a.migration, p.b!.migration]).toEqual(["NONE", "NONE"]);
    expect(types(p.events.a)).toEqual(["connected", "freeze", "migrated", "resume"]);
    expect(types(p.events.b)).toEqual(["connected", "freeze", "migrated", "resume"]);
  }

  test("RSYN, RSYN-ACK, ACK move one end; flowIDs and sequence state carry on", () => {
    const p = new Pair();
    p.run();
    expect(p.a.migrate(p.now, A2)).toBe(true);
    p.run();
    migrated(p);
    const rsyn = p.sent.find((s) => s.c.flags & SAL_RSYN && !(s.c.flags & SAL_ACK))!;
    expect(rsyn.c.from).toEqual(A2);
    const rsynAck = p.sent.find((s) => (s.c.flags & (SAL_RSYN | SAL_ACK)) === (SAL_RSYN | SAL_ACK))!;
    expect(rsynAck.c.to).toEqual(A2);
    fullLife(p);
    expectNoLeaks(p);
  });

  for (const [what, k] of [["RSYN", 3], ["RSYN-ACK", 4], ["final ACK", 5]] as const) {
    test(`migration survives the loss of the ${what}`, () => {
      const p = new Pair((_d, _c, i) => i === k);
      p.run();
      p.a.migrate(p.now, A2);
      p.run();
      migrated(p);
    });
  }

  test("both ends move at once, and the old locators vanish", () => {
    // After the move starts, nothing sent to an old locator arrives.
    const gone = (d: Dir, c: ControlOut) =>
      c.to !== undefined && (d === "ab" ? c.to.address[3] === 2 : c.to.address[3] === 1) && moving;
    let moving = false;
    const p = new Pair((d, c) => gone(d, c));
    p.run();
    moving = true;
    // Each RSYN crosses before its own old locator disappears: send both, then cut.
    p.a.migrate(p.now, A2);
    p.b!.migrate(p.now, B2);
    moving = false;
    p.run(p.now + ONE_WAY);
    moving = true;
    p.run();
    expect(p.a.local).toEqual(A2);
    expect(p.b!.local).toEqual(B2);
    expect(p.a.peer).toEqual(B2);
    expect(p.b!.peer).toEqual(A2);
    expect([p.a.migration, p.b!.migration]).toEqual(["NONE", "NONE"]);
    expect(types(p.events.a).filter((t) => t === "resume").length).toBe(1);
  });

  test("a move is refused before the flow is up and while one is under way", () => {
    const a = SalFlow.connect(0, { iss: 1, nonce: NA });
    expect(a.migrate(0, A2)).toBe(false);
    const p = new Pair();
    p.run();
    expect(p.a.migrate(p.now, A2)).toBe(true);
    expect(p.a.migrate(p.now, loc(99))).toBe(false);
  });
});

describe("SalFlow under random loss (property)", () => {
  test("handshake, migration and close always end cleanly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 30 }), (seed, pct) => {
        let x = seed;
        const lose = () => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return x % 100 < pct;
        };
        const p = new Pair(() => lose());
        p.run();
        if (p.a.state !== "CONNECTED" || p.b?.state !== "CONNECTED") {
          // Only possible when the retry limit ran out.
          expect(p.events.a.some((e) => e.type === "closed") || p.b?.state !== "CONNECTED").toBe(true);
          return;
        }
        p.a.migrate(p.now, A2);
        p.run();
        if (p.a.state === "CONNECTED" && p.b.state === "CONNECTED") {
          expect(p.b.peer).toEqual(A2);
          p.a.close(p.now);
          p.b.close(p.now);
        }
        p.run();
        for (const f of [p.a, p.b]) {
          if (f.state !== "CLOSED") f.abort(p.now);
        }
        p.run();
        expect(p.inFlight).toBe(0);
        expect(p.a.pollTimeout()).toBeUndefined();
        expect(p.b.pollTimeout()).toBeUndefined();
      }),
      { seed: 2012, numRuns: 200 },
    );
  });
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { seqAdd, type TcpSackBlock } from "@serval/wire";
import { type NextSegKind, SackScoreboard } from "./sack_scoreboard.ts";

const MSS = 1000;
/** Segment k (1-based) of MSS bytes from sequence base `b`. */
const seg = (k: number, b = 0) => seqAdd(b, (k - 1) * MSS);

describe("SackScoreboard", () => {
  test("IsLost: more than (DupThresh-1)*SMSS SACKed bytes above (RFC 6675 §4)", () => {
    const sb = new SackScoreboard({ mss: MSS, initialSeq: 0 });
    sb.update(0, [[seg(2), seg(3)]], seg(11));
    expect(sb.isLost(seg(1))).toBe(false);
    sb.update(0, [[seg(2), seg(4)]], seg(11));
    expect(sb.isLost(seg(1))).toBe(false); // exactly 2 * SMSS: not more
    expect(sb.update(0, [[seg(2), seg(5)]], seg(11))).toBe(MSS);
    expect(sb.isLost(seg(1))).toBe(true); // the third SACKed segment
    expect(sb.isLost(seg(1) + 999)).toBe(true);
    expect(sb.isLost(seg(5))).toBe(false);
    expect(sb.rangeCount).toBe(1);
  });

  test("IsLost: DupThresh discontiguous SACKed runs above, however small", () => {
    const sb = new SackScoreboard({ mss: MSS, initialSeq: 0 });
    sb.update(0, [[100, 101], [200, 201]], 1000);
    expect(sb.isLost(0)).toBe(false);
    sb.update(0, [[300, 301]], 1000);
    expect(sb.isLost(0)).toBe(true);
    expect(sb.isLost(150)).toBe(false); // only two runs above 150
    expect(sb.isLost(199)).toBe(false);
    const d2 = new SackScoreboard({ mss: 10, initialSeq: 0, dupThresh: 2 });
    d2.update(0, [[20, 30]], 100);
    expect(d2.isLost(0)).toBe(false); // 10 bytes, not more than 1 * 10
    d2.update(0, [[40, 41]], 100);
    expect(d2.isLost(0)).toBe(true);
  });

  test("SetPipe: lost holes leave the pipe, retransmissions re-enter it (RFC 6675 §4)", () => {
    const sb = new SackScoreboard({ mss: MSS, initialSeq: 0 });
    // 10 segments sent, segment 1 lost, 2..4 SACKed.
    sb.update(0, [[seg(2), seg(5)]], seg(11));
    expect(sb.pipe()).toBe(6 * MSS); // segments 5..10
    expect(sb.pipe(seg(2))).toBe(7 * MSS); // segment 1 retransmitted
    // Segment 6 also lost; 7..9 SACKed as they arrive.
    sb.update(0, [[seg(7), seg(10)], [seg(2), seg(5)]], seg(11));
    expect(sb.isLost(seg(6))).toBe(true);
    expect(sb.isLost(seg(5))).toBe(true);
    expect(sb.pipe()).toBe(1 * MSS); // only segment 10
    expect(sb.pipe(seg(7))).toBe(1 * MSS + 3 * MSS); // 1, 5, 6 retransmitted
    // The cumulative ACK covers 1..4.
    sb.update(seg(5), [[seg(7), seg(10)]], seg(11));
    expect(sb.pipe()).toBe(1 * MSS);
    expect(sb.highAck).toBe(seg(5));
    // Nothing SACKed: everything outstanding is in the pipe.
    const fresh = new SackScoreboard({ mss: MSS, initialSeq: 0 });
    fresh.update(0, [], 5000);
    expect(fresh.pipe()).toBe(5000);
    expect(fresh.isLost(0)).toBe(false);
  });

  test("NextSeg rules 1, 2, 3 and failure", () => {
    const sb = new SackScoreboard({ mss: MSS, initialSeq: 0 });
    const next = (highRxt: number, canSendNew: boolean): [NextSegKind, number, number] => {
      const k = sb.nextSeg(highRxt, canSendNew);
      return [k, sb.segSeq, sb.segLen];
    };
    expect(next(0, false)).toEqual(["none", 0, 0]);
    expect(next(0, true)).toEqual(["new-data", 0, MSS]);
    sb.update(0, [[seg(3), seg(6)]], seg(11)); // holes: 1..2 (lost), 6..10
    expect(next(0, false)).toEqual(["retransmit-lost", 0, MSS]); // rule 1
    expect(next(0, true)).toEqual(["retransmit-lost", 0, MSS]); // rule 1 before rule 2
    expect(next(seg(2), true)).toEqual(["retransmit-lost", seg(2), MSS]);
    expect(next(seg(2) + 500, true)).toEqual(["retransmit-lost", seg(2) + 500, 500]); // clipped to the hole
    expect(next(seg(3), true)).toEqual(["new-data", seg(11), MSS]); // rule 2: nothing lost at/after HighRxt
    expect(sb.nextSeg(seg(3), true, 12345)).toBe("new-data");
    expect(sb.segSeq).toBe(12345);
    expect(next(seg(3), false)).toEqual(["none", 0, 0]); // S3 must be below the highest SACK
    sb.update(0, [[seg(8), seg(9)]], seg(11)); // holes 6..7 and 9..10 now, not lost
    expect(sb.isLost(seg(6))).toBe(false);
    expect(next(seg(3), true)).toEqual(["new-data", seg(11), MSS]);
    expect(next(seg(3), false)).toEqual(["retransmit-unsacked", seg(6), MSS]); // rule 3
    expect(next(seg(7) + 10, false)).toEqual(["retransmit-unsacked", seg(7) + 10, MSS - 10]);
  });

  test("NextSeg rule 4: rescue retransmission of the highest unSACKed bytes", () => {
    const sb = new SackScoreboard({ mss: 100, initialSeq: 0 });
    sb.update(0, [], 250);
    expect(sb.nextSeg(0, false, 250, false)).toBe("none");
    expect(sb.nextSeg(0, false, 250, true)).toBe("rescue");
    expect([sb.segSeq, sb.segLen]).toEqual([150, 100]);
    sb.update(0, [[200, 250]], 250); // highest unSACKed byte is 199
    expect(sb.nextSeg(200, false, 250, true)).toBe("rescue");
    expect([sb.segSeq, sb.segLen]).toEqual([100, 100]);
    sb.update(180, [[190, 250]], 250); // only [180, 190) unSACKed
    expect(sb.nextSeg(200, false, 250, true)).toBe("rescue");
    expect([sb.segSeq, sb.segLen]).toEqual([180, 10]);
    sb.update(250, [], 250); // nothing outstanding
    expect(sb.nextSeg(250, false, 250, true)).toBe("none");
  });

  test("ignores invalid blocks and ACKs; detects D-SACK (RFC 2883)", () => {
    const sb = new SackScoreboard({ mss: 100, initialSeq: 1000 });
    expect(sb.update(1100, [[1000, 1050]], 2000)).toBe(0); // below the ACK: D-SACK
    expect(sb.dsack).toBe(true);
    expect(sb.update(1100, [[1300, 1200], [1200, 1200], [1050, 1150], [1900, 2001]], 2000)).toBe(0);
    expect(sb.dsack).toBe(false);
    expect(sb.sackedBytes).toBe(0);
    expect(sb.update(1100, [[1200, 1300], [1500, 1600]], 2000)).toBe(200);
    expect(sb.update(1100, [[1250, 1260], [1200, 1300]], 2000)).toBe(0); // inside the second: D-SACK
    expect(sb.dsack).toBe(true);
    expect(sb.update(1050, [[1300, 1400]], 2000)).toBe(100); // old ACK, blocks still used
    expect(sb.highAck).toBe(1100);
    expect(sb.update(2100, [[1600, 1700]], 2000)).toBe(0); // ACK beyond sndMax: ignored
    expect([sb.highAck, sb.sackedBytes, sb.rangeCount]).toEqual([1100, 300, 2]);
    expect(sb.update(1350, [], 2000)).toBe(0); // the ACK trims SACKed ranges below it
    expect([sb.sackedBytes, sb.rangeCount, sb.highSacked]).toEqual([150, 2, 1600]);
    expect([sb.isSacked(1349), sb.isSacked(1350), sb.isSacked(1400)]).toEqual([false, true, false]);
    sb.reset();
    expect([sb.sackedBytes, sb.highAck, sb.sndMax, sb.highSacked]).toEqual([0, 1350, 2000, 1350]);
    sb.reset(7);
    expect([sb.highAck, sb.sndMax]).toEqual([7, 7]);
  });

  test("a full list ignores blocks that would open a new range", () => {
    const sb = new SackScoreboard({ mss: 10, initialSeq: 0, maxRanges: 2 });
    sb.update(0, [[10, 20], [30, 40], [50, 60]], 100);
    expect([sb.rangeCount, sb.sackedBytes]).toEqual([2, 20]);
    sb.update(0, [[20, 30]], 100); // merges into one
    expect([sb.rangeCount, sb.sackedBytes, sb.highSacked]).toEqual([1, 30, 40]);
  });

  test("works across the 2^32 wrap", () => {
    const base = 0xfffff800;
    const sb = new SackScoreboard({ mss: MSS, initialSeq: base });
    sb.update(base, [[seg(2, base), seg(5, base)]], seg(11, base));
    expect(seg(5, base)).toBeLessThan(base); // wrapped
    expect(sb.isLost(base)).toBe(true);
    expect(sb.pipe()).toBe(6 * MSS);
    expect(sb.nextSeg(base, true)).toBe("retransmit-lost");
    expect([sb.segSeq, sb.segLen]).toEqual([base, MSS]);
    sb.update(seg(5, base), [], seg(11, base));
    expect([sb.highAck, sb.sackedBytes]).toEqual([seg(5, base), 0]);
  });

  test("throws RangeError on bad options", () => {
    expect(() => new SackScoreboard({ mss: 0, initialSeq: 0 })).toThrow(RangeError);
    expect(() => new SackScoreboard({ mss: 10, initialSeq: -1 })).toThrow(RangeError);
    expect(() => new SackScoreboard({ mss: 10, initialSeq: 0, dupThresh: 0 })).toThrow(RangeError);
    expect(() => new SackScoreboard({ mss: 10, initialSeq: 0, maxRanges: 0 })).toThrow(/Cannot create SackScoreboard/);
    expect(() => new SackScoreboard({ mss: 10, initialSeq: 0 }).reset(2 ** 32)).toThrow(RangeError);
  });

  test("isLost, pipe and nextSeg match a per-byte model (property)", () => {
    const update = fc.record({
      grow: fc.integer({ min: 0, max: 40 }),
      ack: fc.integer({ min: -5, max: 45 }),
      blocks: fc.array(fc.tuple(fc.integer({ min: -10, max: 300 }), fc.integer({ min: -5, max: 40 })), {
        maxLength: 4,
      }),
    });
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0xffffff80), fc.nat(0xffffffff)),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(update, { minLength: 1, maxLength: 25 }),
        fc.array(fc.integer({ min: -5, max: 400 }), { minLength: 4, maxLength: 4 }),
        (iss, mss, dupThresh, updates, probes) => {
          const sb = new SackScoreboard({ mss, initialSeq: iss, dupThresh });
          // Model over offsets from iss.
          let una = 0, max = 0;
          const sacked: boolean[] = [];
          const S = (o: number) => seqAdd(iss, o);
          const lostM = (x: number) => {
            let bytes = 0, runs = 0;
            for (let b = x + 1; b < max; b++) {
              if (b >= una && sacked[b]) {
                bytes++;
                if (!(b - 1 > x && b - 1 >= una && sacked[b - 1])) runs++;
              }
            }
            return runs >= dupThresh || bytes > (dupThresh - 1) * mss;
          };
          for (const u of updates) {
            max += u.grow;
            const ack = una + u.ack;
            const blocks: TcpSackBlock[] = u.blocks.map(([l, len]) => [S(una + l), S(una + l + len)]);
            let fresh = 0;
            if (ack <= max) {
              const oldUna = una;
              if (ack > una) una = ack;
              for (const [l0, len] of u.blocks) {
                const l = oldUna + l0, r = l + len;
                if (len <= 0 || l < una || r > max) continue;
                for (let b = l; b < r; b++) if (!sacked[b]) (sacked[b] = true, fresh++);
              }
            }
            expect(sb.update(S(ack), blocks, S(max))).toBe(fresh);
            let total = 0;
            for (let b = una; b < max; b++) if (sacked[b]) total++;
            expect([sb.highAck, sb.sndMax, sb.sackedBytes]).toEqual([S(una), S(max), total]);
            for (const p of probes) {
              const x = una + (p % (max - una + 3)) - 1;
              expect(sb.isLost(S(x))).toBe(lostM(x));
              // pipe with highRxt = x (clamped semantics: bytes below x retransmitted)
              let pipeM = 0;
              for (let b = una; b < max; b++) {
                if (sacked[b]) continue;
                if (!lostM(b)) pipeM++;
                if (b < x) pipeM++;
              }
              expect(sb.pipe(S(x))).toBe(pipeM);
              // nextSeg
              let highest = -1;
              for (let b = una; b < max; b++) if (sacked[b]) highest = b;
              let s2 = -1;
              for (let b = Math.max(x, una); b < highest; b++) {
                if (!sacked[b]) {
                  s2 = b;
                  break;
                }
              }
              let top = -1; // highest unSACKed byte outstanding
              for (let b = max - 1; b >= una; b--) {
                if (!sacked[b]) {
                  top = b;
                  break;
                }
              }
              for (const [canNew, rescue] of [[true, false], [false, false], [false, true]] as const) {
                const k = sb.nextSeg(S(x), canNew, S(max), rescue);
                if (s2 >= 0 && lostM(s2)) expect(k).toBe("retransmit-lost");
                else if (canNew) expect(k).toBe("new-data");
                else if (s2 >= 0) expect(k).toBe("retransmit-unsacked");
                else if (rescue && top >= 0) {
                  expect(k).toBe("rescue");
                  let lo = top;
                  while (lo > top - mss + 1 && lo - 1 >= una && !sacked[lo - 1]) lo--;
                  expect([sb.segSeq, sb.segLen]).toEqual([S(lo), top + 1 - lo]);
                } else expect(k).toBe("none");
                if (k === "retransmit-lost" || k === "retransmit-unsacked") {
                  let end = s2;
                  while (end < s2 + mss && !sacked[end]) end++;
                  expect([sb.segSeq, sb.segLen]).toEqual([S(s2), end - s2]);
                }
              }
            }
          }
        },
      ),
      { seed: 1, numRuns: 300 },
    );
  });

  test("the loss mark follows the cumulative ACK: nothing is deemed lost 2^31 bytes later", () => {
    const sb = new SackScoreboard({ mss: 1000, initialSeq: 5 });
    sb.update(5, [[1005, 2005]], 3005);
    sb.markLost(3005);
    expect(sb.isLost(5)).toBe(true);
    let ack = 3005;
    for (let i = 0; i < 3; i++) { // 3 × 2^30 past the mark: a stale mark would compare as ahead
      ack = (ack + 0x40000000) >>> 0;
      sb.sent((ack + 2000) >>> 0);
      sb.update(ack, [], (ack + 2000) >>> 0);
    }
    expect(sb.isLost(ack)).toBe(false);
    expect(sb.pipe()).toBe(2000);
  });
});

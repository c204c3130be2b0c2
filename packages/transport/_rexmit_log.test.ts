import { describe, expect, test } from "bun:test";
import { RexmitLog } from "./_rexmit_log.ts";

const none = { isSacked: () => false };

describe("RexmitLog", () => {
  test("delivered retransmissions are forgotten: cumulatively acked or SACKed", () => {
    const log = new RexmitLog(4);
    log.add(0, 100, 0);
    log.add(200, 300, 0);
    log.add(400, 500, 0);
    expect(log.reap(100, { isSacked: (s) => s === 400 }, 10, 1000)).toBe(0);
    expect(log.size).toBe(1);
    expect(log.nextLost()).toBe(-1);
  });

  test("lost ones are reported once, lowest first; sending again clears the mark", () => {
    const log = new RexmitLog(4);
    log.add(500, 600, 0);
    log.add(300, 400, 10);
    expect(log.reap(0, none, 2000, 1000)).toBe(2);
    expect(log.reap(0, none, 2100, 1000)).toBe(0);
    expect(log.lostBytes).toBe(200);
    expect(log.nextLost()).toBe(300);
    expect(log.endOf(300)).toBe(400);
    log.add(300, 400, 2100);
    expect(log.lostBytes).toBe(100);
    expect(log.nextLost()).toBe(500);
  });

  test("a partly acknowledged lost retransmission keeps its byte count right", () => {
    const log = new RexmitLog(4);
    log.add(0, 100, 0);
    log.reap(0, none, 5000, 1000);
    expect(log.lostBytes).toBe(100);
    log.reap(40, none, 5001, 1000);
    expect(log.lostBytes).toBe(60);
    expect(log.nextLost()).toBe(40);
    log.reap(100, none, 5002, 1000);
    expect([log.lostBytes, log.size]).toEqual([0, 0]);
  });

  test("works across the 2^32 wrap and stops tracking when full", () => {
    const log = new RexmitLog(2);
    log.add(0xffffffc0, 0x20, 0);
    log.add(0x20, 0x80, 0);
    log.add(0x80, 0x100, 0); // full: not tracked
    expect(log.size).toBe(2);
    expect(log.reap(0xffffffc0, none, 2000, 1000)).toBe(2);
    expect(log.nextLost()).toBe(0xffffffc0);
    log.clear();
    expect([log.size, log.lostBytes]).toEqual([0, 0]);
  });
});

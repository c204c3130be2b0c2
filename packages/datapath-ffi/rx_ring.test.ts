import { describe, expect, test } from "bun:test";
import { RxRing, writeSyntheticBlock } from "./rx_ring.ts";

const BS = 4096;

function frames(n: number, len: number, tag: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array(len).fill((tag + i) & 255));
}

describe("RxRing", () => {
  test("walks blocks in order, wraps, and hands blocks back", () => {
    const mem = new Uint8Array(3 * BS);
    const r = new RxRing(mem, BS, 3);
    expect(r.next()).toBe(-1);
    expect(r.ready()).toBe(false);
    writeSyntheticBlock(mem, 0, frames(3, 60, 1), 5);
    writeSyntheticBlock(mem, BS, frames(2, 100, 10), 6);
    expect(r.ready()).toBe(true);
    const seen: [number, number, number][] = [];
    for (let h = r.next(); h >= 0; h = r.next()) seen.push([r.snaplen(h), mem[r.mac(h)]!, r.ifindex(h)]);
    expect(seen).toEqual([[60, 1, 5], [60, 2, 5], [60, 3, 5], [100, 10, 6], [100, 11, 6]]);
    expect(mem[8]).toBe(0); // block 0 returned
    expect(mem[BS + 8]).toBe(0); // block 1 returned when the walk found nothing more
    // Wrap around: blocks 2 then 0.
    writeSyntheticBlock(mem, 2 * BS, frames(1, 70, 20), 7);
    writeSyntheticBlock(mem, 0, frames(1, 80, 30), 7);
    const again: number[] = [];
    for (let h = r.next(); h >= 0; h = r.next()) again.push(r.snaplen(h));
    expect(again).toEqual([70, 80]);
  });

  test("lastInBlock is true exactly before a block is handed back", () => {
    const mem = new Uint8Array(2 * BS);
    const r = new RxRing(mem, BS, 2);
    writeSyntheticBlock(mem, 0, frames(2, 60, 1), 1);
    r.next();
    expect(r.lastInBlock).toBe(false);
    r.next();
    expect(r.lastInBlock).toBe(true);
    expect(mem[8]).toBe(1); // still ours
    expect(r.next()).toBe(-1);
    expect(mem[8]).toBe(0);
  });

  test("stops at a block the kernel still owns, and resumes there", () => {
    const mem = new Uint8Array(2 * BS);
    const r = new RxRing(mem, BS, 2);
    writeSyntheticBlock(mem, BS, frames(1, 60, 1), 1); // block 1 ready, block 0 not: order matters
    expect(r.next()).toBe(-1);
    writeSyntheticBlock(mem, 0, frames(1, 61, 1), 1);
    expect(r.snaplen(r.next())).toBe(61);
    expect(r.snaplen(r.next())).toBe(60);
  });
});

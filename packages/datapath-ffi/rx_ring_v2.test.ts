import { describe, expect, test } from "bun:test";
import { RxRingV2, V2_RELEASE_BATCH, writeSyntheticFrameV2 } from "./rx_ring_v2.ts";

const FS = 256;

describe("RxRingV2", () => {
  test("walks frames in order, wraps, hands frames back when the walk runs dry", () => {
    const n = 4;
    const mem = new Uint8Array(n * FS);
    const r = new RxRingV2(mem, FS, n);
    expect([r.next(), r.ready()]).toEqual([-1, false]);
    for (let i = 0; i < 3; i++) writeSyntheticFrameV2(mem, i * FS, new Uint8Array(60 + i).fill(i + 1), 7);
    const seen: [number, number, number][] = [];
    for (let h = r.next(); h >= 0; h = r.next()) seen.push([r.snaplen(h), mem[r.mac(h)]!, r.ifindex(h)]);
    expect(seen).toEqual([[60, 1, 7], [61, 2, 7], [62, 3, 7]]);
    expect([mem[0], mem[FS], mem[2 * FS]]).toEqual([0, 0, 0]);
    writeSyntheticFrameV2(mem, 3 * FS, new Uint8Array(63), 7);
    writeSyntheticFrameV2(mem, 0, new Uint8Array(64), 7);
    const again: number[] = [];
    for (let h = r.next(); h >= 0; h = r.next()) again.push(r.snaplen(h));
    expect(again).toEqual([63, 64]);
  });

  test("holds at most one release batch; lastInBlock announces each hand-back", () => {
    const n = V2_RELEASE_BATCH + 8;
    const mem = new Uint8Array(n * FS);
    const r = new RxRingV2(mem, FS, n);
    for (let i = 0; i < n; i++) writeSyntheticFrameV2(mem, i * FS, new Uint8Array(60), 1);
    for (let i = 0; i < V2_RELEASE_BATCH; i++) {
      expect(r.lastInBlock).toBe(false);
      r.next();
    }
    expect(r.lastInBlock).toBe(true);
    expect(mem[0]).toBe(1); // still ours: frames may be transmitted from the ring
    r.next();
    expect(mem[0]).toBe(0);
    expect(mem[V2_RELEASE_BATCH * FS]).toBe(1);
  });
});

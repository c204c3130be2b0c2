/**
 * {@linkcode RxRingV2}: walks a TPACKET_V2 receive ring (fixed-size frames,
 * each with its own status word). Unlike TPACKET_V3, whose blocks reach user
 * space only when full or when the retire timer fires (≈1–4 ms on a quiet
 * link), every V2 frame is visible and wakes poll(2) as soon as it arrives:
 * the choice for request/response traffic. V3 is cheaper per packet under load.
 *
 * Layout (linux/if_packet.h): `tpacket2_hdr` (`tp_status` at 0, `tp_len` at
 * 4, `tp_snaplen` at 8, `tp_mac` at 12), then `sockaddr_ll` at 32
 * (`sll_ifindex` at 36, `sll_pkttype` at 42).
 *
 * Pure: works over any buffer, so tests build synthetic rings.
 *
 * @module
 */

import type { RxRingReader } from "./rx_ring.ts";

/** Frames handed back to the kernel together (like one V3 block). */
export const V2_RELEASE_BATCH = 64;

/**
 * A cursor over a TPACKET_V2 ring, with the same reading interface as
 * {@linkcode RxRing}: frames are handed back to the kernel in groups of up to
 * {@linkcode V2_RELEASE_BATCH} (or when the walk finds nothing more), so the
 * frames returned since the last hand-back stay readable, e.g. for transmit
 * straight from the ring.
 *
 * @example Walk two frames of a synthetic ring
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RxRingV2, writeSyntheticFrameV2 } from "@serval/datapath-ffi";
 * const mem = new Uint8Array(4 * 2048);
 * writeSyntheticFrameV2(mem, 0, new Uint8Array(60), 3);
 * writeSyntheticFrameV2(mem, 2048, new Uint8Array(70), 3);
 * const r = new RxRingV2(mem, 2048, 4);
 * const seen: number[] = [];
 * for (let h = r.next(); h >= 0; h = r.next()) seen.push(r.snaplen(h));
 * assertEquals(seen, [60, 70]);
 * assertEquals(mem[0], 0); // handed back
 * ```
 */
export class RxRingV2 implements RxRingReader {
  readonly bytes: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #u16: Uint16Array;
  /** Next frame to look at. */
  #cur = 0;
  /** First frame not yet handed back. */
  #first = 0;
  /** Frames returned but not handed back. */
  #held = 0;

  /**
   * @param mem The ring mapping (frameSize × frameCount bytes).
   * @param frameSize Bytes per frame slot (multiple of 16).
   * @param frameCount Frame slots.
   */
  constructor(mem: Uint8Array, readonly frameSize: number, readonly frameCount: number) {
    this.bytes = mem;
    this.#u32 = new Uint32Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 2);
    this.#u16 = new Uint16Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 1);
  }

  #release(): void {
    let f = this.#first;
    for (let i = 0; i < this.#held; i++) {
      this.#u32[(f * this.frameSize) >>> 2] = 0; // TP_STATUS_KERNEL
      f = f + 1 === this.frameCount ? 0 : f + 1;
    }
    this.#first = f;
    this.#held = 0;
  }

  #userAt(f: number): boolean {
    return (this.#u32[(f * this.frameSize) >>> 2]! & 1) !== 0;
  }

  /** Offset of the next frame's header, or -1. Allocation: none. */
  next(): number {
    if (this.#held === V2_RELEASE_BATCH || (this.#held > 0 && !this.#userAt(this.#cur))) this.#release();
    const f = this.#cur;
    if (!this.#userAt(f)) return -1;
    this.#cur = f + 1 === this.frameCount ? 0 : f + 1;
    this.#held++;
    return f * this.frameSize;
  }

  /** True when the next call to {@linkcode RxRingV2.next} hands frames back to the kernel. */
  get lastInBlock(): boolean {
    return this.#held > 0 && (this.#held === V2_RELEASE_BATCH || !this.#userAt(this.#cur));
  }

  /** True when {@linkcode RxRingV2.next} would return a frame. */
  ready(): boolean {
    return this.#userAt(this.#cur);
  }

  /** Offset of frame `h`'s Ethernet header. */
  mac(h: number): number {
    return h + this.#u16[(h + 12) >>> 1]!;
  }

  /** Captured bytes of frame `h`. */
  snaplen(h: number): number {
    return this.#u32[(h + 8) >>> 2]!;
  }

  /** Interface index frame `h` arrived on. */
  ifindex(h: number): number {
    return this.#u32[(h + 36) >>> 2]!;
  }

  /** `sll_pkttype` of frame `h`. */
  pktType(h: number): number {
    return this.bytes[h + 42]!;
  }
}

/**
 * Writes one frame slot the way the kernel does (for tests): header, MAC
 * header at offset 66 (so the IP header is 4-aligned), status USER.
 */
export function writeSyntheticFrameV2(mem: Uint8Array, at: number, frame: Uint8Array, ifindex: number): void {
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  const macOff = 66;
  dv.setUint32(at + 4, frame.length, true);
  dv.setUint32(at + 8, frame.length, true);
  dv.setUint16(at + 12, macOff, true);
  dv.setUint16(at + 14, macOff + 14, true);
  dv.setUint16(at + 32, 17, true);
  dv.setInt32(at + 36, ifindex, true);
  mem[at + 42] = 0;
  mem.set(frame, at + macOff);
  dv.setUint32(at, 1, true);
}

/**
 * {@linkcode RxRing}: walks a TPACKET_V3 receive ring (blocks of packets that
 * the kernel hands over whole) over one mapping, without system calls.
 *
 * Layout (linux/if_packet.h): each block starts with `tpacket_block_desc`
 * (`block_status` at 8, `num_pkts` at 12, `offset_to_first_pkt` at 16); each
 * packet with `tpacket3_hdr` (`tp_next_offset` at 0, `tp_snaplen` at 12,
 * `tp_len` at 16, `tp_mac` at 24) followed by a `sockaddr_ll` at 48
 * (`sll_ifindex` at 52, `sll_pkttype` at 58). A block belongs to user space
 * while `block_status & TP_STATUS_USER`; writing `TP_STATUS_KERNEL` (0)
 * gives it back.
 *
 * Pure: works over any buffer, so tests build synthetic rings.
 *
 * @module
 */

/** `block_status` bit: the block is ours to read. */
export const TP_STATUS_USER = 1;
/** Offset of `block_status` in a block descriptor. */
export const BLOCK_STATUS_OFF = 8;
/** Offset of `num_pkts`. */
export const BLOCK_NUM_PKTS_OFF = 12;
/** Offset of `offset_to_first_pkt`. */
export const BLOCK_FIRST_OFF = 16;
/** `tpacket3_hdr` fields. */
export const TP_NEXT_OFF = 0;
export const TP_SNAPLEN_OFF = 12;
export const TP_LEN_OFF = 16;
export const TP_MAC_OFF = 24;
/** `sockaddr_ll` follows the header at TPACKET_ALIGN(48). */
export const TP_SLL_OFF = 48;
export const SLL_IFINDEX_OFF: number = TP_SLL_OFF + 4;
export const SLL_PKTTYPE_OFF: number = TP_SLL_OFF + 10;

/** What the datapath reads from a receive ring (V3: {@linkcode RxRing}; V2: `RxRingV2`). */
export interface RxRingReader {
  /** The mapping as bytes. */
  readonly bytes: Uint8Array;
  /** Offset of the next packet's header, or -1. */
  next(): number;
  /** Whether `next` would return a packet. */
  ready(): boolean;
  /** True when the next `next` call hands memory back to the kernel (flush staged transmits first). */
  readonly lastInBlock: boolean;
  /** Offset of the Ethernet header. */
  mac(h: number): number;
  /** Captured bytes. */
  snaplen(h: number): number;
  /** Arrival interface. */
  ifindex(h: number): number;
  /** `sll_pkttype`. */
  pktType(h: number): number;
}

/**
 * A cursor over a TPACKET_V3 ring.
 *
 * Call {@linkcode RxRing.next} until it returns -1; each result is the offset
 * of a packet header in {@linkcode RxRing.bytes}. A block is returned to the
 * kernel when the cursor moves past its last packet, so the packet returned
 * last stays readable until the next call.
 *
 * @example Walk a synthetic ring of two blocks
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RxRing, writeSyntheticBlock } from "@serval/datapath-ffi";
 * const mem = new Uint8Array(2 * 4096);
 * writeSyntheticBlock(mem, 0, [new Uint8Array(60), new Uint8Array(70)], 3);
 * const r = new RxRing(mem, 4096, 2);
 * const seen: number[] = [];
 * for (let h = r.next(); h >= 0; h = r.next()) seen.push(r.snaplen(h));
 * assertEquals(seen, [60, 70]);
 * assertEquals(mem[8], 0); // block 0 handed back
 * ```
 */
export class RxRing implements RxRingReader {
  /** The mapping as bytes. */
  readonly bytes: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #u16: Uint16Array;
  #block = 0;
  #held = false;
  #left = 0;
  #at = 0;

  /**
   * @param mem The ring mapping (blockSize × blockCount bytes, 8-aligned).
   * @param blockSize Bytes per block.
   * @param blockCount Blocks in the ring.
   */
  constructor(mem: Uint8Array, readonly blockSize: number, readonly blockCount: number) {
    this.bytes = mem;
    this.#u32 = new Uint32Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 2);
    this.#u16 = new Uint16Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 1);
  }

  /**
   * Offset of the next packet's `tpacket3_hdr`, or -1 when the kernel has
   * handed over nothing more. Allocation: none.
   */
  next(): number {
    for (;;) {
      if (this.#left > 0) {
        const at = this.#at;
        this.#left--;
        if (this.#left > 0) this.#at = at + this.#u32[(at + TP_NEXT_OFF) >>> 2]!;
        return at;
      }
      const base = this.#block * this.blockSize;
      if (this.#held) {
        this.#u32[(base + BLOCK_STATUS_OFF) >>> 2] = 0; // TP_STATUS_KERNEL
        this.#held = false;
        this.#block = this.#block + 1 === this.blockCount ? 0 : this.#block + 1;
        continue;
      }
      if ((this.#u32[(base + BLOCK_STATUS_OFF) >>> 2]! & TP_STATUS_USER) === 0) return -1;
      this.#held = true;
      this.#left = this.#u32[(base + BLOCK_NUM_PKTS_OFF) >>> 2]!;
      this.#at = base + this.#u32[(base + BLOCK_FIRST_OFF) >>> 2]!;
    }
  }

  /**
   * True when the packet returned last was the last of its block: the next
   * call to {@linkcode RxRing.next} gives that block back to the kernel, so
   * anything still pointing into it (staged transmits) must be done first.
   */
  get lastInBlock(): boolean {
    return this.#held && this.#left === 0;
  }

  /** True when {@linkcode RxRing.next} would return a packet. Allocation: none. */
  ready(): boolean {
    if (this.#left > 0) return true;
    let b = this.#block;
    if (this.#held) b = b + 1 === this.blockCount ? 0 : b + 1;
    return (this.#u32[(b * this.blockSize + BLOCK_STATUS_OFF) >>> 2]! & TP_STATUS_USER) !== 0;
  }

  /** Offset of packet `h`'s Ethernet header. */
  mac(h: number): number {
    return h + this.#u16[(h + TP_MAC_OFF) >>> 1]!;
  }

  /** Captured bytes of packet `h`. */
  snaplen(h: number): number {
    return this.#u32[(h + TP_SNAPLEN_OFF) >>> 2]!;
  }

  /** Interface index packet `h` arrived on. */
  ifindex(h: number): number {
    return this.#u32[(h + SLL_IFINDEX_OFF) >>> 2]!;
  }

  /** `sll_pkttype` of packet `h` (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing). */
  pktType(h: number): number {
    return this.bytes[h + SLL_PKTTYPE_OFF]!;
  }
}

/**
 * Writes one block the way the kernel does (for tests and benchmarks of the
 * ring walk): packets with `tpacket3_hdr` + `sockaddr_ll`, the MAC header at
 * a 16-aligned offset after them, `num_pkts`, and `block_status = USER`.
 *
 * @param mem Ring bytes.
 * @param base Offset of the block.
 * @param frames Ethernet frames to put in the block.
 * @param ifindex `sll_ifindex` for every packet.
 * @returns Bytes of the block used.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RxRing, writeSyntheticBlock } from "@serval/datapath-ffi";
 * const mem = new Uint8Array(4096);
 * writeSyntheticBlock(mem, 0, [new Uint8Array([1, 2, 3])], 9);
 * const r = new RxRing(mem, 4096, 1);
 * const h = r.next();
 * assertEquals([r.ifindex(h), mem[r.mac(h)]], [9, 1]);
 * ```
 */
export function writeSyntheticBlock(mem: Uint8Array, base: number, frames: readonly Uint8Array[], ifindex: number): number {
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  const first = 48; // sizeof(tpacket_block_desc) aligned
  let at = base + first;
  const macOff = 80; // TPACKET_ALIGN(48 + sizeof(sockaddr_ll)) rounded like the kernel's tp_hdrlen + padding
  frames.forEach((f, i) => {
    const total = (macOff + f.length + 15) & ~15;
    dv.setUint32(at + TP_NEXT_OFF, i + 1 < frames.length ? total : 0, true);
    dv.setUint32(at + TP_SNAPLEN_OFF, f.length, true);
    dv.setUint32(at + TP_LEN_OFF, f.length, true);
    dv.setUint16(at + TP_MAC_OFF, macOff, true);
    dv.setUint16(at + TP_SLL_OFF, 17, true);
    dv.setInt32(at + SLL_IFINDEX_OFF, ifindex, true);
    mem[at + SLL_PKTTYPE_OFF] = 0;
    mem.set(f, at + macOff);
    at += total;
  });
  dv.setUint32(base + BLOCK_NUM_PKTS_OFF, frames.length, true);
  dv.setUint32(base + BLOCK_FIRST_OFF, first, true);
  dv.setUint32(base + BLOCK_STATUS_OFF, TP_STATUS_USER, true);
  return at - base;
}

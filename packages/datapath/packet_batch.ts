/**
 * {@linkcode PacketBatch}: a fixed-capacity set of SAL packets with their
 * network addresses, held in typed arrays so that moving a batch between a
 * datapath and the stack allocates nothing per packet.
 *
 * Packet `i` is `data.subarray(offset[i], offset[i] + length[i])`: the SAL
 * header onwards (Ethernet/IP/UDP framing is the datapath's business). Its
 * addresses are 16-byte slots in `srcAddr`/`dstAddr` (an IPv4 address uses
 * the first 4 bytes; `family[i]` says which), its ports are UDP ports or 0 for
 * SAL directly over IP, `ifindex[i]` is the interface it arrived on or must
 * leave by (0: the datapath's choice), and `flags[i]` carries
 * {@linkcode BATCH_BROADCAST}.
 *
 * @module
 */

import type { Locator } from "@serval/wire";

/** `flags[i]` bit: the packet was (or must be) sent as a link broadcast. */
export const BATCH_BROADCAST = 1;

/** Bytes per address slot (room for IPv6). */
export const ADDR_SLOT = 16;

/**
 * A batch of packets with addresses, reused across receive/send calls.
 *
 * @example Append a packet and read it back as locators
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PacketBatch } from "@serval/datapath";
 * const b = new PacketBatch(4, 2048);
 * const i = b.push(new Uint8Array([1, 2, 3]), 0, 3,
 *   { address: new Uint8Array([198, 18, 0, 1]), port: 0 },
 *   { address: new Uint8Array([198, 18, 0, 2]), port: 0 });
 * assertEquals(i, 0);
 * assertEquals([...b.packet(0)], [1, 2, 3]);
 * assertEquals([...b.src(0).address], [198, 18, 0, 1]);
 * b.clear();
 * assertEquals(b.count, 0);
 * ```
 */
export class PacketBatch {
  /** Packet bytes. */
  readonly data: Uint8Array;
  /** Start of packet i in `data`. */
  readonly offset: Uint32Array;
  /** Length of packet i. */
  readonly length: Uint32Array;
  /** 4 or 6. */
  readonly family: Uint8Array;
  /** Source address of packet i at `i * 16`. */
  readonly srcAddr: Uint8Array;
  /** Destination address of packet i at `i * 16`. */
  readonly dstAddr: Uint8Array;
  /** Source UDP port (0: SAL over IP). */
  readonly srcPort: Uint16Array;
  /** Destination UDP port (0: SAL over IP). */
  readonly dstPort: Uint16Array;
  /** Interface index (0: unspecified). */
  readonly ifindex: Uint32Array;
  /** {@linkcode BATCH_BROADCAST} and future bits. */
  readonly flags: Uint8Array;
  /** Packets held. */
  count = 0;
  /** Bytes of `data` in use (packets are packed from 0). */
  used = 0;

  /**
   * @param capacity Most packets held.
   * @param bytes Size of the data area (default: capacity × 2048), or the
   *   data area itself (e.g. a `checksumBuffer` from `@serval/wire`, where
   *   received segments are checksummed faster).
   * @throws {RangeError} On a non-positive capacity or size.
   */
  constructor(readonly capacity: number, bytes: number | Uint8Array = capacity * 2048) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`Cannot create batch: capacity is ${capacity}, must be a positive integer`);
    }
    const size = typeof bytes === "number" ? bytes : bytes.length;
    if (!Number.isInteger(size) || size <= 0) {
      throw new RangeError(`Cannot create batch: size is ${size} bytes, must be a positive integer`);
    }
    this.data = typeof bytes === "number" ? new Uint8Array(bytes) : bytes;
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.family = new Uint8Array(capacity);
    this.srcAddr = new Uint8Array(capacity * ADDR_SLOT);
    this.dstAddr = new Uint8Array(capacity * ADDR_SLOT);
    this.srcPort = new Uint16Array(capacity);
    this.dstPort = new Uint16Array(capacity);
    this.ifindex = new Uint32Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  /** Forgets every packet (the arrays are reused). */
  clear(): void {
    this.count = 0;
    this.used = 0;
  }

  /** Room for another packet of `len` bytes. */
  fits(len: number): boolean {
    return this.count < this.capacity && this.used + len <= this.data.length;
  }

  /**
   * Copies a packet in with its addresses.
   *
   * @param src Source locator, or `undefined` (all zero: the datapath's choice).
   * @returns The packet's index, or -1 when the batch is full.
   */
  push(
    bytes: Uint8Array,
    off: number,
    len: number,
    src: Locator | undefined,
    dst: Locator,
    ifindex = 0,
    flags = 0,
  ): number {
    if (!this.fits(len)) return -1;
    const i = this.count++;
    this.offset[i] = this.used;
    this.length[i] = len;
    this.data.set(off === 0 && len === bytes.length ? bytes : bytes.subarray(off, off + len), this.used);
    this.used += len;
    this.family[i] = dst.address.length === 16 ? 6 : 4;
    const at = i * ADDR_SLOT;
    // Byte loops, not fill/set: four native calls per packet cost more than the copy of a segment's addresses.
    putAddr(this.srcAddr, at, src?.address);
    putAddr(this.dstAddr, at, dst.address);
    this.srcPort[i] = src?.port ?? 0;
    this.dstPort[i] = dst.port;
    this.ifindex[i] = ifindex;
    this.flags[i] = flags;
    return i;
  }

  /**
   * Whether packet i's source is `loc` (same address and port): lets a
   * receiver reuse the locator of the previous packet instead of allocating
   * one per packet. Allocation: none.
   */
  srcIs(i: number, loc: Locator): boolean {
    return this.srcPort[i] === loc.port && sameAddr(this.srcAddr, i * ADDR_SLOT, this.family[i] === 6 ? 16 : 4, loc.address);
  }

  /** Whether packet i's destination is `loc` (see {@linkcode PacketBatch.srcIs}). Allocation: none. */
  dstIs(i: number, loc: Locator): boolean {
    return this.dstPort[i] === loc.port && sameAddr(this.dstAddr, i * ADDR_SLOT, this.family[i] === 6 ? 16 : 4, loc.address);
  }

  /** Packet i's bytes (a view, valid until the batch is reused). */
  packet(i: number): Uint8Array {
    const o = this.offset[i]!;
    return this.data.subarray(o, o + this.length[i]!);
  }

  /** Packet i's source as a locator (allocates: control path and tests). */
  src(i: number): Locator {
    return this.#locator(this.srcAddr, this.srcPort[i]!, i);
  }

  /** Packet i's destination as a locator (allocates: control path and tests). */
  dst(i: number): Locator {
    return this.#locator(this.dstAddr, this.dstPort[i]!, i);
  }

  #locator(addrs: Uint8Array, port: number, i: number): Locator {
    const n = this.family[i] === 6 ? 16 : 4;
    const at = i * ADDR_SLOT;
    return { address: addrs.slice(at, at + n), port };
  }
}

/** Writes an address into a 16-byte slot, zero-padded (all zero when `a` is undefined). */
function putAddr(slots: Uint8Array, at: number, a: Uint8Array | undefined): void {
  const n = a === undefined ? 0 : Math.min(a.length, ADDR_SLOT);
  for (let j = 0; j < n; j++) slots[at + j] = a![j]!;
  for (let j = n; j < ADDR_SLOT; j++) slots[at + j] = 0;
}

function sameAddr(slots: Uint8Array, at: number, n: number, a: Uint8Array): boolean {
  if (a.length !== n) return false;
  for (let j = 0; j < n; j++) if (slots[at + j] !== a[j]) return false;
  return true;
}

/**
 * {@linkcode TxQueue}: batched transmit on one packet socket with
 * `sendmmsg(2)`, up to {@linkcode TX_BURST} frames per system call. Each
 * frame is two iovecs: headers written into a fixed staging slot, and the
 * payload where it already is (the caller's batch or an RX ring), so nothing
 * is copied or allocated per packet.
 *
 * The staging area (headers, iovecs, `mmsghdr`s) is an anonymous mapping
 * that never moves, so the pointers written into it stay valid.
 *
 * @module
 */

import { toArrayBuffer } from "bun:ffi";
import { asPtr, errno, libc, mapAnonymous, mapFailed } from "./_libc.ts";
import { errnoName } from "./errno.ts";
import { PacketDatapathError } from "./packet_datapath_error.ts";

/** Frames per `sendmmsg` call. */
export const TX_BURST = 64;
/** Bytes reserved for the headers of one frame (Ethernet + IPv6 = 54). */
export const TX_HEADER_SLOT = 64;
const IOV_LEN = 16; // struct iovec { void *base; size_t len; }
const MMSG_LEN = 64; // struct mmsghdr { struct msghdr (56); unsigned msg_len; } padded to 64
const HDRS_OFF = 0;
const IOVS_OFF: number = HDRS_OFF + TX_BURST * TX_HEADER_SLOT;
const MSGS_OFF: number = IOVS_OFF + TX_BURST * 2 * IOV_LEN;
const AREA_LEN: number = MSGS_OFF + TX_BURST * MMSG_LEN;

/** What a flush did. */
export interface TxResult {
  /** Frames the kernel accepted. */
  sent: number;
  /** Frames refused (each counted under its errno name). */
  failed: number;
}

/**
 * Up to {@linkcode TX_BURST} staged frames for one socket.
 *
 * Usage per frame: write headers into `headers` at `slot() * TX_HEADER_SLOT`,
 * then `push(headerLen, payloadAddr, payloadLen)`; `flush()` when full and
 * at the end of a batch. Payload memory must stay valid until `flush`.
 */
export class TxQueue {
  /** Staging headers (slot i at i × {@linkcode TX_HEADER_SLOT}). */
  readonly headers: Uint8Array;
  /** Frames staged. */
  count = 0;
  /** Payload bytes staged (SAL bytes; whole frames when forwarding). */
  bytes = 0;
  readonly #addr: number;
  readonly #u32: Uint32Array;
  #lastErrno = 0;

  constructor(readonly fd: number) {
    const a = mapAnonymous(AREA_LEN);
    if (mapFailed(a)) {
      const e = errnoName(errno());
      throw new PacketDatapathError(`Cannot map the transmit staging area: ${e}`, e);
    }
    this.#addr = a;
    const ab = toArrayBuffer(a, 0, AREA_LEN);
    this.headers = new Uint8Array(ab, HDRS_OFF, TX_BURST * TX_HEADER_SLOT);
    this.#u32 = new Uint32Array(ab);
    for (let i = 0; i < TX_BURST; i++) {
      const iov = IOVS_OFF + i * 2 * IOV_LEN;
      this.#ptr(iov, a + HDRS_OFF + i * TX_HEADER_SLOT);
      const m = MSGS_OFF + i * MMSG_LEN;
      this.#ptr(m + 16, a + iov); // msg_iov
      this.#ptr(m + 24, 2); // msg_iovlen
    }
  }

  /** errno name of the last refused frame (for drop counters). */
  get lastError(): string {
    return errnoName(this.#lastErrno);
  }

  #ptr(byteOff: number, v: number): void {
    this.#u32[byteOff >>> 2] = v >>> 0;
    this.#u32[(byteOff >>> 2) + 1] = Math.floor(v / 0x100000000);
  }

  /** Whether another frame fits before a flush. */
  get full(): boolean {
    return this.count === TX_BURST;
  }

  /** Slot of the next frame: write its headers at `slot * TX_HEADER_SLOT` in {@linkcode TxQueue.headers}. */
  get slot(): number {
    return this.count;
  }

  /**
   * Stages the frame whose headers are in the current slot. Allocation: none.
   *
   * @param headerLen Header bytes in the slot (0 when the payload is the whole frame).
   * @param payloadAddr Address of the payload bytes.
   * @param payloadLen Payload bytes.
   */
  push(headerLen: number, payloadAddr: number, payloadLen: number): void {
    const i = this.count++;
    const iov = IOVS_OFF + i * 2 * IOV_LEN;
    this.#u32[(iov + 8) >>> 2] = headerLen;
    this.#u32[(iov + 12) >>> 2] = 0;
    this.#ptr(iov + 16, payloadAddr);
    this.#u32[(iov + 24) >>> 2] = payloadLen;
    this.#u32[(iov + 28) >>> 2] = 0;
    this.bytes += payloadLen;
  }

  /**
   * Sends every staged frame (several `sendmmsg` calls when the kernel stops
   * early; a refused frame is skipped and counted in `failed`).
   */
  flush(out: TxResult): void {
    out.sent = 0;
    out.failed = 0;
    const n = this.count;
    let i = 0;
    const c = libc();
    while (i < n) {
      const r = c.sendmmsg(this.fd, asPtr(this.#addr + MSGS_OFF + i * MMSG_LEN), n - i, 0);
      if (r > 0) {
        out.sent += r;
        i += r;
      } else {
        this.#lastErrno = errno();
        out.failed++;
        i++;
      }
    }
    this.count = 0;
    this.bytes = 0;
  }

  /** Releases the staging area. */
  close(): void {
    libc().munmap(asPtr(this.#addr), AREA_LEN);
  }
}

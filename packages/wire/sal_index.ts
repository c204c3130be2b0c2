/**
 * An allocation-free validator and index of a SAL header: the forwarding and
 * demultiplexing fast path reads fields straight from the buffer through it,
 * without building a {@linkcode SalRepr}.
 *
 * @module
 */

import { checksumAdd, checksumFinish } from "./checksum.ts";
import type { DropReason } from "./drop_reason.ts";
import { readU32 } from "./bytes.ts";
import {
  ADDRESS_LIST,
  CONTROL_EXT_LEN,
  EXT_ADDRESS,
  EXT_CONTROL,
  EXT_LEN,
  EXT_LOCATORS,
  EXT_MAX_LEN,
  EXT_PAD,
  EXT_SERVICE,
  EXT_SOURCE,
  LOC_FAMILY,
  LOC_V4_LEN,
  LOC_V6_LEN,
  LOCATORS_LIST,
  SAL_DST_FLOWID,
  SAL_HEADER_LEN,
  SAL_MAX_EXTENSIONS,
  SAL_PROTO_TCP,
  SAL_PROTO_UDP,
  SAL_PROTOCOL,
  SAL_SHL,
  SAL_SRC_FLOWID,
  SERVICE_EXT_LEN,
  SOURCE_LIST,
  SOURCE_MAX_ADDRS,
  SOURCE_MIN_ADDRS,
} from "./sal_layout.ts";

/**
 * Where each extension of one SAL header is, after {@linkcode SalIndex.scan}
 * has validated it. Reuse one instance for every packet.
 *
 * Validation is the 2014 receive rules (facts §2.3) made strict: at most 10
 * extensions; an unknown type; a length below the type's size; CONTROL not
 * exactly 20 bytes or SERVICE not exactly 36; a second CONTROL; a third
 * SERVICE; a second source list (SOURCE, LOCATORS) or ADDRESS; a SOURCE with
 * fewer than 2 or more than 20 addresses; a LOCATORS entry with a family
 * other than 4 or 6; an extension that crosses the end of the header; a bad
 * checksum; a `protocol` other than 6 or 17 — each gives a drop reason.
 * Reserved bits are ignored on receipt and zero on emission.
 *
 * **Performance**: allocation none; one pass over the header plus the
 * checksum.
 *
 * @example Index a packet and read its destination serviceID in place
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { emitSal, ServiceId } from "@serval/wire";
 * const buf = new Uint8Array(64);
 * const n = emitSal({ srcFlowId: 1, dstFlowId: 0, protocol: 6, services: [ServiceId.fromNumber(16385)] }, buf, 0);
 * const ix = new SalIndex();
 * assertEquals(ix.scan(buf, 0, n), undefined);
 * assertEquals(ix.serviceOff, 12);
 * assertEquals(ServiceId.fromBytes(buf, ix.serviceOff + 4).firstWord(), 16385);
 * ```
 */
export class SalIndex {
  /** Header length in bytes (`shl` × 4). */
  headerLen = 0;
  /** The `protocol` field (6 or 17). */
  protocol = 0;
  /** Source flowID. */
  srcFlowId = 0;
  /** Destination flowID (0: none). */
  dstFlowId = 0;
  /** Number of extensions, PAD bytes included. */
  extCount = 0;
  /** Offset of the CONTROL extension in the scanned buffer (absolute, not from the packet start), or -1. */
  controlOff = -1;
  /** Offset of the first SERVICE extension (destination) in the scanned buffer (absolute), or -1. */
  serviceOff = -1;
  /** Offset of the second SERVICE extension (source, in unconnected datagrams) in the scanned buffer (absolute), or -1. */
  service2Off = -1;
  /** Offset of the ADDRESS extension, or -1. */
  addressOff = -1;
  /** Length of the ADDRESS extension. */
  addressLen = 0;
  /** Offset of the SOURCE extension, or -1. */
  sourceOff = -1;
  /** Length of the SOURCE extension. */
  sourceLen = 0;
  /** Offset of the LOCATORS extension, or -1. */
  locatorsOff = -1;
  /** Length of the LOCATORS extension. */
  locatorsLen = 0;

  /**
   * Validates the SAL header at `buf[off..off+len)` and records where its
   * extensions are (absolute offsets in `buf`).
   *
   * Borrows `buf` until return.
   *
   * @param buf The packet bytes.
   * @param off Offset of the SAL header.
   * @param len Bytes available from `off` (SAL header + transport + payload).
   * @param verifyChecksum Verify the SAL checksum (default `true`).
   * @returns `undefined` when the header is valid, else the drop reason.
   *
   * @example A truncated header is a drop, not an exception
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new SalIndex().scan(new Uint8Array(8), 0, 8), "truncated");
   * ```
   */
  scan(buf: Uint8Array, off: number, len: number, verifyChecksum = true): DropReason | undefined {
    this.controlOff = this.serviceOff = this.service2Off = -1;
    this.addressOff = this.sourceOff = this.locatorsOff = -1;
    this.addressLen = this.sourceLen = this.locatorsLen = 0;
    this.extCount = 0;
    if (len < SAL_HEADER_LEN || off + len > buf.length) return "truncated";
    const hl = buf[off + SAL_SHL]! << 2;
    if (hl < SAL_HEADER_LEN) return "bad-length";
    if (hl > len) return "header-overrun";
    if (verifyChecksum && checksumFinish(checksumAdd(buf, off, hl, 0)) !== 0) return "bad-checksum";
    const protocol = buf[off + SAL_PROTOCOL]!;
    if (protocol !== SAL_PROTO_TCP && protocol !== SAL_PROTO_UDP) return "bad-protocol";
    this.headerLen = hl;
    this.protocol = protocol;
    this.srcFlowId = readU32(buf, off + SAL_SRC_FLOWID);
    this.dstFlowId = readU32(buf, off + SAL_DST_FLOWID);

    const end = off + hl;
    let p = off + SAL_HEADER_LEN;
    let count = 0;
    while (p < end) {
      if (++count > SAL_MAX_EXTENSIONS) return "too-many-extensions";
      const type = buf[p]! >> 4;
      if (type === EXT_PAD) {
        p += 1;
        continue;
      }
      if (p + 2 > end) return "bad-length";
      const el = buf[p + EXT_LEN]!;
      if (el < 2) return "bad-length";
      if (p + el > end) return "bad-length";
      switch (type) {
        case EXT_CONTROL:
          if (el !== CONTROL_EXT_LEN) return "bad-length";
          if (this.controlOff >= 0) return "second-control";
          this.controlOff = p;
          break;
        case EXT_SERVICE:
          if (el !== SERVICE_EXT_LEN) return "bad-length";
          if (this.service2Off >= 0) return "too-many-services";
          if (this.serviceOff < 0) this.serviceOff = p;
          else this.service2Off = p;
          break;
        case EXT_ADDRESS:
          if (el < ADDRESS_LIST || (el - ADDRESS_LIST) % 4 !== 0) return "bad-length";
          if (this.addressOff >= 0) return "second-source";
          this.addressOff = p;
          this.addressLen = el;
          break;
        case EXT_SOURCE: {
          if ((el - SOURCE_LIST) % 4 !== 0 || el < SOURCE_LIST) return "bad-length";
          const n = (el - SOURCE_LIST) >> 2;
          if (n < SOURCE_MIN_ADDRS || n > SOURCE_MAX_ADDRS) return "bad-source";
          if (this.sourceOff >= 0 || this.locatorsOff >= 0) return "second-source";
          this.sourceOff = p;
          this.sourceLen = el;
          break;
        }
        case EXT_LOCATORS: {
          if (el > EXT_MAX_LEN || el < LOCATORS_LIST + LOC_V4_LEN) return "bad-length";
          if (this.sourceOff >= 0 || this.locatorsOff >= 0) return "second-source";
          let q = p + LOCATORS_LIST;
          const qend = p + el;
          while (q < qend) {
            const fam = buf[q + LOC_FAMILY]!;
            const elen = fam === 4 ? LOC_V4_LEN : fam === 6 ? LOC_V6_LEN : 0;
            if (elen === 0) return "bad-source";
            q += elen;
          }
          if (q !== qend) return "bad-length";
          this.locatorsOff = p;
          this.locatorsLen = el;
          break;
        }
        default:
          return "unknown-extension";
      }
      p += el;
    }
    this.extCount = count;
    return undefined;
  }
}

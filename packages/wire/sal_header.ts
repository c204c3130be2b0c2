/**
 * The SAL header as a checked representation: {@linkcode parseSal} turns
 * untrusted bytes into a {@linkcode SalRepr} or a drop reason, and
 * {@linkcode emitSal} writes a repr into a caller-lent buffer with `shl` and
 * the checksum filled in. Version 1 of the wire format is the 2014 Serval
 * format byte for byte (facts §2), plus the LOCATORS extension (type 5).
 *
 * Emission order is canonical: CONTROL, SERVICE (destination, then source),
 * ADDRESS, SOURCE, LOCATORS; the order of the facts table (§2.4). Parsing
 * accepts any order and skips PAD bytes.
 *
 * @module
 */

import { checksumAdd, checksumFinish } from "./checksum.ts";
import type { DropReason } from "./drop_reason.ts";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { SalIndex } from "./sal_index.ts";
import {
  ADDRESS_ACKNO,
  ADDRESS_LIST,
  ADDRESS_VERNO,
  CONTROL_ACKNO,
  CONTROL_EXT_LEN,
  CONTROL_FLAGS,
  CONTROL_NONCE,
  CONTROL_VERNO,
  EXT_ADDRESS,
  EXT_CONTROL,
  EXT_LEN,
  EXT_LOCATORS,
  EXT_MAX_LEN,
  EXT_SERVICE,
  EXT_SOURCE,
  EXT_TYPE,
  LOC_ADDR,
  LOC_FAMILY,
  LOC_PORT,
  LOC_V4_LEN,
  LOC_V6_LEN,
  LOCATORS_LIST,
  NONCE_LEN,
  SAL_CHECK,
  SAL_DST_FLOWID,
  SAL_HEADER_LEN,
  SAL_MAX_HEADER_LEN,
  SAL_PROTO_TCP,
  SAL_PROTO_UDP,
  SAL_PROTOCOL,
  SAL_SHL,
  SAL_SRC_FLOWID,
  SERVICE_EXT_LEN,
  SERVICE_ID_OFF,
  SOURCE_LIST,
  SOURCE_MAX_ADDRS,
  SOURCE_MIN_ADDRS,
} from "./sal_layout.ts";
import { ServiceId } from "./service_id.ts";

/** The CONTROL extension (facts §2.3, §2.6). */
export interface SalControlRepr {
  /** Flag byte: {@linkcode SAL_SYN} | {@linkcode SAL_ACK} | … (the two low bits are reserved). */
  readonly flags: number;
  /** Sequence number of this control packet (u32). */
  readonly verno: number;
  /** Next verno expected from the peer (u32). */
  readonly ackno: number;
  /** The sender's 8-byte nonce. */
  readonly nonce: Uint8Array;
}

/** The ADDRESS extension: carried and parsed, not acted upon (facts §2.3). */
export interface SalAddressRepr {
  /** Sequence number (u32). */
  readonly verno: number;
  /** Acknowledgement (u32). */
  readonly ackno: number;
  /** IPv4 addresses, 4 bytes each. */
  readonly addresses: readonly Uint8Array[];
}

/**
 * A network locator: an IPv4 (4-byte) or IPv6 (16-byte) address and a UDP
 * port, 0 when the packet travels directly over IP (protocol 144).
 */
export interface Locator {
  /** The address, 4 or 16 bytes. */
  readonly address: Uint8Array;
  /** UDP port, or 0 for raw IP. */
  readonly port: number;
}

/**
 * A checked SAL header: base fields and extensions. Every field holds a
 * value that {@linkcode emitSal} can write and {@linkcode parseSal} gives back.
 */
export interface SalRepr {
  /** Sender's flowID. */
  readonly srcFlowId: number;
  /** Receiver's flowID; 0 in a SYN or an unconnected datagram. */
  readonly dstFlowId: number;
  /** Transport after the header: 6 (stream) or 17 (datagram). */
  readonly protocol: number;
  /** The CONTROL extension, absent on data packets. */
  readonly control?: SalControlRepr;
  /** SERVICE extensions: none, the destination, or destination then source. */
  readonly services: readonly ServiceId[];
  /** The ADDRESS extension. */
  readonly address?: SalAddressRepr;
  /** The SOURCE extension: IPv4 addresses (2..20), client first, then each router. */
  readonly source?: readonly Uint8Array[];
  /** The LOCATORS extension: a SOURCE list of IPv4/IPv6 locators with ports. */
  readonly locators?: readonly Locator[];
}

const index = new SalIndex();

/**
 * Parses and validates the SAL header at `buf[off..off+len)`, checksum
 * included.
 *
 * Never throws on any bytes. Allocates the repr (use {@linkcode SalIndex} on
 * the fast path).
 *
 * @param buf The bytes.
 * @param off Offset of the SAL header.
 * @param len Bytes available from `off`.
 * @returns The repr, or the drop reason.
 *
 * @example Round trip
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const buf = new Uint8Array(64);
 * const n = emitSal({ srcFlowId: 7, dstFlowId: 9, protocol: 17, services: [] }, buf, 0);
 * const r = parseSal(buf, 0, n);
 * assertEquals(typeof r === "string" ? r : r.srcFlowId, 7);
 * assertEquals(parseSal(buf, 0, 5), "truncated");
 * ```
 */
export function parseSal(buf: Uint8Array, off: number, len: number): SalRepr | DropReason {
  const ix = index;
  const d = ix.scan(buf, off, len, true);
  if (d !== undefined) return d;
  const services: ServiceId[] = [];
  if (ix.serviceOff >= 0) services.push(ServiceId.fromBytes(buf, ix.serviceOff + SERVICE_ID_OFF));
  if (ix.service2Off >= 0) services.push(ServiceId.fromBytes(buf, ix.service2Off + SERVICE_ID_OFF));
  let control: SalControlRepr | undefined;
  if (ix.controlOff >= 0) {
    const c = ix.controlOff;
    control = {
      flags: buf[c + CONTROL_FLAGS]!,
      verno: readU32(buf, c + CONTROL_VERNO),
      ackno: readU32(buf, c + CONTROL_ACKNO),
      nonce: buf.slice(c + CONTROL_NONCE, c + CONTROL_NONCE + NONCE_LEN),
    };
  }
  let address: SalAddressRepr | undefined;
  if (ix.addressOff >= 0) {
    const a = ix.addressOff;
    const addresses: Uint8Array[] = [];
    for (let q = a + ADDRESS_LIST; q < a + ix.addressLen; q += 4) addresses.push(buf.slice(q, q + 4));
    address = { verno: readU32(buf, a + ADDRESS_VERNO), ackno: readU32(buf, a + ADDRESS_ACKNO), addresses };
  }
  let source: Uint8Array[] | undefined;
  if (ix.sourceOff >= 0) {
    source = [];
    for (let q = ix.sourceOff + SOURCE_LIST; q < ix.sourceOff + ix.sourceLen; q += 4) source.push(buf.slice(q, q + 4));
  }
  let locators: Locator[] | undefined;
  if (ix.locatorsOff >= 0) {
    locators = [];
    let q = ix.locatorsOff + LOCATORS_LIST;
    const qend = ix.locatorsOff + ix.locatorsLen;
    while (q < qend) {
      const alen = buf[q + LOC_FAMILY] === 4 ? 4 : 16;
      locators.push({ address: buf.slice(q + LOC_ADDR, q + LOC_ADDR + alen), port: readU16(buf, q + LOC_PORT) });
      q += LOC_ADDR + alen;
    }
  }
  // Plain assignments, not conditional spreads: spreads cost ~100 ns here.
  const r: Mutable<SalRepr> = { srcFlowId: ix.srcFlowId, dstFlowId: ix.dstFlowId, protocol: ix.protocol, services };
  if (control) r.control = control;
  if (address) r.address = address;
  if (source) r.source = source;
  if (locators) r.locators = locators;
  return r;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Length in bytes of the LOCATORS extension for `locators`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(locatorsExtLen([{ address: new Uint8Array(4), port: 0 }]), 12);
 * ```
 */
export function locatorsExtLen(locators: readonly Locator[]): number {
  let n = LOCATORS_LIST;
  for (const l of locators) n += l.address.length === 4 ? LOC_V4_LEN : LOC_V6_LEN;
  return n;
}

/**
 * The length {@linkcode emitSal} will write for `repr`: base header plus
 * extensions.
 *
 * @param repr The header.
 * @returns Bytes (a multiple of 4).
 *
 * @example A SYN: base + CONTROL + SERVICE
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SAL_SYN, ServiceId } from "@serval/wire";
 * const nonce = new Uint8Array(8);
 * assertEquals(salHeaderLen({ srcFlowId: 1, dstFlowId: 0, protocol: 6,
 *   control: { flags: SAL_SYN, verno: 1, ackno: 0, nonce }, services: [ServiceId.fromNumber(1)] }), 68);
 * ```
 */
export function salHeaderLen(repr: SalRepr): number {
  let n = SAL_HEADER_LEN;
  if (repr.control) n += CONTROL_EXT_LEN;
  n += repr.services.length * SERVICE_EXT_LEN;
  if (repr.address) n += ADDRESS_LIST + 4 * repr.address.addresses.length;
  if (repr.source) n += SOURCE_LIST + 4 * repr.source.length;
  if (repr.locators) n += locatorsExtLen(repr.locators);
  return n;
}

/**
 * Writes `repr` at `buf[off..]`, computing `shl` and the checksum. The
 * transport header and payload that follow are not touched (the SAL checksum
 * does not cover them, facts §2.2).
 *
 * **Performance**: allocation none.
 *
 * @param repr The header to write.
 * @param buf The destination (lent by the caller).
 * @param off Where the SAL header starts.
 * @returns Bytes written: {@linkcode salHeaderLen}(repr).
 * @throws {RangeError} On a repr that cannot be encoded (a programmer error):
 *   more than 2 services, a SOURCE list outside 2..20 addresses, a nonce not
 *   of 8 bytes, a bad address length, a header beyond 1020 bytes, or a buffer
 *   too small.
 *
 * @example Emit a data packet header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const buf = new Uint8Array(12);
 * assertEquals(emitSal({ srcFlowId: 1, dstFlowId: 2, protocol: 6, services: [] }, buf, 0), 12);
 * assertEquals(buf[8], 3); // shl: 3 words
 * ```
 */
export function emitSal(repr: SalRepr, buf: Uint8Array, off: number): number {
  const hl = salHeaderLen(repr);
  checkRepr(repr, hl);
  if (off < 0 || off + hl > buf.length) {
    throw new RangeError(`Cannot emit SAL header: needs ${hl} bytes at offset ${off}, buffer has ${buf.length}`);
  }
  writeU32(buf, off + SAL_SRC_FLOWID, repr.srcFlowId);
  writeU32(buf, off + SAL_DST_FLOWID, repr.dstFlowId);
  buf[off + SAL_SHL] = hl >> 2;
  buf[off + SAL_PROTOCOL] = repr.protocol;
  writeU16(buf, off + SAL_CHECK, 0);
  let p = off + SAL_HEADER_LEN;
  const c = repr.control;
  if (c) {
    buf[p + EXT_TYPE] = EXT_CONTROL << 4;
    buf[p + EXT_LEN] = CONTROL_EXT_LEN;
    buf[p + CONTROL_FLAGS] = c.flags;
    buf[p + CONTROL_FLAGS + 1] = 0;
    writeU32(buf, p + CONTROL_VERNO, c.verno);
    writeU32(buf, p + CONTROL_ACKNO, c.ackno);
    buf.set(c.nonce, p + CONTROL_NONCE);
    p += CONTROL_EXT_LEN;
  }
  for (const s of repr.services) {
    buf[p + EXT_TYPE] = EXT_SERVICE << 4;
    buf[p + EXT_LEN] = SERVICE_EXT_LEN;
    buf[p + 2] = 0;
    buf[p + 3] = 0;
    s.writeTo(buf, p + SERVICE_ID_OFF);
    p += SERVICE_EXT_LEN;
  }
  const a = repr.address;
  if (a) {
    const el = ADDRESS_LIST + 4 * a.addresses.length;
    buf[p + EXT_TYPE] = EXT_ADDRESS << 4;
    buf[p + EXT_LEN] = el;
    buf[p + 2] = 0;
    buf[p + 3] = 0;
    writeU32(buf, p + ADDRESS_VERNO, a.verno);
    writeU32(buf, p + ADDRESS_ACKNO, a.ackno);
    for (let i = 0; i < a.addresses.length; i++) buf.set(a.addresses[i]!, p + ADDRESS_LIST + 4 * i);
    p += el;
  }
  if (repr.source) {
    const el = SOURCE_LIST + 4 * repr.source.length;
    buf[p + EXT_TYPE] = EXT_SOURCE << 4;
    buf[p + EXT_LEN] = el;
    buf[p + 2] = 0;
    buf[p + 3] = 0;
    for (let i = 0; i < repr.source.length; i++) buf.set(repr.source[i]!, p + SOURCE_LIST + 4 * i);
    p += el;
  }
  if (repr.locators) {
    const el = locatorsExtLen(repr.locators);
    buf[p + EXT_TYPE] = EXT_LOCATORS << 4;
    buf[p + EXT_LEN] = el;
    buf[p + 2] = 0;
    buf[p + 3] = 0;
    let q = p + LOCATORS_LIST;
    for (const l of repr.locators) {
      buf[q + LOC_FAMILY] = l.address.length === 4 ? 4 : 6;
      buf[q + LOC_FAMILY + 1] = 0;
      writeU16(buf, q + LOC_PORT, l.port);
      buf.set(l.address, q + LOC_ADDR);
      q += LOC_ADDR + l.address.length;
    }
    p += el;
  }
  fillSalChecksum(buf, off);
  return hl;
}

/**
 * Recomputes the SAL checksum of the header at `off` in place (after a router
 * rewrote or grew it).
 *
 * **Performance**: allocation none.
 *
 * @param buf The bytes.
 * @param off Offset of the SAL header, whose `shl` must be right.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const buf = new Uint8Array(12);
 * emitSal({ srcFlowId: 1, dstFlowId: 2, protocol: 6, services: [] }, buf, 0);
 * buf[3] = 9; // rewrite the source flowID
 * fillSalChecksum(buf, 0);
 * assertEquals(verifySalChecksum(buf, 0), true);
 * ```
 */
export function fillSalChecksum(buf: Uint8Array, off: number): void {
  const hl = buf[off + SAL_SHL]! << 2;
  writeU16(buf, off + SAL_CHECK, 0);
  writeU16(buf, off + SAL_CHECK, checksumFinish(checksumAdd(buf, off, hl, 0)));
}

/**
 * Whether the SAL checksum of the header at `off` verifies. The caller has
 * checked that `shl` × 4 bytes are available.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const buf = new Uint8Array(12);
 * emitSal({ srcFlowId: 1, dstFlowId: 2, protocol: 6, services: [] }, buf, 0);
 * buf[0] ^= 1;
 * assertEquals(verifySalChecksum(buf, 0), false);
 * ```
 */
export function verifySalChecksum(buf: Uint8Array, off: number): boolean {
  return checksumFinish(checksumAdd(buf, off, buf[off + SAL_SHL]! << 2, 0)) === 0;
}

function u32ok(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function checkRepr(r: SalRepr, hl: number): void {
  const fail = (why: string): never => {
    throw new RangeError(`Cannot emit SAL header: ${why}`);
  };
  if (!u32ok(r.srcFlowId) || !u32ok(r.dstFlowId)) fail("flowIDs must be u32");
  if (r.protocol !== SAL_PROTO_TCP && r.protocol !== SAL_PROTO_UDP) fail(`protocol is ${r.protocol}, must be 6 or 17`);
  if (r.services.length > 2) fail(`${r.services.length} SERVICE extensions, at most 2`);
  if (r.control) {
    const c = r.control;
    if (c.nonce.length !== NONCE_LEN) fail(`nonce has ${c.nonce.length} bytes, must be 8`);
    if (!u32ok(c.verno) || !u32ok(c.ackno)) fail("verno and ackno must be u32");
    if (!Number.isInteger(c.flags) || c.flags < 0 || c.flags > 0xff) fail(`control flags ${c.flags} are not a byte`);
  }
  if (r.address) {
    if (r.address.addresses.some((a) => a.length !== 4)) fail("ADDRESS holds IPv4 addresses only");
    if (ADDRESS_LIST + 4 * r.address.addresses.length > EXT_MAX_LEN) fail("ADDRESS list too long");
    if (!u32ok(r.address.verno) || !u32ok(r.address.ackno)) fail("verno and ackno must be u32");
  }
  if (r.source) {
    if (r.source.length < SOURCE_MIN_ADDRS || r.source.length > SOURCE_MAX_ADDRS) {
      fail(`SOURCE has ${r.source.length} addresses, must be 2..20`);
    }
    if (r.source.some((a) => a.length !== 4)) fail("SOURCE holds IPv4 addresses only (use locators)");
  }
  if (r.source && r.locators) fail("SOURCE and LOCATORS are exclusive");
  if (r.locators) {
    if (r.locators.length === 0) fail("LOCATORS needs at least one entry");
    for (const l of r.locators) {
      if (l.address.length !== 4 && l.address.length !== 16) fail(`locator address has ${l.address.length} bytes`);
      if (!Number.isInteger(l.port) || l.port < 0 || l.port > 0xffff) fail(`locator port ${l.port} is not a u16`);
    }
    if (locatorsExtLen(r.locators) > EXT_MAX_LEN) fail("LOCATORS list longer than 252 bytes");
  }
  if (hl > SAL_MAX_HEADER_LEN) fail(`header is ${hl} bytes, at most ${SAL_MAX_HEADER_LEN}`);
}

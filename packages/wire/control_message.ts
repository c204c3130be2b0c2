/**
 * Control-plane messages between hosts, routers and ad hoc peers (DESIGN §6):
 * service registration leases, DELAY resolution, router announcements and
 * solicitations, ad hoc service solicitation. They travel as the payload of
 * SAL datagrams to {@linkcode CONTROL_SERVICE}.
 *
 * Version 1, big-endian. Every message starts with an 8-byte header:
 *
 * ```text
 *  0      1      2             4                           8
 * +------+------+-------------+---------------------------+
 * | ver  | type | length      | seq (replies echo it)     |
 * +------+------+-------------+---------------------------+
 * ```
 *
 * `length` counts the whole message. Bodies by type:
 *
 * - `register` (1), `unregister` (2), `resolve-reply` (5), `service-advertise` (9):
 *   a service record: `lifetime_ms u32, nservices u8, nlocators u8, 0 u16`,
 *   then per service `bits u16, priority u16, weight u16, 0 u16, serviceID[32]`
 *   (bits beyond the prefix are zero), then per locator
 *   `family u8 (4|6), 0 u8, port u16, address[4|16]` (the LOCATORS extension's
 *   entry layout).
 * - `register-ack` (3): `lifetime_ms u32` granted (0: refused), `status u8`
 *   (0 ok, 1 refused), three zero bytes.
 * - `resolve` (4), `service-solicit` (8): `serviceID[32]`.
 * - `router-announce` (6): `lifetime_ms u32, boot_id u32, priority u16,
 *   nlocators u8, 0 u8`, then locators. A new `boot_id` tells hosts the
 *   router restarted and lost their registrations.
 * - `router-solicit` (7): no body.
 *
 * Parsing never throws: bad bytes give a {@linkcode DropReason}.
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import type { DropReason } from "./drop_reason.ts";
import type { Locator } from "./sal_header.ts";
import { SERVICE_ID_BITS, SERVICE_ID_LEN, ServiceId, ServicePrefix } from "./service_id.ts";

/** Version of the control message format. */
export const CONTROL_VERSION = 1;

/** Bytes of the common header. */
export const CONTROL_HEADER_LEN = 8;

/**
 * The well-known serviceID of the control plane: the name `control.serval`
 * under the documented name scheme. Routers and ad hoc nodes listen on it;
 * hosts send their registrations and solicitations to it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CONTROL_SERVICE, ServiceId } from "@serval/wire";
 * assertEquals(CONTROL_SERVICE.equals(ServiceId.fromName("control.serval")), true);
 * ```
 */
export const CONTROL_SERVICE: ServiceId = ServiceId.fromName("control.serval");

/** One registered (or advertised, or resolved) service prefix. */
export interface ServiceEntry {
  readonly prefix: ServicePrefix;
  /** Higher is preferred (the target set's priority in the service table). */
  readonly priority: number;
  /** Relative share of new flows, 1..65535. */
  readonly weight: number;
}

/** A lease-carrying list of services at some locators. */
export interface ServiceRecord {
  readonly seq: number;
  /** How long the receiver may keep this, in milliseconds (0: remove now). */
  readonly lifetimeMs: number;
  readonly services: readonly ServiceEntry[];
  readonly locators: readonly Locator[];
}

/** A decoded control message. */
export type ControlMessage =
  | ({ readonly type: "register" } & ServiceRecord)
  | ({ readonly type: "unregister" } & ServiceRecord)
  | { readonly type: "register-ack"; readonly seq: number; readonly lifetimeMs: number; readonly ok: boolean }
  | { readonly type: "resolve"; readonly seq: number; readonly serviceId: ServiceId }
  | ({ readonly type: "resolve-reply" } & ServiceRecord)
  | {
    readonly type: "router-announce";
    readonly seq: number;
    readonly lifetimeMs: number;
    readonly bootId: number;
    readonly priority: number;
    readonly locators: readonly Locator[];
  }
  | { readonly type: "router-solicit"; readonly seq: number }
  | { readonly type: "service-solicit"; readonly seq: number; readonly serviceId: ServiceId }
  | ({ readonly type: "service-advertise" } & ServiceRecord);

/** The type names, by wire code. */
const TYPES = [
  undefined,
  "register",
  "unregister",
  "register-ack",
  "resolve",
  "resolve-reply",
  "router-announce",
  "router-solicit",
  "service-solicit",
  "service-advertise",
] as const;

type TypeName = ControlMessage["type"];

const SERVICE_ENTRY_LEN = 8 + SERVICE_ID_LEN;
const RECORD_HEAD = 8;

function locatorLen(l: Locator): number {
  return 4 + l.address.length;
}

/**
 * The encoded size of `msg`.
 *
 * @param msg A message.
 * @returns Bytes {@linkcode encodeControl} writes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { controlMessageLen } from "@serval/wire";
 * assertEquals(controlMessageLen({ type: "router-solicit", seq: 1 }), 8);
 * ```
 */
export function controlMessageLen(msg: ControlMessage): number {
  switch (msg.type) {
    case "register":
    case "unregister":
    case "resolve-reply":
    case "service-advertise":
      return CONTROL_HEADER_LEN + RECORD_HEAD + msg.services.length * SERVICE_ENTRY_LEN +
        msg.locators.reduce((n, l) => n + locatorLen(l), 0);
    case "register-ack":
      return CONTROL_HEADER_LEN + 8;
    case "resolve":
    case "service-solicit":
      return CONTROL_HEADER_LEN + SERVICE_ID_LEN;
    case "router-announce":
      return CONTROL_HEADER_LEN + 12 + msg.locators.reduce((n, l) => n + locatorLen(l), 0);
    case "router-solicit":
      return CONTROL_HEADER_LEN;
  }
}

function checkU(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`Cannot encode control message: ${what} is ${v}, must be an integer in 0..${max}`);
  }
}

function writeLocators(buf: Uint8Array, off: number, locators: readonly Locator[]): number {
  for (const l of locators) {
    const n = l.address.length;
    if (n !== 4 && n !== 16) {
      throw new RangeError(`Cannot encode control message: a locator address has ${n} bytes, must be 4 or 16`);
    }
    checkU("a locator port", l.port, 0xffff);
    buf[off] = n === 4 ? 4 : 6;
    buf[off + 1] = 0;
    writeU16(buf, off + 2, l.port);
    buf.set(l.address, off + 4);
    off += 4 + n;
  }
  return off;
}

/**
 * Encodes a control message.
 *
 * @param msg The message.
 * @returns A new buffer holding it.
 * @throws {RangeError} On values that cannot be encoded (a programmer error):
 *   more than 255 services or locators, a weight of 0, a message over 65535
 *   bytes, an address that is neither 4 nor 16 bytes.
 *
 * @example A registration round trip
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeControl, encodeControl, ServicePrefix } from "@serval/wire";
 * const bytes = encodeControl({
 *   type: "register", seq: 7, lifetimeMs: 3000,
 *   services: [{ prefix: ServicePrefix.parse("web.example/64"), priority: 0, weight: 10 }],
 *   locators: [{ address: new Uint8Array([198, 18, 0, 5]), port: 0 }],
 * });
 * assertEquals(bytes.length, 8 + 8 + 40 + 8);
 * const m = decodeControl(bytes, 0, bytes.length);
 * assertEquals(typeof m !== "string" && m.type === "register" ? m.services[0]!.weight : 0, 10);
 * ```
 */
export function encodeControl(msg: ControlMessage): Uint8Array {
  const len = controlMessageLen(msg);
  checkU("the message length", len, 0xffff);
  checkU("seq", msg.seq, 0xffffffff);
  const buf = new Uint8Array(len);
  buf[0] = CONTROL_VERSION;
  buf[1] = TYPES.indexOf(msg.type);
  writeU16(buf, 2, len);
  writeU32(buf, 4, msg.seq);
  const o = CONTROL_HEADER_LEN;
  switch (msg.type) {
    case "register":
    case "unregister":
    case "resolve-reply":
    case "service-advertise": {
      checkU("lifetimeMs", msg.lifetimeMs, 0xffffffff);
      checkU("the number of services", msg.services.length, 255);
      checkU("the number of locators", msg.locators.length, 255);
      writeU32(buf, o, msg.lifetimeMs);
      buf[o + 4] = msg.services.length;
      buf[o + 5] = msg.locators.length;
      let p = o + RECORD_HEAD;
      for (const s of msg.services) {
        checkU("a priority", s.priority, 0xffff);
        checkU("a weight", s.weight, 0xffff);
        if (s.weight === 0) throw new RangeError("Cannot encode control message: a weight is 0, must be 1..65535");
        writeU16(buf, p, s.prefix.bits);
        writeU16(buf, p + 2, s.priority);
        writeU16(buf, p + 4, s.weight);
        buf.set(s.prefix.id.bytes, p + 8);
        p += SERVICE_ENTRY_LEN;
      }
      writeLocators(buf, p, msg.locators);
      break;
    }
    case "register-ack":
      checkU("lifetimeMs", msg.lifetimeMs, 0xffffffff);
      writeU32(buf, o, msg.lifetimeMs);
      buf[o + 4] = msg.ok ? 0 : 1;
      break;
    case "resolve":
    case "service-solicit":
      buf.set(msg.serviceId.bytes, o);
      break;
    case "router-announce":
      checkU("lifetimeMs", msg.lifetimeMs, 0xffffffff);
      checkU("bootId", msg.bootId, 0xffffffff);
      checkU("priority", msg.priority, 0xffff);
      checkU("the number of locators", msg.locators.length, 255);
      writeU32(buf, o, msg.lifetimeMs);
      writeU32(buf, o + 4, msg.bootId);
      writeU16(buf, o + 8, msg.priority);
      buf[o + 10] = msg.locators.length;
      writeLocators(buf, o + 12, msg.locators);
      break;
    case "router-solicit":
      break;
  }
  return buf;
}

function readLocators(buf: Uint8Array, off: number, end: number, n: number): Locator[] | DropReason {
  const out: Locator[] = [];
  for (let i = 0; i < n; i++) {
    if (off + 4 > end) return "truncated";
    const fam = buf[off]!;
    const alen = fam === 4 ? 4 : fam === 6 ? 16 : 0;
    if (alen === 0 || buf[off + 1] !== 0) return "bad-address";
    if (off + 4 + alen > end) return "truncated";
    out.push({ address: buf.slice(off + 4, off + 4 + alen), port: readU16(buf, off + 2) });
    off += 4 + alen;
  }
  return off === end ? out : "bad-length";
}

function readRecord(type: TypeName, seq: number, buf: Uint8Array, o: number, end: number): ControlMessage | DropReason {
  if (o + RECORD_HEAD > end) return "truncated";
  const lifetimeMs = readU32(buf, o);
  const ns = buf[o + 4]!, nl = buf[o + 5]!;
  let p = o + RECORD_HEAD;
  if (p + ns * SERVICE_ENTRY_LEN > end) return "truncated";
  const services: ServiceEntry[] = [];
  for (let i = 0; i < ns; i++, p += SERVICE_ENTRY_LEN) {
    const bits = readU16(buf, p);
    const weight = readU16(buf, p + 4);
    if (bits > SERVICE_ID_BITS || weight === 0) return "bad-length";
    const id = ServiceId.fromBytes(buf, p + 8);
    const prefix = ServicePrefix.of(id, bits);
    // Bits beyond the prefix must be zero: one prefix, one encoding.
    if (!prefix.id.equals(id)) return "bad-address";
    services.push({ prefix, priority: readU16(buf, p + 2), weight });
  }
  const locators = readLocators(buf, p, end, nl);
  if (typeof locators === "string") return locators;
  return { type, seq, lifetimeMs, services, locators } as ControlMessage;
}

/**
 * Decodes a control message from untrusted bytes.
 *
 * @param buf The bytes (the datagram payload).
 * @param off Where the message starts.
 * @param len Bytes available.
 * @returns The message, or a {@linkcode DropReason}: `truncated`,
 *   `bad-length` (the length field disagrees, a prefix over 256 bits, a
 *   weight of 0), `bad-version`, `unknown-message`, `bad-address` (a locator
 *   family other than 4 or 6, or serviceID bits set beyond the prefix).
 *
 * @example Bad bytes are a reason, never an exception
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeControl } from "@serval/wire";
 * assertEquals(decodeControl(new Uint8Array([1, 7, 0, 8, 0, 0, 0, 1]), 0, 8), { type: "router-solicit", seq: 1 });
 * assertEquals(decodeControl(new Uint8Array([2, 7, 0, 8, 0, 0, 0, 1]), 0, 8), "bad-version");
 * assertEquals(decodeControl(new Uint8Array([1, 99, 0, 8, 0, 0, 0, 1]), 0, 8), "unknown-message");
 * assertEquals(decodeControl(new Uint8Array([1, 7, 0]), 0, 3), "truncated");
 * ```
 */
export function decodeControl(buf: Uint8Array, off: number, len: number): ControlMessage | DropReason {
  if (len < CONTROL_HEADER_LEN || off + len > buf.length) return "truncated";
  if (buf[off] !== CONTROL_VERSION) return "bad-version";
  const type = TYPES[buf[off + 1]!];
  if (type === undefined) return "unknown-message";
  const mlen = readU16(buf, off + 2);
  if (mlen < CONTROL_HEADER_LEN || mlen > len) return mlen > len ? "truncated" : "bad-length";
  const seq = readU32(buf, off + 4);
  const o = off + CONTROL_HEADER_LEN;
  const end = off + mlen;
  switch (type) {
    case "register":
    case "unregister":
    case "resolve-reply":
    case "service-advertise":
      return readRecord(type, seq, buf, o, end);
    case "register-ack":
      if (end - o !== 8) return "bad-length";
      if (buf[o + 4]! > 1) return "bad-length";
      return { type, seq, lifetimeMs: readU32(buf, o), ok: buf[o + 4] === 0 };
    case "resolve":
    case "service-solicit":
      if (end - o !== SERVICE_ID_LEN) return "bad-length";
      return { type, seq, serviceId: ServiceId.fromBytes(buf, o) };
    case "router-announce": {
      if (end - o < 12) return "truncated";
      const locators = readLocators(buf, o + 12, end, buf[o + 10]!);
      if (typeof locators === "string") return locators;
      return {
        type,
        seq,
        lifetimeMs: readU32(buf, o),
        bootId: readU32(buf, o + 4),
        priority: readU16(buf, o + 8),
        locators,
      };
    }
    case "router-solicit":
      if (end !== o) return "bad-length";
      return { type, seq };
  }
}

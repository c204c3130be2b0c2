/**
 * Serval serviceIDs: 256-bit names of services (facts §1.2), and prefixes of
 * them, as used by service tables (longest-prefix match, MSB of byte 0 first).
 *
 * ## Text forms
 *
 * | text | meaning |
 * |---|---|
 * | 64 hex digits | the 32 bytes, as printed by {@linkcode ServiceId.toString} |
 * | `0x` + 1..64 hex digits | the leading digits of the 64-digit form, the rest zero (`0xab12` = bytes `ab 12 00 …`) |
 * | decimal `N`, 0 ≤ N < 2^32 | N big-endian in bytes 0–3, the rest zero (the 2012 convention: `16385` = `00004001 00…`) |
 * | `default` | the all-zero default service; as a prefix it is always `/0` |
 * | a service name such as `web.example` | the name mapping below |
 *
 * A prefix appends `/N` (or `:N`, the 2012 tool's form) with 0 ≤ N ≤ 256; without
 * it a prefix is exact (`/256`), except `default`, which is `/0`.
 *
 * ## Names
 *
 * A name is one or more dot-separated DNS labels (letters, digits, hyphens;
 * 1–63 characters; not starting or ending with a hyphen; case-insensitive;
 * at least one letter somewhere so it never reads as a number). The name maps
 * to an ID hierarchically, most significant label first, so that the prefix
 * of a domain covers every name under it:
 *
 * - bytes 0–3: the first 4 bytes of SHA-256 of the last label (`example`),
 * - bytes 4–7: the same for the label before it (`web`),
 * - bytes 8–11: the same for all remaining labels, joined with dots,
 * - bytes 12–31: zero. They are reserved for the self-certifying part (20
 *   bytes, room for a SHA-1-sized hash, facts §1.2) that a later version fills.
 *
 * So `example/32` covers `web.example` and `mail.example`, and a router can
 * register one aggregated prefix for a whole domain. Labels are lowercased
 * before hashing.
 *
 * @module
 */

import { sha256 } from "./_sha256.ts";
import { readU32, toHex, writeU32 } from "./bytes.ts";

/** Length of a serviceID in bytes. */
export const SERVICE_ID_LEN = 32;
/** Length of a serviceID in bits: the longest prefix. */
export const SERVICE_ID_BITS = 256;

const HEX64 = /^[0-9a-fA-F]{64}$/;
const HEX0X = /^0[xX]([0-9a-fA-F]{1,64})$/;
const DECIMAL = /^[0-9]+$/;
const LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/**
 * A 256-bit serviceID. Immutable: the bytes are copied in and never exposed
 * for writing.
 *
 * @example Parse the text forms
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(ServiceId.parse("16385").toString().slice(0, 8), "00004001");
 * assertEquals(ServiceId.parse("0xab12").bytes[1], 0x12);
 * assertEquals(ServiceId.parse("default").isDefault(), true);
 * assertEquals(ServiceId.parse("web.example").equals(ServiceId.fromName("WEB.example")), true);
 * ```
 */
export class ServiceId {
  /** The all-zero default service. */
  static readonly DEFAULT: ServiceId = new ServiceId(new Uint8Array(SERVICE_ID_LEN));

  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /**
   * A serviceID from 32 bytes of a buffer (copied).
   *
   * @param buf The bytes.
   * @param off Offset of the first byte (default 0).
   * @returns The serviceID.
   * @throws {RangeError} When fewer than 32 bytes are available.
   *
   * @example Read from a SERVICE extension
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const id = ServiceId.fromBytes(new Uint8Array(40), 4);
   * assertEquals(id.isDefault(), true);
   * ```
   */
  static fromBytes(buf: Uint8Array, off = 0): ServiceId {
    if (off < 0 || off + SERVICE_ID_LEN > buf.length) {
      throw new RangeError(
        `Cannot read serviceID: needs ${SERVICE_ID_LEN} bytes at offset ${off}, buffer has ${buf.length}`,
      );
    }
    return new ServiceId(buf.slice(off, off + SERVICE_ID_LEN));
  }

  /**
   * The 2012 numeric convention: `n` big-endian in bytes 0–3, the rest zero.
   *
   * @param n An integer, 0 ≤ n < 2^32.
   * @returns The serviceID.
   * @throws {RangeError} When `n` is not such an integer.
   *
   * @example The echo service of the 2012 tests
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.fromNumber(16385).toString().slice(0, 8), "00004001");
   * ```
   */
  static fromNumber(n: number): ServiceId {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new RangeError(`Cannot make serviceID from ${n}: must be an integer in 0..4294967295`);
    }
    const b = new Uint8Array(SERVICE_ID_LEN);
    writeU32(b, 0, n);
    return new ServiceId(b);
  }

  /**
   * The serviceID of a human service name (see the module docs for the mapping).
   *
   * @param name A name such as `web.example`.
   * @returns The serviceID.
   * @throws {RangeError} When `name` is not a valid service name.
   *
   * @example A domain prefix covers its names
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const web = ServiceId.fromName("web.example");
   * assertEquals(ServicePrefix.parse("example/32").contains(web), true);
   * ```
   */
  static fromName(name: string): ServiceId {
    const err = nameError(name);
    if (err) throw new RangeError(`Cannot parse service name "${name}": ${err}`);
    const labels = name.toLowerCase().split(".").reverse();
    const b = new Uint8Array(SERVICE_ID_LEN);
    const parts = [labels[0]!, labels[1], labels.length > 2 ? labels.slice(2).reverse().join(".") : undefined];
    for (let i = 0; i < 3; i++) {
      const part = parts[i];
      if (part === undefined) break;
      b.set(sha256(ascii(part)).subarray(0, 4), 4 * i);
    }
    return new ServiceId(b);
  }

  /**
   * Parses any text form of a serviceID (without a prefix length).
   *
   * @param text 64 hex digits, `0x…`, a decimal number, `default` or a name.
   * @returns The serviceID.
   * @throws {RangeError} When the text is none of these; the message quotes it.
   *
   * @example Bad text is refused clearly
   * ```ts
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => ServiceId.parse("web..example"), RangeError);
   * ```
   */
  static parse(text: string): ServiceId {
    const r = parseIdText(text);
    if (typeof r === "string") throw new RangeError(`Cannot parse serviceID "${text}": ${r}`);
    return r;
  }

  /**
   * The bytes of this serviceID (a copy; the ID stays immutable).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.fromNumber(1).bytes.length, 32);
   * ```
   */
  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /**
   * Copies the 32 bytes into `buf` at `off`.
   *
   * **Performance**: allocation none.
   *
   * @param buf The destination.
   * @param off Offset of the first byte.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const b = new Uint8Array(36);
   * ServiceId.fromNumber(7).writeTo(b, 4);
   * assertEquals(b[7], 7);
   * ```
   */
  writeTo(buf: Uint8Array, off: number): void {
    buf.set(this.#bytes, off);
  }

  /**
   * Bit `i` (0 = most significant bit of byte 0).
   *
   * @param i Bit index, 0..255.
   * @returns 0 or 1.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.parse("0x8").bit(0), 1);
   * ```
   */
  bit(i: number): 0 | 1 {
    return ((this.#bytes[i >> 3]! >> (7 - (i & 7))) & 1) as 0 | 1;
  }

  /**
   * Bytes 0–3 as a big-endian u32: the value of the 2012 numeric convention.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.parse("16385").firstWord(), 16385);
   * ```
   */
  firstWord(): number {
    return readU32(this.#bytes, 0);
  }

  /**
   * Whether this is the all-zero default service.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.DEFAULT.isDefault(), true);
   * ```
   */
  isDefault(): boolean {
    for (let i = 0; i < SERVICE_ID_LEN; i++) if (this.#bytes[i] !== 0) return false;
    return true;
  }

  /**
   * Byte-wise equality.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.parse("1").equals(ServiceId.fromNumber(1)), true);
   * ```
   */
  equals(other: ServiceId): boolean {
    const o = other.#bytes;
    for (let i = 0; i < SERVICE_ID_LEN; i++) if (this.#bytes[i] !== o[i]) return false;
    return true;
  }

  /**
   * Whether the 32 bytes at `buf[off..]` equal this ID (for views).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const id = ServiceId.fromNumber(9);
   * const b = new Uint8Array(32); id.writeTo(b, 0);
   * assertEquals(id.equalsBytes(b, 0), true);
   * ```
   */
  equalsBytes(buf: Uint8Array, off: number): boolean {
    if (off < 0 || off + SERVICE_ID_LEN > buf.length) return false;
    for (let i = 0; i < SERVICE_ID_LEN; i++) if (this.#bytes[i] !== buf[off + i]) return false;
    return true;
  }

  /**
   * The number of leading bits this ID shares with `other` (0..256).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.parse("0x80").commonPrefixLength(ServiceId.parse("0xc0")), 1);
   * ```
   */
  commonPrefixLength(other: ServiceId): number {
    const o = other.#bytes;
    for (let i = 0; i < SERVICE_ID_LEN; i++) {
      const x = this.#bytes[i]! ^ o[i]!;
      if (x !== 0) return i * 8 + Math.clz32(x) - 24;
    }
    return SERVICE_ID_BITS;
  }

  /**
   * Orders IDs as unsigned 256-bit numbers: negative, zero or positive.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.fromNumber(1).compare(ServiceId.fromNumber(2)) < 0, true);
   * ```
   */
  compare(other: ServiceId): number {
    const o = other.#bytes;
    for (let i = 0; i < SERVICE_ID_LEN; i++) {
      const d = this.#bytes[i]! - o[i]!;
      if (d !== 0) return d;
    }
    return 0;
  }

  /**
   * The canonical text form: 64 lowercase hex digits.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.DEFAULT.toString(), "0".repeat(64));
   * ```
   */
  toString(): string {
    return toHex(this.#bytes);
  }

  /**
   * A short text form for people: `default`, the decimal number when only
   * bytes 0–3 are set, otherwise the 64-digit form.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServiceId.parse("16385").toShortString(), "16385");
   * ```
   */
  toShortString(): string {
    if (this.isDefault()) return "default";
    for (let i = 4; i < SERVICE_ID_LEN; i++) if (this.#bytes[i] !== 0) return this.toString();
    return String(readU32(this.#bytes, 0));
  }

  /** JSON form: the 64-digit text. */
  toJSON(): string {
    return this.toString();
  }
}

/**
 * A serviceID prefix: the first `bits` bits of `id` (the rest zeroed). The
 * key of a service-table rule.
 *
 * @example Parse and match
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const p = ServicePrefix.parse("0xab/8");
 * assertEquals(p.bits, 8);
 * assertEquals(p.contains(ServiceId.parse("0xabcd")), true);
 * assertEquals(ServicePrefix.parse("16385:32").toString(), "16385/32");
 * ```
 */
export class ServicePrefix {
  /** The prefix that matches every serviceID. */
  static readonly DEFAULT: ServicePrefix = new ServicePrefix(ServiceId.DEFAULT, 0);

  /** The serviceID with every bit beyond `bits` cleared. */
  readonly id: ServiceId;
  /** Prefix length in bits, 0..256. */
  readonly bits: number;

  private constructor(id: ServiceId, bits: number) {
    this.id = id;
    this.bits = bits;
  }

  /**
   * The prefix of `id` of length `bits` (the ID is masked).
   *
   * @param id The serviceID.
   * @param bits Prefix length, 0..256 (default 256).
   * @returns The prefix.
   * @throws {RangeError} When `bits` is out of range.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServicePrefix.of(ServiceId.parse("0xffff"), 4).id.toString().slice(0, 4), "f000");
   * ```
   */
  static of(id: ServiceId, bits = SERVICE_ID_BITS): ServicePrefix {
    if (!Number.isInteger(bits) || bits < 0 || bits > SERVICE_ID_BITS) {
      throw new RangeError(`Cannot make service prefix: prefix length is ${bits}, must be 0..256`);
    }
    if (bits === SERVICE_ID_BITS) return new ServicePrefix(id, bits);
    const b = id.bytes;
    maskInPlace(b, bits);
    return new ServicePrefix(ServiceId.fromBytes(b), bits);
  }

  /**
   * Parses `ID`, `ID/N` or `ID:N`, where ID is any serviceID text form.
   *
   * @param text The prefix text.
   * @returns The prefix.
   * @throws {RangeError} When the text is invalid; the message quotes it.
   *
   * @example
   * ```ts
   * import { assertEquals, assertThrows } from "@std/assert";
   * assertEquals(ServicePrefix.parse("default").bits, 0);
   * assertEquals(ServicePrefix.parse("web.example/16").bits, 16);
   * assertThrows(() => ServicePrefix.parse("web.example/300"), RangeError);
   * ```
   */
  static parse(text: string): ServicePrefix {
    const m = /^(.*?)(?:[/:]([^/:]*))?$/.exec(text.trim())!;
    const idText = m[1]!;
    const r = parseIdText(idText);
    if (typeof r === "string") throw new RangeError(`Cannot parse service prefix "${text}": ${r}`);
    let bits = SERVICE_ID_BITS;
    if (m[2] !== undefined) {
      if (!DECIMAL.test(m[2])) {
        throw new RangeError(`Cannot parse service prefix "${text}": prefix length "${m[2]}" is not a number`);
      }
      bits = Number(m[2]);
      if (bits > SERVICE_ID_BITS) {
        throw new RangeError(`Cannot parse service prefix "${text}": prefix length is ${bits}, must be 0..256`);
      }
    }
    // The default service is always a /0 rule (facts §1.2).
    if (r.isDefault()) bits = 0;
    return ServicePrefix.of(r, bits);
  }

  /**
   * Whether `id` starts with this prefix.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServicePrefix.DEFAULT.contains(ServiceId.fromNumber(5)), true);
   * ```
   */
  contains(id: ServiceId): boolean {
    return this.id.commonPrefixLength(id) >= this.bits;
  }

  /**
   * Whether this prefix contains every ID of `other` (it is equal or shorter
   * and agrees on its bits).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServicePrefix.parse("example/32").covers(ServicePrefix.parse("web.example/64")), true);
   * ```
   */
  covers(other: ServicePrefix): boolean {
    return this.bits <= other.bits && this.id.commonPrefixLength(other.id) >= this.bits;
  }

  /**
   * Equality of ID and length.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServicePrefix.parse("0x01ff/8").equals(ServicePrefix.parse("0x0100:8")), true);
   * ```
   */
  equals(other: ServicePrefix): boolean {
    return this.bits === other.bits && this.id.equals(other.id);
  }

  /**
   * `ID/N` with the short ID form (`default` for /0).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(ServicePrefix.DEFAULT.toString(), "default");
   * ```
   */
  toString(): string {
    if (this.bits === 0) return "default";
    return `${this.id.toShortString()}/${this.bits}`;
  }

  /** JSON form: the text form. */
  toJSON(): string {
    return this.toString();
  }
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

function maskInPlace(b: Uint8Array, bits: number): void {
  const full = bits >> 3;
  if (full < SERVICE_ID_LEN && (bits & 7) !== 0) b[full] = b[full]! & (0xff << (8 - (bits & 7)));
  b.fill(0, full + ((bits & 7) !== 0 ? 1 : 0));
}

function nameError(name: string): string | undefined {
  if (name.length === 0) return "a name is empty";
  if (name.length > 253) return `a name is at most 253 characters, got ${name.length}`;
  const labels = name.split(".");
  for (const l of labels) {
    if (!LABEL.test(l)) {
      return l.length === 0
        ? "a label is empty"
        : `label "${l}" must be 1-63 letters, digits or inner hyphens`;
    }
  }
  if (!/[a-zA-Z]/.test(name)) return "a name needs at least one letter";
  if (name.toLowerCase() === "default") return `"default" is the default service, not a name`;
  return undefined;
}

function parseIdText(text: string): ServiceId | string {
  if (text === "default") return ServiceId.DEFAULT;
  if (HEX64.test(text)) {
    const b = new Uint8Array(SERVICE_ID_LEN);
    for (let i = 0; i < SERVICE_ID_LEN; i++) b[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return ServiceId.fromBytes(b);
  }
  const hx = HEX0X.exec(text);
  if (hx) {
    // Left-aligned: the digits are the leading digits of the 64-digit form.
    const digits = hx[1]!.padEnd(64, "0");
    return parseIdText(digits);
  }
  if (/^0[xX]/.test(text)) return "expected 1 to 64 hex digits after 0x";
  if (DECIMAL.test(text)) {
    const n = Number(text);
    if (text.length > 10 || n > 0xffffffff) return "a decimal serviceID must be below 4294967296";
    return ServiceId.fromNumber(n);
  }
  // Long hex starting with a digit reads as a mistyped 64-digit ID, not a name.
  if (text.length > 10 && /^[0-9][0-9a-fA-F]*$/.test(text)) return `expected 64 hex digits, got ${text.length}`;
  const err = nameError(text);
  if (err === undefined) return ServiceId.fromName(text);
  return `expected 64 hex digits, 0x-prefixed hex, a decimal number, "default" or a service name (${err})`;
}

/**
 * Text forms of IPv4 and IPv6 addresses: strict parsers for configuration,
 * the CLI and tests, and canonical formatters for logs and reports.
 *
 * Addresses are plain `Uint8Array`s in network byte order (4 or 16 bytes), the
 * form the wire parsers return and the pseudo-header checksum takes. These
 * helpers allocate strings and arrays; they are not for the per-packet path.
 *
 * Errors: text that is not an address throws a `RangeError` quoting the input
 * (the text comes from a person or a config file, not from the network).
 *
 * @module
 */

/** Byte length of an IPv4 address. */
const V4_LEN = 4;
/** Byte length of an IPv6 address. */
const V6_LEN = 16;
/** Number of 16-bit groups in an IPv6 address. */
const V6_GROUPS = 8;

const DECIMAL_OCTET = /^[0-9]{1,3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses dotted-quad text into `out` at `outOff`; returns an error reason or
 * `undefined` on success. Shared by IPv4 and the embedded IPv4 tail of IPv6.
 */
function parseDottedQuad(text: string, out: Uint8Array, outOff: number): string | undefined {
  const parts = text.split(".");
  if (parts.length !== V4_LEN) return "expected 4 decimal octets";
  for (let i = 0; i < V4_LEN; i++) {
    const p = parts[i]!;
    if (!DECIMAL_OCTET.test(p)) return "expected 4 decimal octets";
    // "010" reads as 8 to inet_aton (octal) but as 10 to most other parsers;
    // refuse the ambiguity, as RFC 6943 §3.1.1 advises and Go's net.ParseIP does.
    if (p.length > 1 && p[0] === "0") return `octet "${p}" has a leading zero`;
    const v = Number(p);
    if (v > 255) return `octet ${v} is greater than 255`;
    out[outOff + i] = v;
  }
  return undefined;
}

/**
 * Parses an IPv4 address in dotted-decimal form (`a.b.c.d`).
 *
 * **Details**: exactly four decimal octets 0..255. The shorthand forms that
 * `inet_aton` accepts (`127.1`, hex `0x7f.0.0.1`) and octets with a leading
 * zero (`010`, octal to some parsers, decimal to others) are refused.
 *
 * @param text The address text.
 * @returns A new 4-byte array in network byte order.
 * @throws {RangeError} When `text` is not a dotted-quad IPv4 address.
 *
 * @example Parse an address
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([...parseIpv4("198.18.0.1")], [198, 18, 0, 1]);
 * ```
 */
export function parseIpv4(text: string): Uint8Array {
  const out = new Uint8Array(V4_LEN);
  const err = parseDottedQuad(text, out, 0);
  if (err !== undefined) throw new RangeError(`Cannot parse IPv4 address "${text}": ${err}`);
  return out;
}

function checkRoom(kind: string, buf: Uint8Array, off: number, len: number): void {
  if (!Number.isInteger(off) || off < 0 || off + len > buf.length) {
    throw new RangeError(
      `Cannot format ${kind} address: needs ${len} bytes at offset ${off}, buffer has ${buf.length}`,
    );
  }
}

/**
 * Formats 4 bytes as a dotted-decimal IPv4 address.
 *
 * @param buf The bytes.
 * @param off Offset of the first address byte (default 0).
 * @returns The text, for example `"198.18.0.1"`.
 * @throws {RangeError} When `buf` has fewer than 4 bytes at `off`.
 *
 * @example Format the source address of an IPv4 header
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const header = new Uint8Array(20);
 * header.set([198, 18, 0, 1], 12);
 * assertEquals(formatIpv4(header, 12), "198.18.0.1");
 * ```
 */
export function formatIpv4(buf: Uint8Array, off = 0): string {
  checkRoom("IPv4", buf, off, V4_LEN);
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/**
 * Parses an IPv6 address in any text form of RFC 4291 §2.2.
 *
 * **Details**: eight groups of 1 to 4 hex digits (either case) separated by
 * `:`; at most one `::` standing for one or more zero groups; the last 32
 * bits may be written as a dotted-quad IPv4 address (`::ffff:198.18.0.1`).
 *
 * **Gotchas**: zone identifiers (`fe80::1%eth0`), brackets and prefix lengths
 * are not part of an address and are refused.
 *
 * @param text The address text.
 * @returns A new 16-byte array in network byte order.
 * @throws {RangeError} When `text` is not an IPv6 address.
 *
 * @example Three spellings of one address
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const a = parseIpv6("2001:db8::1");
 * assertEquals(a, parseIpv6("2001:0DB8:0:0:0:0:0:0001"));
 * assertEquals(a[15], 1);
 * assertEquals([...parseIpv6("::ffff:198.18.0.1").subarray(10)], [0xff, 0xff, 198, 18, 0, 1]);
 * ```
 */
export function parseIpv6(text: string): Uint8Array {
  const out = new Uint8Array(V6_LEN);
  const err = parseIpv6Into(text, out);
  if (err !== undefined) throw new RangeError(`Cannot parse IPv6 address "${text}": ${err}`);
  return out;
}

/** Parses `text` into `out`; returns an error reason or `undefined`. */
function parseIpv6Into(text: string, out: Uint8Array): string | undefined {
  if (text.includes("%")) return "zone identifiers are not supported";
  const halves = text.split("::");
  if (halves.length > 2) return 'expected at most one "::"';
  const compressed = halves.length === 2;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = compressed ? (halves[1] === "" ? [] : halves[1]!.split(":")) : [];
  // Each side is a list of groups; an empty group means a stray ":".
  const groups = [...head, ...tail];
  let words = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.includes(".")) {
      // RFC 4291 §2.2 form 3: the dotted quad only as the low-order 32 bits.
      if (i !== groups.length - 1 || (compressed && tail.length === 0)) {
        return "an embedded IPv4 address must be the last 32 bits";
      }
      words += 2;
    } else if (!HEX_GROUP.test(g)) {
      return g === "" ? 'empty group (a single ":" at the start or end, or ":::")' : `group "${g}" is not 1 to 4 hex digits`;
    } else {
      words += 1;
    }
  }
  if (compressed ? words > V6_GROUPS - 1 : words !== V6_GROUPS) {
    return compressed
      ? `"::" must stand for at least one zero group, found ${words} groups besides it`
      : `expected 8 groups, found ${words}`;
  }
  // Fill the head from the front and the tail so that it ends at byte 16.
  let pos = 0;
  const put = (g: string): string | undefined => {
    if (g.includes(".")) {
      const err = parseDottedQuad(g, out, pos);
      if (err !== undefined) return `embedded IPv4 address "${g}": ${err}`;
      pos += 4;
    } else {
      const v = parseInt(g, 16);
      out[pos] = v >>> 8;
      out[pos + 1] = v & 0xff;
      pos += 2;
    }
    return undefined;
  };
  for (const g of head) {
    const err = put(g);
    if (err !== undefined) return err;
  }
  if (compressed) {
    const tailWords = tail.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
    pos = V6_LEN - 2 * tailWords;
    for (const g of tail) {
      const err = put(g);
      if (err !== undefined) return err;
    }
  }
  return undefined;
}

/**
 * Formats 16 bytes as an IPv6 address in the canonical text form of RFC 5952.
 *
 * **Details** (RFC 5952 §4): lowercase hex, leading zeros of each group
 * dropped, the longest run of two or more zero groups replaced by `::` (the
 * first such run on a tie), a lone zero group written as `0`. IPv4-mapped
 * addresses (`::ffff:0:0/96`) are written in mixed notation, `::ffff:a.b.c.d`,
 * as RFC 5952 §5 recommends; no other prefix gets mixed notation.
 *
 * @param buf The bytes.
 * @param off Offset of the first address byte (default 0).
 * @returns The canonical text.
 * @throws {RangeError} When `buf` has fewer than 16 bytes at `off`.
 *
 * @example Canonical forms
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(formatIpv6(parseIpv6("2001:0DB8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
 * assertEquals(formatIpv6(parseIpv6("2001:db8:0:1:1:1:1:1")), "2001:db8:0:1:1:1:1:1");
 * assertEquals(formatIpv6(new Uint8Array(16)), "::");
 * assertEquals(formatIpv6(parseIpv6("::ffff:c612:1")), "::ffff:198.18.0.1");
 * ```
 */
export function formatIpv6(buf: Uint8Array, off = 0): string {
  checkRoom("IPv6", buf, off, V6_LEN);
  let mapped = true;
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) mapped = false;
  if (mapped && buf[off + 10] === 0xff && buf[off + 11] === 0xff) {
    return `::ffff:${formatIpv4(buf, off + 12)}`;
  }
  // Find the longest run of zero groups (first on a tie), length >= 2.
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let i = 0; i <= V6_GROUPS; i++) {
    const zero = i < V6_GROUPS && buf[off + 2 * i] === 0 && buf[off + 2 * i + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      if (i - runStart > bestLen) {
        bestStart = runStart;
        bestLen = i - runStart;
      }
      runStart = -1;
    }
  }
  let s = "";
  for (let i = 0; i < V6_GROUPS; i++) {
    if (i === bestStart) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (s !== "" && !s.endsWith(":")) s += ":";
    s += (((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!)).toString(16);
  }
  return s;
}

/**
 * Parses an IPv4 or IPv6 address; text containing `:` is IPv6.
 *
 * @param text The address text.
 * @returns A new 4-byte (IPv4) or 16-byte (IPv6) array.
 * @throws {RangeError} When `text` is neither address form.
 *
 * @example Both families
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseIp("198.18.0.1").length, 4);
 * assertEquals(parseIp("2001:db8::1").length, 16);
 * ```
 */
export function parseIp(text: string): Uint8Array {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/**
 * Formats a 4-byte (IPv4) or 16-byte (IPv6) address, the inverse of
 * {@linkcode parseIp} up to canonical form.
 *
 * @param bytes The address; its length selects the family.
 * @returns The dotted-quad or RFC 5952 text.
 * @throws {RangeError} When `bytes` is neither 4 nor 16 bytes long.
 *
 * @example Round trip
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(formatIp(parseIp("2001:DB8:0::1")), "2001:db8::1");
 * assertEquals(formatIp(new Uint8Array([10, 0, 0, 1])), "10.0.0.1");
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === V4_LEN) return formatIpv4(bytes);
  if (bytes.length === V6_LEN) return formatIpv6(bytes);
  throw new RangeError(`Cannot format IP address: expected 4 or 16 bytes, got ${bytes.length}`);
}

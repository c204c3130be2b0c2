/**
 * The SOCKS5 handshake (RFC 1928) as pure functions over bytes: the
 * client's greeting (method offer), its request (CONNECT to a domain name or
 * an IPv4 address), and the server's replies. No I/O: the SOCKS server
 * ({@linkcode Translator.socks}) feeds them what it has read so far.
 *
 * Only what the translator needs is accepted: method 0x00 (no
 * authentication), command CONNECT, address types DOMAINNAME and IPv4.
 * Everything else is answered with the RFC's reply code, never thrown.
 *
 * ```
 * greeting: VER=5 NMETHODS METHODS[NMETHODS]          → VER=5 METHOD (0x00, or 0xFF: none acceptable)
 * request:  VER=5 CMD RSV ATYP DST.ADDR DST.PORT(2)   → VER=5 REP RSV=0 ATYP=1 BND.ADDR(4) BND.PORT(2)
 * ```
 *
 * @module
 */

/** The SOCKS protocol version byte. */
export const SOCKS_VERSION = 5;
/** Method "no authentication required". */
export const METHOD_NO_AUTH = 0x00;
/** Method "no acceptable methods". */
export const METHOD_NONE = 0xff;
/** Longest greeting: VER, NMETHODS and 255 methods. */
export const MAX_GREETING_LEN = 2 + 255;
/** Longest request: VER CMD RSV ATYP, a 255-byte name with its length byte, the port. */
export const MAX_REQUEST_LEN = 4 + 1 + 255 + 2;

/** Reply codes of RFC 1928 §6 that the translator sends. */
export const SocksReply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

/** One of {@linkcode SocksReply}'s codes. */
export type SocksReplyCode = (typeof SocksReply)[keyof typeof SocksReply];

/** What {@linkcode parseGreeting} found. */
export type GreetingParse =
  /** Not enough bytes yet. */
  | { readonly type: "more" }
  /** A greeting that offers "no authentication": answer {@linkcode greetingReply}(true). */
  | { readonly type: "ok"; readonly length: number }
  /** A greeting without method 0x00: answer {@linkcode greetingReply}(false) and close. */
  | { readonly type: "no-method"; readonly length: number }
  /** Not SOCKS5 (a SOCKS4 or HTTP client): close without a reply. */
  | { readonly type: "bad-version"; readonly version: number };

/**
 * Parses the client's greeting at the start of `buf`.
 *
 * @param buf Bytes read so far (may be short or hold more after the greeting).
 * @returns What the bytes say; `length` is the greeting's size.
 *
 * @example
 * ```ts
 * import { parseGreeting } from "@serval/translator";
 * parseGreeting(new Uint8Array([5, 1, 0])); // => { type: "ok", length: 3 }
 * parseGreeting(new Uint8Array([5, 2])); // => { type: "more" }
 * ```
 */
export function parseGreeting(buf: Uint8Array): GreetingParse {
  if (buf.length < 1) return { type: "more" };
  if (buf[0] !== SOCKS_VERSION) return { type: "bad-version", version: buf[0]! };
  if (buf.length < 2) return { type: "more" };
  const n = buf[1]!;
  const length = 2 + n;
  if (buf.length < length) return { type: "more" };
  for (let i = 2; i < length; i++) if (buf[i] === METHOD_NO_AUTH) return { type: "ok", length };
  return { type: "no-method", length };
}

/** What {@linkcode parseRequest} found. */
export type RequestParse =
  /** Not enough bytes yet. */
  | { readonly type: "more" }
  /** A CONNECT request; `length` is its size (bytes after it are the client's first data). */
  | {
    readonly type: "connect";
    readonly length: number;
    readonly addressType: "domain" | "ipv4";
    /** The domain name as sent (latin-1), or dotted IPv4. */
    readonly host: string;
    readonly port: number;
  }
  /** A request the translator cannot serve: answer {@linkcode requestReply}(reply) and close. */
  | { readonly type: "refuse"; readonly reply: SocksReplyCode; readonly reason: string };

const ATYP_IPV4 = 1;
const ATYP_DOMAIN = 3;
const ATYP_IPV6 = 4;
const CMD_CONNECT = 1;

/**
 * Parses the client's request at the start of `buf` (after the greeting).
 *
 * @param buf Bytes read since the greeting (may be short or hold more).
 * @returns What the bytes say. A command other than CONNECT, an address
 *   type other than DOMAINNAME or IPv4, a wrong version or an empty name is
 *   refused with its RFC 1928 reply code as soon as the bytes show it.
 *
 * @example
 * ```ts
 * import { parseRequest, socksConnectRequest } from "@serval/translator";
 * const r = parseRequest(socksConnectRequest("web.example", 80));
 * // r => { type: "connect", length: 18, addressType: "domain", host: "web.example", port: 80 }
 * ```
 */
export function parseRequest(buf: Uint8Array): RequestParse {
  if (buf.length < 1) return { type: "more" };
  if (buf[0] !== SOCKS_VERSION) return { type: "refuse", reply: SocksReply.generalFailure, reason: `version ${buf[0]} is not 5` };
  if (buf.length < 2) return { type: "more" };
  if (buf[1] !== CMD_CONNECT) return { type: "refuse", reply: SocksReply.commandNotSupported, reason: `command ${buf[1]} is not CONNECT` };
  if (buf.length < 4) return { type: "more" };
  const atyp = buf[3]!;
  if (atyp === ATYP_IPV4) {
    const length = 4 + 4 + 2;
    if (buf.length < length) return { type: "more" };
    const host = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
    return { type: "connect", length, addressType: "ipv4", host, port: (buf[8]! << 8) | buf[9]! };
  }
  if (atyp === ATYP_DOMAIN) {
    if (buf.length < 5) return { type: "more" };
    const n = buf[4]!;
    if (n === 0) return { type: "refuse", reply: SocksReply.hostUnreachable, reason: "the host name is empty" };
    const length = 5 + n + 2;
    if (buf.length < length) return { type: "more" };
    let host = "";
    for (let i = 5; i < 5 + n; i++) host += String.fromCharCode(buf[i]!);
    return { type: "connect", length, addressType: "domain", host, port: (buf[5 + n]! << 8) | buf[6 + n]! };
  }
  const what = atyp === ATYP_IPV6 ? "IPv6 addresses are" : `address type ${atyp} is`;
  return { type: "refuse", reply: SocksReply.addressTypeNotSupported, reason: `${what} not supported` };
}

/**
 * The server's answer to a greeting.
 *
 * @param ok Whether the client offered "no authentication".
 * @returns `05 00`, or `05 FF` (no acceptable method).
 *
 * @example
 * ```ts
 * import { greetingReply } from "@serval/translator";
 * greetingReply(true); // => Uint8Array [5, 0]
 * ```
 */
export function greetingReply(ok: boolean): Uint8Array {
  return new Uint8Array([SOCKS_VERSION, ok ? METHOD_NO_AUTH : METHOD_NONE]);
}

/**
 * The server's answer to a request: the reply code, and the bound address
 * 0.0.0.0:0 (the translator has no address of its own to show: the service
 * may be anywhere).
 *
 * @param code A {@linkcode SocksReply} code.
 * @returns The 10 reply bytes.
 *
 * @example
 * ```ts
 * import { requestReply, SocksReply } from "@serval/translator";
 * requestReply(SocksReply.hostUnreachable); // => Uint8Array [5, 4, 0, 1, 0, 0, 0, 0, 0, 0]
 * ```
 */
export function requestReply(code: SocksReplyCode): Uint8Array {
  return new Uint8Array([SOCKS_VERSION, code, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/**
 * A client's CONNECT request to a host name (for clients and tests).
 *
 * @param host A name of 1 to 255 latin-1 characters.
 * @param port The port, 0..65535.
 * @returns The request bytes.
 * @throws {RangeError} When the name or port does not fit.
 *
 * @example
 * ```ts
 * import { socksConnectRequest } from "@serval/translator";
 * socksConnectRequest("a.example", 80).length; // => 16
 * ```
 */
export function socksConnectRequest(host: string, port: number): Uint8Array {
  if (host.length < 1 || host.length > 255) throw new RangeError(`Cannot encode SOCKS host "${host}": 1 to 255 characters`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Cannot encode SOCKS port ${port}: must be 0..65535`);
  const b = new Uint8Array(5 + host.length + 2);
  b.set([SOCKS_VERSION, CMD_CONNECT, 0, ATYP_DOMAIN, host.length]);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c > 255) throw new RangeError(`Cannot encode SOCKS host "${host}": not latin-1`);
    b[5 + i] = c;
  }
  b[5 + host.length] = port >> 8;
  b[6 + host.length] = port & 255;
  return b;
}

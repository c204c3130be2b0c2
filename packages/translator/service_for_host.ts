/**
 * The name scheme of the SOCKS5 front end: how the host an unmodified
 * program asks its SOCKS proxy for becomes a serviceID.
 *
 * | the program asks for | service |
 * |---|---|
 * | `web.example` (a domain name) | `web.example`: the name is the service name (`serval id web.example`) |
 * | `web.example.serval` | the same: one trailing `.serval` label is dropped, so a browser can send only `*.serval` through the proxy |
 * | `web.example.` (trailing dot) | the same |
 * | 64 hex digits, `0x…`, a decimal number | that serviceID (the text forms of `@serval/wire`) |
 * | an IPv4 address `a.b.c.d` (SOCKS address type 1) | the serviceID whose bytes 0–3 are `a b c d` (the 2012 decimal convention: `0.0.64.1` is service `16385`) |
 *
 * The port is ignored: a serviceID names the whole service; which TCP port
 * the legacy server listens on is the exporting translator's business.
 *
 * @module
 */

import { ServiceId } from "@serval/wire";

/** The optional last label that marks a Serval name for proxy rules. */
export const SERVAL_SUFFIX = ".serval";

/**
 * The serviceID a SOCKS host name (or IPv4 address) names.
 *
 * @param host The host as the SOCKS request carries it.
 * @param addressType `domain` (default) or `ipv4` (dotted quad).
 * @returns The serviceID.
 * @throws {RangeError} When the host is no serviceID text; the message quotes it.
 *
 * @example
 * ```ts
 * import { serviceForHost } from "@serval/translator";
 * import { ServiceId } from "@serval/wire";
 * console.assert(serviceForHost("web.example.serval").equals(ServiceId.parse("web.example")));
 * console.assert(serviceForHost("0.0.64.1", "ipv4").equals(ServiceId.parse("16385")));
 * ```
 */
export function serviceForHost(host: string, addressType: "domain" | "ipv4" = "domain"): ServiceId {
  if (addressType === "ipv4") {
    const parts = host.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
      throw new RangeError(`Cannot read "${host}" as an IPv4 address`);
    }
    return ServiceId.fromNumber(((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
  }
  let name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.toLowerCase().endsWith(SERVAL_SUFFIX) && name.length > SERVAL_SUFFIX.length) name = name.slice(0, -SERVAL_SUFFIX.length);
  return ServiceId.parse(name);
}

/**
 * The Serval wire format: serviceIDs and flowIDs; the SAL header and every
 * extension of the 2014 format (PAD, CONTROL, SERVICE, ADDRESS, SOURCE) plus
 * LOCATORS (type 5: IPv4/IPv6 locators with UDP ports); the TCP and UDP
 * layouts that follow the SAL header; Ethernet II, IPv4, IPv6 and UDP framing
 * for datapaths; RFC 1071 checksums and serial-number arithmetic.
 *
 * Two levels, after smoltcp: views read and write fields in place over
 * `(Uint8Array, offset)`; Reprs are small checked representations with
 * `parse*` (untrusted bytes → Repr or a {@linkcode DropReason}; never throws)
 * and `emit*` (Repr → bytes in a caller-lent buffer). {@linkcode SalIndex}
 * validates a SAL header without allocating, for the forwarding fast path.
 *
 * Pure: performs no I/O, reads no clock, draws no randomness.
 *
 * @example Emit a SAL SYN for a service and parse it back
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { emitSal, parseSal, SAL_SYN, ServiceId } from "@serval/wire";
 *
 * const buf = new Uint8Array(128);
 * const n = emitSal({
 *   srcFlowId: 0x11223344,
 *   dstFlowId: 0,
 *   protocol: 6,
 *   control: { flags: SAL_SYN, verno: 1, ackno: 0, nonce: new Uint8Array(8) },
 *   services: [ServiceId.parse("web.example")],
 * }, buf, 0);
 * const syn = parseSal(buf, 0, n);
 * assertEquals(typeof syn === "string" ? syn : syn.services[0]!.equals(ServiceId.parse("web.example")), true);
 * assertEquals(parseSal(buf, 0, 10), "truncated");
 * ```
 *
 * @module
 */

export * from "./bytes.ts";
export * from "./checksum.ts";
export { checksumBuffer } from "./checksum_wasm.ts";
export * from "./control_message.ts";
export * from "./drop_reason.ts";
export * from "./ethernet.ts";
export * from "./flow_id.ts";
export * from "./ip_address.ts";
export * from "./ipv4.ts";
export * from "./ipv6.ts";
export * from "./locator.ts";
export * from "./sal_header.ts";
export * from "./sal_index.ts";
export * from "./sal_layout.ts";
export * from "./serial.ts";
export * from "./service_id.ts";
export * from "./tcp.ts";
export * from "./udp.ts";

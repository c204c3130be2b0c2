/**
 * {@linkcode PacketDatapathError}: why the packet datapath could not open (or
 * a namespace could not be entered).
 *
 * @module
 */

/**
 * A failure to set up the packet datapath: not root, not running under Bun,
 * a missing interface or namespace, a failed system call (with its errno
 * name). Never thrown for packets: those are dropped and counted.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PacketDatapathError } from "@serval/datapath-ffi";
 * const e = new PacketDatapathError("Cannot open packet socket: EPERM (run as root or grant CAP_NET_RAW)", "EPERM");
 * assertEquals([e.name, e.code, e instanceof Error], ["PacketDatapathError", "EPERM", true]);
 * ```
 */
export class PacketDatapathError extends Error {
  override readonly name = "PacketDatapathError";
  /** errno name when a system call failed (`"EPERM"`, …). */
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The sans-IO contract between the simulator and a simulated host: the shape
 * the SAL stack implements (quinn's `handle*`/`poll*` vocabulary).
 *
 * @module
 */

/**
 * An interface address in the simulator: a dotted-quad IPv4 string from the
 * benchmarking block 198.18.0.0/15 (RFC 2544), e.g. `"198.18.0.1"`. Strings
 * keep traces readable; turn one into locator bytes with `parseIpv4` from
 * `@serval/wire`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseIpv4 } from "@serval/wire";
 * const a: SimAddress = "198.18.0.1";
 * assertEquals([...parseIpv4(a)], [198, 18, 0, 1]);
 * ```
 */
export type SimAddress = string;

/**
 * A frame a node wants to send: out of `iface`, to one address or to every
 * other member of the segment.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const tx: SimTransmit = { iface: 0, frame: new Uint8Array(8), to: "broadcast" };
 * assertEquals(tx.to, "broadcast");
 * ```
 */
export interface SimTransmit {
  /** The node's interface index (0 is the first attached). */
  readonly iface: number;
  /** The frame. The simulator copies it before returning from the drain, so the node may reuse the buffer. */
  readonly frame: Uint8Array;
  /** The receiver's address on the segment, or `"broadcast"`. */
  readonly to: SimAddress | "broadcast";
}

/**
 * A simulated host (the sans-IO contract; quinn's `handle*`/`poll*`). The simulator calls `handleFrame`/`handleTimeout` with
 * virtual time and drains `pollTransmit` after every step; it asks
 * `pollTimeout` for the node's next deadline. A node never reads a clock
 * and never starts a timer.
 *
 * @example An echo node
 * ```ts
 * import { assertEquals } from "@std/assert";
 * class Echo implements SimNode {
 *   #out: SimTransmit[] = [];
 *   handleFrame(_now: number, iface: number, frame: Uint8Array, from: SimAddress): void {
 *     this.#out.push({ iface, frame, to: from });
 *   }
 *   pollTransmit(): SimTransmit | undefined { return this.#out.shift(); }
 *   pollTimeout(): number | undefined { return undefined; }
 *   handleTimeout(_now: number): void {}
 * }
 * const echo = new Echo();
 * echo.handleFrame(0, 0, new Uint8Array([1]), "198.18.0.1");
 * assertEquals(echo.pollTransmit()?.to, "198.18.0.1");
 * ```
 */
export interface SimNode {
  /**
   * A frame arrived. Takes ownership of `frame` (a private copy).
   *
   * @param now Virtual time, microseconds.
   * @param iface The receiving interface index.
   * @param frame The frame.
   * @param from The sender's address (link-layer source; nodes may ignore it and read their own headers).
   * @param broadcast The frame was sent to `"broadcast"`.
   */
  handleFrame(now: number, iface: number, frame: Uint8Array, from: SimAddress, broadcast?: boolean): void;
  /** The next frame to send, or `undefined` when none is queued. */
  pollTransmit(): SimTransmit | undefined;
  /** The earliest virtual time at which `handleTimeout` must run, or `undefined` when no timer is armed. */
  pollTimeout(): number | undefined;
  /**
   * Virtual time reached the node's `pollTimeout()` (or passed it).
   *
   * @param now Virtual time, microseconds.
   */
  handleTimeout(now: number): void;
  /**
   * Optional: the simulator attached interface `iface` with `address`.
   *
   * @param iface The new interface index.
   * @param address Its address.
   */
  handleAttach?(iface: number, address: SimAddress): void;
}

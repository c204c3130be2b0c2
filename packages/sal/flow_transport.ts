/**
 * The contract between a flow and its transport (the stream transport, a
 * datagram transport, or the trivial echo transport of the tests).
 *
 * The SAL owns the flow: its handshake, control reliability, migration and
 * close. A transport owns the bytes: it writes the transport part of the
 * handshake packets (a TCP SYN rides in the SAL SYN, facts §2.4), builds and
 * consumes data segments, and says when it has finished so that the SAL FIN
 * can go out (for a stream, after its own FIN is acknowledged, facts §3.6).
 *
 * Every method is synchronous and takes the time (µs). Buffers passed in are
 * borrowed until the call returns. Checksums of the transport header are the
 * host's job, because they cover the IP addresses of the packet (facts §2.5),
 * which change when a flow migrates: a transport writes its header with a
 * zero checksum.
 *
 * @module
 */

/** The handshake packet a transport part belongs to. */
export type HandshakeKind = "syn" | "syn-ack" | "ack";

/** A transport attached to one flow. */
export interface FlowTransport {
  /** SAL `protocol` of this transport's packets: 6 (TCP layout) or 17 (UDP layout). */
  readonly protocol: number;

  /**
   * Writes the transport part of a handshake packet at `buf[off..]`.
   *
   * @returns Bytes written (0 for none).
   */
  writeHandshake(now: number, kind: HandshakeKind, buf: Uint8Array, off: number, max: number): number;

  /** Takes the transport part of a handshake packet (checksum already verified). */
  handleHandshake(now: number, kind: HandshakeKind, buf: Uint8Array, off: number, len: number): void;

  /** The flow is up (both ends have completed the SAL handshake). */
  connected(now: number): void;

  /** Takes a data segment (the transport part of a data packet; checksum verified). */
  handleSegment(now: number, buf: Uint8Array, off: number, len: number): void;

  /**
   * Writes the next data segment to send at `buf[off..]`, at most `max`
   * bytes, or returns 0 when there is nothing to send now. Not called while
   * the flow is frozen.
   */
  pollSegment(now: number, buf: Uint8Array, off: number, max: number): number;

  /** A migration started: stop retransmitting (losses now are not congestion, facts §3.7). */
  freeze(now: number): void;

  /** The migration finished: resume, retransmitting what may have been lost. */
  resume(now: number): void;

  /** The peer's SAL FIN arrived: no data follows (end of stream). */
  peerClosed(now: number): void;

  /** The application closes its side: finish sending, then report {@linkcode FlowTransport.finished}. */
  shutdown(now: number): void;

  /** Whether everything sent has been delivered, so that the SAL FIN may go out. */
  readonly finished: boolean;

  /**
   * The transport gave up (its retransmission or keepalive limit ran out):
   * the host resets the flow. Optional; absent means never.
   */
  readonly failed?: boolean;

  /** The flow ended (normally or not); release everything. */
  closed(now: number, reason: string): void;

  /** When {@linkcode FlowTransport.handleTimeout} must next be called, or `undefined`. */
  pollTimeout(): number | undefined;

  /** Fires the transport's due timers. */
  handleTimeout(now: number): void;
}

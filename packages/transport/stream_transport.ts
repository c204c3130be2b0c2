/**
 * Serval TCP: a reliable, ordered byte stream in TCP header layout (ports 0)
 * over a SAL flow (facts §2.5), sans-IO. Its handshake rides in the SAL
 * handshake (the TCP SYN inside the SAL SYN); after it, segments carry
 * sequence and acknowledgement numbers, window scaling and timestamps
 * (RFC 7323), SACK (RFC 2018) with SACK-based loss recovery (RFC 6675),
 * RTO per RFC 6298, a pluggable congestion controller (CUBIC by default,
 * NewReno available), delayed ACKs, optional Nagle, zero-window probes,
 * graceful half-close and keepalive.
 *
 * Migration (facts §3.7): while the SAL moves the flow, the stream is frozen
 * (no retransmission timer); on resume it records a migration mark and
 * retransmits at once, and losses below the mark are repaired without being
 * treated as congestion.
 *
 * The SAL host drives it through {@linkcode FlowTransport}; the application
 * writes and reads through {@linkcode StreamTransport.write} and
 * {@linkcode StreamTransport.read} (and calls the host's `flush`).
 *
 * @module
 */

import {
  emitTcp,
  parseTcp,
  SAL_PROTO_TCP,
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqLe,
  seqLt,
  TCP_ACK,
  TCP_FIN,
  TCP_HEADER_LEN,
  TCP_PSH,
  TCP_SYN,
  tcpHeaderLen,
} from "@serval/wire";
import type { TcpOptions, TcpRepr } from "@serval/wire";
import { RtoEstimator } from "@serval/sal";
import type { FlowTransport, HandshakeKind, RtoOptions } from "@serval/sal";
import type { CongestionControl, CongestionControlFactory } from "./congestion_control.ts";
import { Cubic } from "./cubic.ts";
import { ReceiveBuffer } from "./receive_buffer.ts";
import { RexmitLog } from "./_rexmit_log.ts";
import { SackScoreboard } from "./sack_scoreboard.ts";
import { SendBuffer } from "./send_buffer.ts";

/** Options of a {@linkcode StreamTransport}; times in microseconds. */
export interface StreamOptions {
  /** Initial send sequence number: random, drawn by the caller (RFC 6528). */
  readonly iss: number;
  /** Largest payload of a segment we send and advertise (default 1380). */
  readonly mss?: number;
  /** Send buffer bytes (default 1 MiB): write() takes no more (backpressure). */
  readonly sendBuffer?: number;
  /** Receive buffer bytes (default 1 MiB): the largest window advertised. */
  readonly receiveBuffer?: number;
  /** Congestion control (default CUBIC). */
  readonly congestion?: CongestionControlFactory;
  /** Nagle's algorithm (default off). */
  readonly nagle?: boolean;
  /** Delayed-ACK timeout (default 40 ms; 0 acknowledges every segment at once). */
  readonly delayedAckUs?: number;
  /** RTO bounds (default RFC 6298 with a 200 ms floor). */
  readonly rto?: RtoOptions;
  /** Consecutive RTO expiries before the stream gives up (default 15). */
  readonly maxRetries?: number;
  /** Keepalive: probe after `idleUs` of silence, every `intervalUs`, give up after `probes`. Default off. */
  readonly keepalive?: { readonly idleUs: number; readonly intervalUs: number; readonly probes: number };
}

/** Counters and state of a stream, for `serval flow ls` and tests. */
export interface StreamStats {
  cwnd: number;
  ssthresh: number;
  srttUs: number;
  rtoUs: number;
  bytesSent: number;
  bytesRetransmitted: number;
  bytesAcked: number;
  bytesReceived: number;
  segmentsSent: number;
  segmentsReceived: number;
  retransmitTimeouts: number;
  fastRecoveries: number;
  /** Retransmissions found lost and sent again before the RTO. */
  lostRetransmissions: number;
  migrationRepairs: number;
  duplicateSegments: number;
  zeroWindowProbes: number;
  keepaliveProbes: number;
}

const DEFAULT_MSS = 1380;

/** The earlier of a deadline and a timer (-1: not armed). */
function earliest(t: number, timer: number): number {
  return timer >= 0 && timer < t ? timer : t;
}
const MAX_WINDOW_SCALE = 14;

/**
 * One end of a Serval TCP stream.
 *
 * @example Two ends wired back to back
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const a = new StreamTransport({ iss: 1000 }), b = new StreamTransport({ iss: 9000 });
 * const buf = new Uint8Array(1500);
 * b.handleHandshake(0, "syn", buf, 0, a.writeHandshake(0, "syn", buf, 0, 1500));
 * a.handleHandshake(0, "syn-ack", buf, 0, b.writeHandshake(0, "syn-ack", buf, 0, 1500));
 * b.handleHandshake(0, "ack", buf, 0, a.writeHandshake(0, "ack", buf, 0, 1500));
 * a.connected(0); b.connected(0);
 * a.write(new Uint8Array([1, 2, 3]));
 * b.handleSegment(1, buf, 0, a.pollSegment(1, buf, 0, 1500));
 * const out = new Uint8Array(8);
 * assertEquals(b.read(out, 0, 8), 3);
 * ```
 */
export class StreamTransport implements FlowTransport {
  /** SAL protocol: TCP layout. */
  readonly protocol = SAL_PROTO_TCP;
  /** Counters. */
  readonly stats: StreamStats;

  readonly #iss: number;
  readonly #mss: number;
  readonly #sendCap: number;
  readonly #recvCap: number;
  readonly #ccFactory: CongestionControlFactory;
  readonly #nagle: boolean;
  readonly #delAckUs: number;
  readonly #maxRetries: number;
  readonly #keepalive: StreamOptions["keepalive"];
  readonly #rto: RtoEstimator;

  // Negotiated at the handshake.
  #irs = 0;
  #peerMss = 536;
  #sndScale = 0; // shift applied to windows the peer advertises
  #rcvScale = 0; // shift we apply to the windows we advertise
  #ts = false;
  #sack = false;
  #tsRecent = 0;
  #established = false;

  // Sender.
  #snd!: SendBuffer;
  #sb!: SackScoreboard;
  #cc!: CongestionControl;
  #sndNxt = 0;
  #sndMax = 0;
  #sndWnd = 0;
  #highRxt = 0;
  #rescueRxt: number | undefined;
  #recovery = false;
  #recoveryPoint = 0;
  #dupAcks = 0;
  #rtoAt = -1;
  #backoff = 0;
  #rttSeq: number | undefined; // Karn timing without timestamps
  #rttSentAt = 0;
  #migMark: number | undefined;
  #frozen = false;
  #persistAt = -1;
  #persistBackoff = 0;
  #shutdown = false;
  #finSeq: number | undefined;
  #finAcked = false;
  #failed = false;

  // Receiver.
  #rcv!: ReceiveBuffer;
  #finRcvd: number | undefined;
  #peerEof = false;
  #ackNow = false;
  #ackAt = -1;
  #unackedSegs = 0;
  #lastAdvWnd = 0;

  // Keepalive.
  #kaAt = -1;
  #kaProbes = 0;


  /**
   * @param opts Initial sequence number, sizes, controller and timers.
   * @throws {RangeError} On sizes out of range.
   */
  constructor(opts: StreamOptions) {
    this.#iss = opts.iss >>> 0;
    this.#mss = opts.mss ?? DEFAULT_MSS;
    if (!Number.isInteger(this.#mss) || this.#mss < 64 || this.#mss > 65495) {
      throw new RangeError(`Cannot create stream: MSS is ${this.#mss}, must be an integer in 64..65495`);
    }
    this.#sendCap = opts.sendBuffer ?? 1 << 20;
    this.#recvCap = opts.receiveBuffer ?? 1 << 20;
    for (const [what, v] of [["send buffer", this.#sendCap], ["receive buffer", this.#recvCap]] as const) {
      if (!Number.isInteger(v) || v < this.#mss || v > 2 ** 30) {
        throw new RangeError(`Cannot create stream: ${what} is ${v} bytes, must be an integer in MSS..2^30`);
      }
    }
    this.#ccFactory = opts.congestion ?? ((mss) => new Cubic(mss));
    this.#nagle = opts.nagle ?? false;
    this.#delAckUs = opts.delayedAckUs ?? 40_000;
    this.#maxRetries = opts.maxRetries ?? 15;
    this.#keepalive = opts.keepalive;
    this.#rto = new RtoEstimator(opts.rto);
    let scale = 0;
    while (scale < MAX_WINDOW_SCALE && this.#recvCap >> scale > 65535) scale++;
    this.#rcvScale = scale;
    this.stats = {
      cwnd: 0,
      ssthresh: Infinity,
      srttUs: -1,
      rtoUs: this.#rto.rtoUs,
      bytesSent: 0,
      bytesRetransmitted: 0,
      bytesAcked: 0,
      bytesReceived: 0,
      segmentsSent: 0,
      segmentsReceived: 0,
      retransmitTimeouts: 0,
      fastRecoveries: 0,
      lostRetransmissions: 0,
      migrationRepairs: 0,
      duplicateSegments: 0,
      zeroWindowProbes: 0,
      keepaliveProbes: 0,
    };
  }

  // --- application ---------------------------------------------------------

  /**
   * Queues bytes to send. Takes what fits in the send buffer (backpressure);
   * nothing after {@linkcode StreamTransport.shutdown}.
   *
   * @returns Bytes accepted.
   */
  write(data: Uint8Array, off = 0, len: number = data.length - off): number {
    if (this.#shutdown || this.#failed) return 0;
    if (!this.#snd) return this.#preWrite(data, off, len);
    return this.#snd.write(data, off, len);
  }

  /** Bytes the send buffer can take now. */
  get writable(): number {
    if (this.#shutdown || this.#failed) return 0;
    return this.#snd ? this.#snd.free : this.#sendCap - this.#early.length;
  }

  /**
   * Reads received bytes in order.
   *
   * @returns Bytes copied into `out` (0 when none are ready).
   */
  read(out: Uint8Array, off: number, max: number): number {
    if (!this.#rcv) return 0;
    const before = this.#rcv.window;
    const n = this.#rcv.read(out, off, max);
    // Reopening a closed or small window must be announced (RFC 9293 §3.8.6.2.2).
    if (n > 0 && this.#rcv.window - before >= Math.min(this.#recvCap / 2, 2 * this.#mss) && this.#lastAdvWnd < 2 * this.#mss) {
      this.#ackNow = true;
    }
    return n;
  }

  /** Bytes ready to read. */
  get readable(): number {
    return this.#rcv ? this.#rcv.readable : 0;
  }

  /** The peer has finished sending and everything has been read. */
  get eof(): boolean {
    return this.#peerEof && this.readable === 0;
  }

  /** The stream gave up (retransmission or keepalive limit): the host resets the flow. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Sequence space sent and not yet acknowledged (data and FIN). */
  get inflight(): number {
    return this.#snd ? seqDiff(this.#sndMax, this.#snd.sndUna) - (this.#finAcked ? 1 : 0) : 0;
  }

  /** Bytes written and not yet acknowledged (queued + in flight). */
  get unacknowledged(): number {
    return this.#snd ? this.#snd.length : this.#early.length;
  }

  // Bytes written before the handshake completed, moved into the send buffer at connect.
  #early: Uint8Array = new Uint8Array(0);

  #preWrite(data: Uint8Array, off: number, len: number): number {
    const n = Math.min(len, this.#sendCap - this.#early.length);
    const next = new Uint8Array(this.#early.length + n);
    next.set(this.#early);
    next.set(data.subarray(off, off + n), this.#early.length);
    this.#early = next;
    return n;
  }

  // --- FlowTransport: handshake ----------------------------------------------

  writeHandshake(now: number, kind: HandshakeKind, buf: Uint8Array, off: number, max: number): number {
    const options: { -readonly [K in keyof TcpOptions]: TcpOptions[K] } = {};
    if (kind !== "ack") {
      options.mss = this.#mss;
      options.windowScale = this.#rcvScale;
      if (kind === "syn" || this.#sack) options.sackPermitted = true;
    }
    if (kind === "syn" || this.#ts) options.timestamps = { tsval: now >>> 0, tsecr: kind === "syn" ? 0 : this.#tsRecent };
    const repr: TcpRepr = {
      seq: kind === "ack" ? seqAdd(this.#iss, 1) : this.#iss,
      ack: kind === "syn" ? 0 : seqAdd(this.#irs, 1),
      flags: kind === "syn" ? TCP_SYN : kind === "syn-ack" ? TCP_SYN | TCP_ACK : TCP_ACK,
      window: Math.min(65535, this.#recvCap),
      urgent: 0,
      options,
      payloadLen: 0,
    };
    if (max < TCP_HEADER_LEN + 40) return 0;
    return emitTcp(repr, buf, off);
  }

  handleHandshake(now: number, kind: HandshakeKind, buf: Uint8Array, off: number, len: number): void {
    const r = parseTcp(buf, off, len);
    if (typeof r === "string") return;
    if (kind === "syn" || kind === "syn-ack") {
      this.#irs = r.seq;
      const o = r.options;
      this.#peerMss = o.mss ?? 536;
      // Window scaling and SACK only when both ends offered them (RFC 7323 §2.2, RFC 2018 §2).
      const bothScale = o.windowScale !== undefined;
      this.#sndScale = bothScale ? o.windowScale! : 0;
      if (!bothScale) this.#rcvScale = 0;
      this.#sack = o.sackPermitted === true;
      this.#ts = o.timestamps !== undefined;
      if (o.timestamps) this.#tsRecent = o.timestamps.tsval;
      this.#sndWnd = r.window; // windows in SYNs are never scaled
    }
    if (kind === "ack" && r.options.timestamps) this.#tsRecent = r.options.timestamps.tsval;
    void now;
  }

  connected(now: number): void {
    if (this.#established) return;
    this.#established = true;
    const start = seqAdd(this.#iss, 1);
    this.#snd = new SendBuffer(this.#sendCap, start);
    if (this.#early.length > 0) this.#snd.write(this.#early);
    this.#early = new Uint8Array(0);
    this.#rcv = new ReceiveBuffer(this.#recvCap, seqAdd(this.#irs, 1), 256);
    this.#sb = new SackScoreboard({ mss: this.#segMss(), initialSeq: start });
    this.#cc = this.#ccFactory(this.#segMss());
    this.#sndNxt = start;
    this.#sndMax = start;
    this.#highRxt = start;
    this.#armKeepalive(now);
  }

  // --- FlowTransport: segments -----------------------------------------------

  handleSegment(now: number, buf: Uint8Array, off: number, len: number): void {
    if (!this.#established) return;
    const r = parseTcp(buf, off, len);
    if (typeof r === "string") return;
    this.stats.segmentsReceived++;
    this.#kaProbes = 0;
    this.#armKeepalive(now);
    if (r.flags & TCP_SYN) {
      // A retransmitted SYN or SYN-ACK reaching an established stream: re-ACK.
      this.#ackNow = true;
      return;
    }
    if (this.#ts && r.options.timestamps && seqGe(r.options.timestamps.tsval, this.#tsRecent)) {
      this.#tsRecent = r.options.timestamps.tsval;
    }
    if (r.flags & TCP_ACK) this.#onAck(now, r);
    // An empty segment below what we expect is a keepalive probe: answer it.
    if (r.payloadLen === 0 && !(r.flags & TCP_FIN) && seqLt(r.seq, this.#ackNumber())) this.#ackNow = true;
    const hl = len - r.payloadLen;
    if (r.payloadLen > 0) this.#onData(now, r.seq, buf, off + hl, r.payloadLen);
    if (r.flags & TCP_FIN) {
      const finSeq = seqAdd(r.seq, r.payloadLen);
      if (this.#finRcvd === undefined) this.#finRcvd = finSeq;
      this.#ackNow = true;
    }
    if (this.#finRcvd !== undefined && this.#rcv.rcvNxt === this.#finRcvd) this.#peerEof = true;
  }

  #onData(now: number, seq: number, buf: Uint8Array, off: number, len: number): void {
    const wasInOrder = seq === this.#rcv.rcvNxt;
    const hadGap = this.#rcv.rangeCount > 0;
    const res = this.#rcv.insert(seq, buf, off, len);
    if (res === "new") this.stats.bytesReceived += len;
    else this.stats.duplicateSegments++;
    // Out-of-order, duplicate or gap-filling data is acknowledged at once (RFC 5681 §4.2).
    if (!wasInOrder || res !== "new" || hadGap) {
      this.#ackNow = true;
      return;
    }
    this.#unackedSegs++;
    if (this.#unackedSegs >= 2 || this.#delAckUs === 0) this.#ackNow = true;
    else if (this.#ackAt < 0) this.#ackAt = now + this.#delAckUs;
  }

  #onAck(now: number, r: TcpRepr): void {
    const snd = this.#snd;
    const una = snd.sndUna;
    const ack = r.ack;
    const window = r.window << this.#sndScale;
    if (seqGt(ack, this.#sndMax)) {
      // Acknowledges something never sent: answer with an ACK (RFC 9293 §3.10.7.4).
      this.#ackNow = true;
      return;
    }
    const newlySacked = this.#sb.update(ack, this.#sack && r.options.sackBlocks ? r.options.sackBlocks : [], this.#sndMax);
    if (seqGt(ack, una)) {
      // What this pass had outstanding when the ACK arrived (acked bytes
      // included): after an RTO that is from snd_una, not the old flight.
      const outstanding = seqDiff(seqGt(this.#sndNxt, ack) ? this.#sndNxt : ack, una);
      const dataEnd = snd.sndEnd;
      const dataAck = seqGt(ack, dataEnd) ? dataEnd : ack;
      const acked = snd.acknowledge(dataAck);
      if (this.#finSeq !== undefined && seqGt(ack, this.#finSeq)) this.#finAcked = true;
      this.stats.bytesAcked += acked;
      // RTT: from the echoed timestamp, else Karn's single timed segment (RFC 6298, 7323).
      let rtt = -1;
      if (this.#ts && r.options.timestamps && r.options.timestamps.tsecr !== 0) {
        rtt = seqDiff(now >>> 0, r.options.timestamps.tsecr);
      } else if (this.#rttSeq !== undefined && seqGt(ack, this.#rttSeq)) {
        rtt = now - this.#rttSentAt;
        this.#rttSeq = undefined;
      }
      if (rtt >= 0) this.#rto.sample(rtt);
      this.#backoff = 0;
      this.#dupAcks = 0;
      if (seqLt(this.#sndNxt, ack)) this.#sndNxt = ack;
      if (seqLt(this.#highRxt, ack)) this.#highRxt = ack;
      if (this.#recovery && seqGe(ack, this.#recoveryPoint)) {
        this.#recovery = false;
        this.#rescueRxt = undefined;
        this.#headAt = -1;
        this.#rexmit.clear();
        this.#cc.onRecoveryExit(now);
      } else if (this.#recovery) {
        // The new head's hole was retransmitted at most now: time it from here.
        this.#headAt = seqLt(ack, this.#highRxt) ? this.#lossDeadline(now, 1) : -1;
      }
      this.#reoAt = -1;
      this.#cc.onAck(now, acked, rtt, outstanding);
      if (this.#migMark !== undefined && seqGe(ack, this.#migMark)) this.#migMark = undefined;
      this.#rtoAt = this.inflight > 0 && !this.#frozen ? now + this.#rto.rtoUs : -1;
    } else if (ack === una && this.inflight > 0) {
      // RFC 6675 §2: with SACK, a duplicate ACK is one that SACKs new data
      // (not a window update, nor an echo of a duplicate segment); without
      // SACK, RFC 5681's pure ACK with an unchanged window.
      if (this.#sack ? newlySacked > 0 : r.payloadLen === 0 && window === this.#sndWnd) this.#dupAcks++;
      // The receiver echoes the timestamp of the segment that made it SACK:
      // an RTT sample even while the head is missing (RFC 7323 §4.1 lets
      // the sender time any segment whose echo it gets back).
      if (newlySacked > 0 && this.#ts && r.options.timestamps && r.options.timestamps.tsecr !== 0) {
        this.#rto.sample(seqDiff(now >>> 0, r.options.timestamps.tsecr));
      }
    }
    if (this.#recovery && this.#sack && (newlySacked > 0 || seqGt(ack, una)) && this.#rexmit.size > 0) {
      const wait = this.#lossDeadline(0, 1);
      if (wait >= 0) this.stats.lostRetransmissions += this.#rexmit.reap(ack, this.#sb, now, wait);
    }
    this.#sndWnd = window;
    if (window > 0) {
      this.#persistAt = -1;
      this.#persistBackoff = 0;
    }
    this.#maybeEnterRecovery(now);
  }

  /**
   * Time-based loss detection for the head of the window (the idea of RACK,
   * RFC 8985, applied to snd_una only, which needs no per-segment send
   * times). Two deadlines, both `now + rtts × SRTT + reordering window`
   * with the window max(4 × RTTVAR, SRTT / 4, 1 ms):
   * - outside recovery, from the first SACK above snd_una (`rtts` = 0):
   *   data sent after the head has arrived, so the head is lost unless it
   *   is merely reordered; this catches a loss when too few segments are in
   *   flight for three duplicate ACKs;
   * - in recovery, from the head's retransmission (`rtts` = 1): its ACK is
   *   due; if it has not come the retransmission was lost too, which RFC 6675
   *   alone leaves to the RTO.
   *
   * @returns The deadline, or -1 before the first RTT sample.
   */
  #lossDeadline(now: number, rtts: number): number {
    const srtt = this.#rto.srttUs;
    if (srtt < 0) return -1;
    return now + rtts * srtt + Math.max(4 * this.#rto.rttvarUs, srtt / 4, 1000);
  }

  /**
   * FlightSize for a window reduction: what is outstanding, but never more
   * than cwnd. SACKed bytes and data from before an RTO also count as
   * outstanding until the cumulative ACK passes them; reducing from that
   * would set ssthresh far above what the path holds (RFC 9438 §4.6 uses
   * cwnd).
   */
  #flightSize(): number {
    return Math.min(this.inflight, this.#cc.cwnd);
  }

  #maybeEnterRecovery(now: number): void {
    if (this.#recovery || this.inflight === 0) return;
    const una = this.#snd.sndUna;
    // RFC 6675 §5: three duplicate ACKs, or the first unacknowledged byte
    // deemed lost; or the head's reordering window has run out.
    if (this.#dupAcks < 3 && !this.#sb.isLost(una) && !this.#headLost) {
      if (this.#sack && this.#reoAt < 0 && this.#sb.rangeCount > 0) this.#reoAt = this.#lossDeadline(now, 0);
      return;
    }
    this.#headLost = false;
    this.#reoAt = -1;
    this.#recovery = true;
    this.#recoveryPoint = this.#sndMax;
    this.#highRxt = una;
    this.#rescueRxt = undefined;
    if (this.#migMark !== undefined && seqLt(una, this.#migMark)) {
      // Lost while the flow moved: repair without a congestion response (facts §3.7).
      this.stats.migrationRepairs++;
    } else {
      this.#cc.onCongestionEvent(now, this.#flightSize());
      this.stats.fastRecoveries++;
    }
  }

  pollSegment(now: number, buf: Uint8Array, off: number, max: number): number {
    if (!this.#established || this.#frozen || max < TCP_HEADER_LEN + 40) return 0;
    const room = Math.min(max - TCP_HEADER_LEN - 40, this.#segMss());
    const snd = this.#snd;
    const una = snd.sndUna;
    const sndEnd = snd.sndEnd;
    const sndWndEnd = seqAdd(una, Math.max(this.#sndWnd, 0));
    const unsent = Math.max(0, seqDiff(sndEnd, this.#sndNxt));
    const canSendNew = unsent > 0 && seqLt(this.#sndNxt, sndWndEnd);
    let seq = this.#sndNxt;
    let len = 0;
    let retransmit = false;

    const cwnd = this.#cc.cwnd;
    // Bytes in the network: RFC 6675's pipe in SACK recovery; otherwise what
    // this pass has sent (after an RTO snd_nxt went back to snd_una, so the
    // old flight no longer counts).
    // Lost retransmissions have left the network too.
    const pipe = this.#sack && this.#recovery
      ? Math.max(0, this.#sb.pipe(this.#highRxt) - this.#rexmit.lostBytes)
      : seqDiff(this.#sndNxt, una);
    const lostRxt = this.#recovery && pipe < cwnd ? this.#rexmit.nextLost() : -1;
    if (this.#resendHead && this.#recovery) {
      // A lost retransmission of the head goes again at once, regardless of cwnd.
      this.#resendHead = false;
      seq = una;
      len = Math.max(0, Math.min(room, seqDiff(this.#sb.holeEnd(una), una), seqDiff(sndEnd, una)));
      retransmit = len > 0;
      if (retransmit) this.stats.lostRetransmissions++;
    } else if (lostRxt >= 0) {
      // A retransmission found lost by time goes again before anything else.
      seq = lostRxt;
      len = Math.max(0, Math.min(room, seqDiff(this.#rexmit.endOf(seq), seq), seqDiff(sndEnd, seq)));
      retransmit = len > 0;
    } else if (pipe < cwnd || (this.#recovery && this.#highRxt === una)) {
      // On entering recovery the first retransmission goes regardless of cwnd (RFC 6675 §5 step 3).
      if (this.#recovery) {
        const kind = this.#sack
          ? this.#sb.nextSeg(this.#highRxt, canSendNew, this.#sndNxt, this.#rescueRxt === undefined)
          : this.#highRxt === una ? "retransmit-lost" : canSendNew ? "new-data" : "none";
        if (kind === "retransmit-lost" || kind === "retransmit-unsacked" || kind === "rescue") {
          seq = this.#sack ? this.#sb.segSeq : una;
          len = Math.max(0, Math.min(room, this.#sack ? this.#sb.segLen : room, seqDiff(sndEnd, seq)));
          retransmit = true;
          if (kind === "rescue") this.#rescueRxt = this.#recoveryPoint;
          else if (seqGt(seqAdd(seq, Math.max(len, 1)), this.#highRxt)) this.#highRxt = seqAdd(seq, Math.max(len, 1));
        } else if (kind === "new-data") {
          len = Math.min(room, unsent, seqDiff(sndWndEnd, seq));
        }
      } else if (canSendNew) {
        len = Math.min(room, unsent, seqDiff(sndWndEnd, seq));
        // Nagle: hold a small segment while data is unacknowledged (RFC 896).
        if (this.#nagle && len < room && this.inflight > 0 && !this.#shutdown) len = 0;
        // A full send buffer means the application has more to give as soon
        // as an ACK makes room: a short tail segment now would only split
        // the stream into small packets (sender-side SWS avoidance, RFC 9293
        // §3.8.6.2.1). The next ACK brings a full segment.
        if (len < room && snd.free < room && this.inflight > 0 && !this.#shutdown) len = 0;
      }
    }
    // Zero-window probe: when the persist timer fired, the byte at snd_una
    // (nothing else is outstanding then). snd_nxt stays put, as in BSD, so a
    // refused probe is simply sent again by the next persist timeout; it is
    // no retransmission and arms no RTO, so a peer that keeps answering with
    // a closed window is probed for as long as it answers (RFC 9293 §3.8.6.1).
    let probe = false;
    if (len === 0 && !retransmit && this.#probeDue && unsent > 0) {
      this.#probeDue = false;
      if (this.#sndNxt === una) {
        probe = true;
        seq = una;
        len = 1;
        this.stats.zeroWindowProbes++;
      }
    }
    // The FIN follows the last byte, once per pass: the first time, and again
    // after an RTO or a migration has sent us back to snd_una.
    const fin = this.#shutdown && !this.#finAcked && !retransmit && seqAdd(seq, len) === sndEnd &&
      seqLe(this.#sndNxt, sndEnd) && (len > 0 || !this.#recovery);
    if (len === 0 && !fin) {
      if (this.#sndWnd === 0 && unsent > 0 && this.#sndNxt === una) this.#armPersist(now);
      if (this.#kaDue) {
        // A keepalive probe: an old sequence number the peer must acknowledge.
        this.#kaDue = false;
        seq = seqAdd(una, -1);
        this.stats.keepaliveProbes++;
      } else if (!this.#ackNow) {
        return 0;
      }
    }

    const n = this.#emit(now, buf, off, seq, len, fin);
    if (retransmit && this.#recovery) {
      if (seq === una) this.#headAt = this.#lossDeadline(now, 1);
      if (this.#sack && len > 0) this.#rexmit.add(seq, seqAdd(seq, len), now);
    }
    if (probe) {
      const end = seqAdd(seq, 1);
      if (seqGt(end, this.#sndMax)) {
        this.#sndMax = end; // so that the ACK of an accepted probe is valid
        this.#sb.sent(end);
      }
      this.#armPersist(now);
      return n;
    }
    if (len > 0) {
      this.stats.segmentsSent++;
      const end = seqAdd(seq, len);
      if (retransmit || seqLt(seq, this.#sndMax)) this.stats.bytesRetransmitted += len;
      else this.stats.bytesSent += len;
      if (!retransmit && seqGt(end, this.#sndNxt)) this.#sndNxt = end;
      if (seqGt(end, this.#sndMax)) {
        if (this.#rttSeq === undefined && !this.#ts) {
          this.#rttSeq = seq;
          this.#rttSentAt = now;
        }
        this.#sndMax = end;
        this.#sb.sent(end);
      }
    }
    if (fin) {
      this.#finSeq = sndEnd;
      const finEnd = seqAdd(sndEnd, 1);
      this.#sndNxt = finEnd;
      if (seqGt(finEnd, this.#sndMax)) {
        this.#sndMax = finEnd;
        this.#sb.sent(finEnd);
      }
    }
    if ((len > 0 || fin) && this.#rtoAt < 0) this.#rtoAt = now + this.#rto.backedOffUs(this.#backoff);
    return n;
  }

  #probeDue = false;
  #kaDue = false;
  readonly #rexmit = new RexmitLog();
  #headAt = -1; // in recovery: the head's retransmission is deemed lost after this
  #resendHead = false;
  #reoAt = -1; // outside recovery: the head is deemed lost after this
  #headLost = false;

  #emit(now: number, buf: Uint8Array, off: number, seq: number, len: number, fin: boolean): number {
    const options: { -readonly [K in keyof TcpOptions]: TcpOptions[K] } = {};
    if (this.#ts) options.timestamps = { tsval: now >>> 0, tsecr: this.#tsRecent };
    if (this.#sack && this.#rcv.rangeCount > 0) {
      const blocks = this.#rcv.sackBlocks(this.#ts ? 3 : 4);
      if (blocks.length > 0) options.sackBlocks = blocks;
    }
    const wnd = Math.min(65535, this.#rcv.window >> this.#rcvScale);
    this.#lastAdvWnd = wnd << this.#rcvScale;
    const repr: TcpRepr = {
      seq,
      ack: this.#ackNumber(),
      flags: TCP_ACK | (fin ? TCP_FIN : 0) | (len > 0 ? TCP_PSH : 0),
      window: wnd,
      urgent: 0,
      options,
      payloadLen: len,
    };
    const hl = tcpHeaderLen(repr);
    if (len > 0) this.#snd.read(seq, len, buf, off + hl);
    emitTcp(repr, buf, off);
    this.#ackNow = false;
    this.#ackAt = -1;
    this.#unackedSegs = 0;
    return hl + len;
  }

  #ackNumber(): number {
    const n = this.#rcv.rcvNxt;
    return this.#finRcvd !== undefined && n === this.#finRcvd ? seqAdd(n, 1) : n;
  }

  #segMss(): number {
    return Math.min(this.#mss, this.#peerMss);
  }

  // --- FlowTransport: lifecycle ----------------------------------------------

  freeze(now: number): void {
    this.#frozen = true;
    this.#rtoAt = -1;
    this.#headAt = -1;
    this.#reoAt = -1;
    this.#persistAt = -1;
    void now;
  }

  resume(now: number): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    if (!this.#established) return;
    // What was in flight during the move may be lost: repair it at once,
    // without a congestion response (facts §3.7), and start the new path's
    // RTT estimate afresh.
    this.#migMark = this.#sndMax;
    this.#cc.onPathChange(now);
    this.#rto.reset();
    this.#recovery = false; // onPathChange ended the controller's recovery too
    this.#dupAcks = 0;
    this.#rexmit.clear();
    this.#resendHead = false;
    this.#headLost = false;
    if (this.inflight > 0) {
      this.#sndNxt = this.#snd.sndUna;
      this.#highRxt = this.#snd.sndUna;
      this.#sb.reset();
      this.#rtoAt = now + this.#rto.rtoUs;
    }
    this.#ackNow = true;
  }

  peerClosed(now: number): void {
    // The SAL FIN follows our peer's TCP FIN; nothing more will arrive.
    this.#peerEof = true;
    void now;
  }

  shutdown(now: number): void {
    this.#shutdown = true;
    void now;
  }

  get finished(): boolean {
    if (!this.#established) return this.#early.length === 0;
    return this.#failed || (this.#shutdown && this.#finAcked);
  }

  closed(now: number, reason: string): void {
    this.#rtoAt = -1;
    this.#headAt = -1;
    this.#reoAt = -1;
    this.#ackAt = -1;
    this.#persistAt = -1;
    this.#kaAt = -1;
    void now;
    void reason;
  }

  // --- timers ----------------------------------------------------------------

  pollTimeout(): number | undefined {
    let t = Infinity;
    t = earliest(t, this.#rtoAt);
    t = earliest(t, this.#ackAt);
    t = earliest(t, this.#persistAt);
    t = earliest(t, this.#kaAt);
    t = earliest(t, this.#headAt);
    t = earliest(t, this.#reoAt);
    return t === Infinity ? undefined : t;
  }

  handleTimeout(now: number): void {
    if (this.#ackAt >= 0 && now >= this.#ackAt) {
      this.#ackAt = -1;
      this.#ackNow = true;
    }
    if (this.#rtoAt >= 0 && now >= this.#rtoAt) this.#onRto(now);
    if (this.#headAt >= 0 && now >= this.#headAt) {
      this.#headAt = -1;
      if (this.#recovery) this.#resendHead = true;
    }
    if (this.#reoAt >= 0 && now >= this.#reoAt) {
      this.#reoAt = -1;
      if (!this.#recovery && this.inflight > 0 && this.#sb.rangeCount > 0) {
        this.#headLost = true;
        this.#maybeEnterRecovery(now);
      }
    }
    if (this.#persistAt >= 0 && now >= this.#persistAt) {
      this.#persistAt = -1;
      this.#probeDue = true;
      this.#persistBackoff++;
    }
    if (this.#kaAt >= 0 && now >= this.#kaAt) {
      this.#kaAt = -1;
      const ka = this.#keepalive!;
      if (this.#kaProbes >= ka.probes) {
        this.#failed = true;
        return;
      }
      this.#kaProbes++;
      this.#kaDue = true;
      this.#kaAt = now + ka.intervalUs;
    }
  }

  #onRto(now: number): void {
    this.#rtoAt = -1;
    if (this.#frozen || this.inflight === 0) return;
    if (this.#backoff >= this.#maxRetries) {
      this.#failed = true;
      return;
    }
    this.stats.retransmitTimeouts++;
    this.#backoff++;
    const una = this.#snd.sndUna;
    if (!(this.#migMark !== undefined && seqLt(una, this.#migMark))) this.#cc.onRetransmitTimeout(now, this.#flightSize());
    this.#dupAcks = 0;
    this.#rttSeq = undefined;
    this.#highRxt = una;
    this.#rescueRxt = undefined;
    this.#resendHead = false;
    this.#headAt = -1;
    this.#reoAt = -1;
    this.#headLost = false;
    this.#rexmit.clear();
    if (this.#sack && this.#backoff === 1) {
      // Loss state (as Linux): everything outstanding and not SACKed is
      // deemed lost and resent from snd_una as the window reopens; SACKed
      // data is not resent; new data follows once the holes are repaired.
      this.#sb.markLost(this.#sndMax);
      this.#recovery = true;
      this.#recoveryPoint = this.#sndMax;
    } else {
      // Again, or without SACK: go back to the first unacknowledged byte and
      // forget the SACKs, in case the receiver reneged (RFC 2018 §8).
      this.#sb.reset();
      this.#recovery = false;
      this.#sndNxt = una;
    }
    this.#rtoAt = now + this.#rto.backedOffUs(this.#backoff);
  }

  #armPersist(now: number): void {
    if (this.#persistAt >= 0 || this.#frozen) return;
    this.#persistAt = now + this.#rto.backedOffUs(this.#persistBackoff);
  }

  #armKeepalive(now: number): void {
    if (!this.#keepalive) return;
    this.#kaAt = now + (this.#kaProbes === 0 ? this.#keepalive.idleUs : this.#keepalive.intervalUs);
  }

  /** Refreshes the statistics snapshot (`stats`) from the live state. */
  refreshStats(): StreamStats {
    if (this.#cc) {
      this.stats.cwnd = this.#cc.cwnd;
      this.stats.ssthresh = this.#cc.ssthresh;
    }
    this.stats.srttUs = this.#rto.srttUs;
    this.stats.rtoUs = this.#rto.rtoUs;
    return this.stats;
  }
}

/**
 * The SAL control plane of one flow end (facts §3): the handshake, reliable
 * control packets (verno/ackno with serial arithmetic, retransmission with an
 * RFC 6298 RTO and bounded retries), close with FIN from either side,
 * simultaneous close, half-close, bounded TIME-WAIT, reset, and migration
 * (RSYN / RSYN-ACK / ACK) of either end or both at once.
 *
 * Sans-IO: inputs are `handle*(now, …)` calls and commands; outputs are
 * drained with {@linkcode SalFlow.pollControl}, {@linkcode SalFlow.pollEvent}
 * and {@linkcode SalFlow.pollTimeout}. The host layer around it finds flows by
 * flowID, builds packet bytes (base header, CONTROL and SERVICE extensions,
 * transport part) and resolves SYNs through the service table.
 *
 * Differences from the 2014 code, on purpose (facts §10):
 * - the nonce is checked on every control packet after the SYN, ACK, RST and
 *   RSYN-ACK included; a reset is accepted only at `verno == rcv_nxt` (or, in
 *   REQUEST, when it acknowledges our SYN exactly);
 * - control packets queue (stop-and-wait, one in flight) instead of
 *   overwriting each other and merging flags;
 * - the server retransmits its SYN-ACK until the third ACK arrives;
 * - a reset's ackno is `verno + 1` for SYN and FIN (not + 32).
 *
 * @module
 */

import { SAL_ACK, SAL_FIN, SAL_NACK, SAL_RST, SAL_RSYN, SAL_SYN, seqAdd, seqBetween, seqGt, seqLt } from "@serval/wire";
import type { Locator } from "@serval/wire";
import { RtoEstimator } from "./rto_estimator.ts";
import type { RtoOptions } from "./rto_estimator.ts";

/** Connection states (facts §3.1 names, without the 2014 numbering). */
export type SalState =
  | "REQUEST"
  | "RESPOND"
  | "CONNECTED"
  | "FINWAIT1"
  | "FINWAIT2"
  | "CLOSING"
  | "TIMEWAIT"
  | "CLOSEWAIT"
  | "LASTACK"
  | "CLOSED";

/** Migration sub-state (facts §3.1 `sal_state`). */
export type MigrationState = "NONE" | "RSYN_SENT" | "RSYN_RECV" | "RSYN_SENT_RECV";

/** A received CONTROL extension, as the host layer extracted it. */
export interface ControlIn {
  /** CONTROL flag byte. */
  readonly flags: number;
  /** Sender's verno. */
  readonly verno: number;
  /** Sender's ackno. */
  readonly ackno: number;
  /** Sender's nonce, 8 bytes (borrowed until the call returns). */
  readonly nonce: Uint8Array;
}

/** A control packet to send; the host layer encodes it. */
export interface ControlOut {
  /** CONTROL flag byte. */
  readonly flags: number;
  /** verno to put in the CONTROL extension. */
  readonly verno: number;
  /** ackno (our rcv_nxt). */
  readonly ackno: number;
  /** Carry the destination SERVICE extension (SYN, third ACK). */
  readonly service: boolean;
  /** Destination locator; `undefined` for a SYN, which is resolved by service each time it is sent. */
  readonly to: Locator | undefined;
  /** Source locator to send from; `undefined`: the flow's current one. */
  readonly from: Locator | undefined;
  /** Whether this is a retransmission. */
  readonly retransmit: boolean;
}

/** Why a flow ended. */
export type CloseReason = "normal" | "reset" | "refused" | "timeout" | "aborted" | "unreachable";

/** What a flow tells the host, the transport and the application. */
export type FlowEvent =
  | { readonly type: "connected" }
  | { readonly type: "peer-fin" }
  | { readonly type: "freeze" }
  | { readonly type: "resume" }
  | { readonly type: "migrated"; readonly local: Locator | undefined; readonly peer: Locator | undefined }
  | { readonly type: "closed"; readonly reason: CloseReason };

/** Why an incoming control packet was not acted upon. */
export type ControlDrop = "bad-nonce" | "bad-ack" | "old-verno" | "future-verno" | "bad-state";

/** Tunables of a flow; times in microseconds. */
export interface SalFlowOptions {
  /** RTO bounds (defaults 200 ms, 1 s initial, 120 s). */
  readonly rto?: RtoOptions;
  /** Retransmissions of one control packet before the flow fails (default 15, facts §3.4). */
  readonly maxRetries?: number;
  /**
   * Retransmissions of the SYN-ACK before a half-open flow gives up (default
   * 5, Linux's tcp_synack_retries: about a minute). A SYN-ACK nobody answers
   * (a spoofed SYN, or a SYN retransmission that went to another replica)
   * must not hold a request-queue slot for the 20 minutes of the general limit.
   */
  readonly maxSynAckRetries?: number;
  /** TIME-WAIT and FIN-WAIT-2 length (default 60 s, facts §3.4). */
  readonly timeWaitUs?: number;
}

interface Pending {
  readonly flags: number;
  readonly verno: number;
  sentAt: number;
  retransmitted: boolean;
}

function sameLocator(a: Locator, b: Locator): boolean {
  if (a.port !== b.port || a.address.length !== b.address.length) return false;
  for (let i = 0; i < a.address.length; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

function sameNonce(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== 8 || b.length !== 8) return false;
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One end of a flow's SAL control plane.
 *
 * @example A handshake between two ends, wired back to back
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const nA = new Uint8Array(8).fill(1), nB = new Uint8Array(8).fill(2);
 * const a = SalFlow.connect(0, { iss: 100, nonce: nA });
 * const syn = a.pollControl()!;
 * const b = SalFlow.accept(0, { iss: 900, nonce: nB, peerNonce: nA, synVerno: syn.verno,
 *   peer: { address: new Uint8Array([198, 18, 0, 1]), port: 0 } });
 * const synAck = b.pollControl()!;
 * a.handleControl(10, { ...synAck, nonce: nB }, undefined);
 * const ack = a.pollControl()!;
 * b.handleControl(20, { ...ack, nonce: nA }, undefined);
 * assertEquals([a.state, b.state], ["CONNECTED", "CONNECTED"]);
 * ```
 */
export class SalFlow {
  #state: SalState;
  #mig: MigrationState = "NONE";
  readonly #nonce: Uint8Array;
  #peerNonce: Uint8Array | undefined;
  #sndUna: number;
  #sndNxt: number;
  #rcvNxt = 0;
  readonly #rto: RtoEstimator;
  readonly #maxRetries: number;
  readonly #maxSynAckRetries: number;
  readonly #timeWait: number;
  readonly #queue: Pending[] = [];
  #inFlight = false;
  #retries = 0;
  #rtxAt = -1;
  #twAt = -1;
  #local: Locator | undefined;
  #peer: Locator | undefined;
  #migLocal: Locator | undefined;
  #migPeer: Locator | undefined;
  #rsynAckDue = false;
  #sentFin = false;
  #finVerno = 0;
  readonly #out: ControlOut[] = [];
  readonly #events: FlowEvent[] = [];

  private constructor(state: SalState, iss: number, nonce: Uint8Array, opts: SalFlowOptions) {
    if (nonce.length !== 8) throw new RangeError(`Cannot make flow: nonce has ${nonce.length} bytes, must be 8`);
    this.#state = state;
    this.#nonce = nonce.slice();
    this.#sndUna = iss >>> 0;
    this.#sndNxt = iss >>> 0;
    this.#rto = new RtoEstimator(opts.rto);
    this.#maxRetries = opts.maxRetries ?? 15;
    this.#maxSynAckRetries = Math.min(this.#maxRetries, opts.maxSynAckRetries ?? 5);
    this.#timeWait = opts.timeWaitUs ?? 60_000_000;
  }

  /**
   * The active side: state REQUEST, a SYN queued (facts §3.3).
   *
   * @param now Current time (µs).
   * @param init Initial send sequence number, the local nonce (both random,
   *   drawn by the caller from its RandomSource), and the local locator if known.
   * @returns The flow.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 7, nonce: new Uint8Array(8) });
   * assertEquals(f.pollControl()?.verno, 7);
   * ```
   */
  static connect(now: number, init: { iss: number; nonce: Uint8Array; local?: Locator; options?: SalFlowOptions }): SalFlow {
    const f = new SalFlow("REQUEST", init.iss, init.nonce, init.options ?? {});
    f.#local = init.local;
    f.#enqueue(now, SAL_SYN);
    return f;
  }

  /**
   * The passive side, created for an incoming SYN: state RESPOND, a SYN-ACK
   * queued and retransmitted until the third ACK arrives.
   *
   * @param now Current time (µs).
   * @param init Our ISS and nonce; the SYN's nonce and verno; the client's
   *   locator (first SOURCE address, else IP source) and ours.
   * @returns The flow.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.accept(0, { iss: 1, nonce: new Uint8Array(8), peerNonce: new Uint8Array(8), synVerno: 41,
   *   peer: { address: new Uint8Array(4), port: 0 } });
   * assertEquals(f.pollControl()?.ackno, 42);
   * ```
   */
  static accept(
    now: number,
    init: {
      iss: number;
      nonce: Uint8Array;
      peerNonce: Uint8Array;
      synVerno: number;
      peer: Locator;
      local?: Locator;
      options?: SalFlowOptions;
    },
  ): SalFlow {
    const f = new SalFlow("RESPOND", init.iss, init.nonce, init.options ?? {});
    f.#peerNonce = init.peerNonce.slice();
    f.#rcvNxt = seqAdd(init.synVerno, 1);
    f.#peer = init.peer;
    f.#local = init.local;
    f.#enqueue(now, SAL_SYN | SAL_ACK);
    return f;
  }

  /** Current state. */
  get state(): SalState {
    return this.#state;
  }

  /** Migration sub-state. */
  get migration(): MigrationState {
    return this.#mig;
  }

  /** Where the peer is (last SOURCE/IP source seen, or the migration target). */
  get peer(): Locator | undefined {
    return this.#peer;
  }

  /** Our current locator. */
  get local(): Locator | undefined {
    return this.#local;
  }

  /** Our nonce (a copy). */
  get nonce(): Uint8Array {
    return this.#nonce.slice();
  }

  /** The smoothed control RTT in µs (-1 before a sample). */
  get srttUs(): number {
    return this.#rto.srttUs;
  }

  /** Control packets queued or in flight. */
  get pendingControl(): number {
    return this.#queue.length + (this.#rsynAckDue ? 1 : 0);
  }

  /** Next sequence number to send, next expected, first unacknowledged. */
  get seq(): { readonly sndUna: number; readonly sndNxt: number; readonly rcvNxt: number } {
    return { sndUna: this.#sndUna, sndNxt: this.#sndNxt, rcvNxt: this.#rcvNxt };
  }

  /**
   * Processes a CONTROL extension addressed to this flow.
   *
   * @param now Current time (µs).
   * @param c The extension's fields (borrowed).
   * @param from The packet's source locator (IP source, or the SOURCE list's
   *   last address for a SYN-ACK), if the host knows it.
   * @returns `undefined` when the packet was accepted (even if only
   *   re-acknowledged), else why it was dropped.
   *
   * @example A forged FIN (wrong nonce) changes nothing
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.accept(0, { iss: 1, nonce: new Uint8Array(8), peerNonce: new Uint8Array(8).fill(5),
   *   synVerno: 9, peer: { address: new Uint8Array(4), port: 0 } });
   * assertEquals(f.handleControl(1, { flags: 0x04, verno: 10, ackno: 2, nonce: new Uint8Array(8) }, undefined), "bad-nonce");
   * assertEquals(f.state, "RESPOND");
   * ```
   */
  handleControl(now: number, c: ControlIn, from: Locator | undefined): ControlDrop | undefined {
    const st = this.#state;
    const flags = c.flags;
    if (st === "CLOSED") return "bad-state";

    if (st === "REQUEST") return this.#handleInRequest(now, c, from);

    // Every control packet after the SYN carries the peer's nonce (facts §2.6,
    // checked here for ACK, RST and RSYN-ACK as well).
    if (!sameNonce(c.nonce, this.#peerNonce!)) return "bad-nonce";

    if (flags & SAL_RST) {
      // Only an in-window reset counts (RFC 5961's strictness; facts §10.2). A
      // reset carries the sender's first unacknowledged verno, which we have
      // either received (rcv_nxt - 1) or not (rcv_nxt): one control packet is
      // in flight at a time.
      if (!seqBetween(seqAdd(this.#rcvNxt, -1), c.verno, this.#rcvNxt)) return "old-verno";
      this.#close(st === "CLOSEWAIT" || st === "LASTACK" || st === "TIMEWAIT" ? "normal" : "reset");
      return undefined;
    }

    // Acknowledgement of our control packets.
    if (flags & SAL_ACK) {
      if (!seqBetween(this.#sndUna, c.ackno, this.#sndNxt)) return "bad-ack";
      this.#ackUpTo(now, c.ackno);
      if (this.#state === "RESPOND" && this.#sndUna === this.#sndNxt) {
        // The SYN-ACK is acknowledged: by the third ACK, or by anything later if it was lost.
        this.#state = "CONNECTED";
        this.#events.push({ type: "connected" });
      }
      this.#afterAck(now);
    }

    // SYN, FIN and RSYN consume a verno; RSYN-ACK does not (facts §2.6).
    const rsynAck = (flags & (SAL_RSYN | SAL_ACK)) === (SAL_RSYN | SAL_ACK);
    const consumes = (flags & (SAL_SYN | SAL_FIN)) !== 0 || ((flags & SAL_RSYN) !== 0 && !rsynAck);
    if (!consumes) {
      // Pure ACK or RSYN-ACK: verno is the sender's snd_nxt and consumes nothing.
      if (rsynAck) this.#onRsynAck(now, from);
      else if (flags & SAL_ACK) this.#onPureAck(now, from);
      return undefined;
    }

    if (seqLt(c.verno, this.#rcvNxt)) {
      // A retransmission of something we already have: our answer was lost.
      this.#reAnswer(now, flags);
      return undefined;
    }
    if (c.verno !== this.#rcvNxt) return "future-verno";
    // TIME-WAIT re-acknowledges retransmitted FINs (above) and takes nothing new.
    if (st === "TIMEWAIT") return "bad-state";

    if (flags & SAL_SYN) {
      // A SYN (without ACK) after the handshake: the host routes fresh SYNs to
      // listeners, so this is a stale duplicate; answer like a retransmission.
      this.#reAnswer(now, flags);
      return undefined;
    }
    this.#rcvNxt = seqAdd(this.#rcvNxt, 1);
    if (flags & SAL_RSYN) this.#onRsyn(now, from);
    if (flags & SAL_FIN) this.#onFin(now);
    return undefined;
  }

  #handleInRequest(now: number, c: ControlIn, from: Locator | undefined): ControlDrop | undefined {
    const want = seqAdd(this.#sndUna, 1);
    if (c.flags & SAL_RST) {
      // No nonce is known yet: a reset must acknowledge our SYN exactly.
      if (!(c.flags & SAL_ACK) || c.ackno !== want) return "bad-ack";
      // RST+NACK: a service router had no rule for the service (no route);
      // a plain RST: the host we reached has no listener.
      this.#close(c.flags & SAL_NACK ? "unreachable" : "refused");
      return undefined;
    }
    if ((c.flags & (SAL_SYN | SAL_ACK)) !== (SAL_SYN | SAL_ACK)) return "bad-state";
    if (c.ackno !== want) return "bad-ack";
    this.#peerNonce = c.nonce.slice();
    this.#rcvNxt = seqAdd(c.verno, 1);
    if (from) this.#peer = from;
    this.#ackUpTo(now, c.ackno);
    this.#state = "CONNECTED";
    this.#events.push({ type: "connected" });
    this.#sendAck(true);
    return undefined;
  }

  #onPureAck(now: number, from: Locator | undefined): void {
    if (this.#mig !== "RSYN_RECV" && this.#mig !== "RSYN_SENT_RECV") return;
    // A stale ACK from the old locator does not confirm the move: the
    // confirmation comes from where the RSYN came from.
    if (from && this.#migPeer && !sameLocator(from, this.#migPeer)) return;
    // The mover confirmed our RSYN-ACK: adopt its new locator (facts §3.7 step 4).
    this.#peer = from ?? this.#migPeer;
    this.#migPeer = undefined;
    this.#rsynAckDue = false;
    this.#mig = this.#mig === "RSYN_RECV" ? "NONE" : "RSYN_SENT";
    this.#events.push({ type: "migrated", local: this.#local, peer: this.#peer });
    if (this.#mig === "NONE") this.#events.push({ type: "resume" });
    this.#rtxAt = -1;
    this.#armRtx(now);
  }

  #onRsynAck(now: number, from: Locator | undefined): void {
    if (this.#mig === "RSYN_SENT" || this.#mig === "RSYN_SENT_RECV") {
      // Our RSYN was acknowledged by #ackUpTo; the move is done on our side.
      if (!this.#queue.some((p) => p.flags & SAL_RSYN)) {
        this.#local = this.#migLocal ?? this.#local;
        this.#migLocal = undefined;
        this.#rto.reset();
        if (this.#mig === "RSYN_SENT_RECV") {
          this.#mig = "RSYN_RECV";
          if (from) this.#migPeer = from;
        } else {
          this.#mig = "NONE";
          if (from) this.#peer = from;
          this.#events.push({ type: "migrated", local: this.#local, peer: this.#peer });
          this.#events.push({ type: "resume" });
        }
      }
    }
    // Confirm (again, if this RSYN-ACK is a retransmission).
    this.#sendAck(false);
    void now;
  }

  #onRsyn(now: number, from: Locator | undefined): void {
    // The peer moves (facts §3.7 step 2): freeze, answer RSYN-ACK to its new locator.
    if (this.#mig === "NONE") {
      this.#mig = "RSYN_RECV";
      this.#events.push({ type: "freeze" });
    } else if (this.#mig === "RSYN_SENT") {
      this.#mig = "RSYN_SENT_RECV";
    }
    if (from) this.#migPeer = from;
    this.#rsynAckDue = true;
    this.#sendRsynAck(false);
    this.#armRtx(now);
  }

  #onFin(now: number): void {
    this.#events.push({ type: "peer-fin" });
    this.#sendAck(false);
    switch (this.#state) {
      case "RESPOND":
      case "CONNECTED":
        this.#state = "CLOSEWAIT";
        break;
      case "FINWAIT1":
        if (this.#ourFinAcked()) this.#enterTimeWait(now);
        else this.#state = "CLOSING";
        break;
      case "FINWAIT2":
        this.#enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  #afterAck(now: number): void {
    if (!this.#ourFinAcked()) return;
    switch (this.#state) {
      case "FINWAIT1":
        this.#state = "FINWAIT2";
        // FIN-WAIT-2 is bounded too (facts §3.4).
        this.#twAt = now + this.#timeWait;
        break;
      case "CLOSING":
        this.#enterTimeWait(now);
        break;
      case "LASTACK":
        this.#close("normal");
        break;
      default:
        break;
    }
  }

  #ourFinAcked(): boolean {
    // An RSYN queued behind the FIN does not hold the close back.
    return this.#sentFin && seqGt(this.#sndUna, this.#finVerno);
  }

  #enterTimeWait(now: number): void {
    this.#state = "TIMEWAIT";
    this.#twAt = now + this.#timeWait;
    // Both FINs are through: a move still pending (an RSYN queued behind our
    // FIN) is moot, and nothing more is retransmitted.
    this.#queue.length = 0;
    this.#inFlight = false;
    this.#rsynAckDue = false;
    this.#mig = "NONE";
    this.#rtxAt = -1;
  }

  #reAnswer(now: number, flags: number): void {
    if (flags & SAL_RSYN) {
      if (this.#mig === "RSYN_RECV" || this.#mig === "RSYN_SENT_RECV") this.#sendRsynAck(true);
      else this.#sendAck(false);
    } else if (flags & SAL_SYN) {
      if (flags & SAL_ACK) {
        // A duplicate SYN-ACK: our third ACK was lost (facts §3.3).
        this.#sendAck(true);
      } else if (this.#state === "RESPOND") {
        // A duplicate SYN: our SYN-ACK was lost; answer it now rather than at the RTO.
        this.#sendHead(now, true);
      } else {
        this.#sendAck(false);
      }
    } else {
      this.#sendAck(false);
    }
  }

  #ackUpTo(now: number, ackno: number): void {
    let progressed = false;
    while (this.#queue.length > 0 && seqLt(this.#queue[0]!.verno, ackno)) {
      const p = this.#queue.shift()!;
      // Karn: only packets sent once give an RTT sample.
      if (!p.retransmitted && this.#inFlight) this.#rto.sample(now - p.sentAt);
      this.#inFlight = false;
      progressed = true;
    }
    this.#sndUna = ackno;
    if (progressed) {
      this.#retries = 0;
      this.#rtxAt = -1;
      this.#sendHead(now, false);
      this.#armRtx(now);
    }
  }

  #enqueue(now: number, flags: number): void {
    this.#queue.push({ flags, verno: this.#sndNxt, sentAt: now, retransmitted: false });
    if (flags & SAL_FIN) {
      this.#sentFin = true;
      this.#finVerno = this.#sndNxt;
    }
    this.#sndNxt = seqAdd(this.#sndNxt, 1);
    if (!this.#inFlight) {
      this.#sendHead(now, false);
      this.#armRtx(now);
    }
  }

  #sendHead(now: number, retransmit: boolean): void {
    const p = this.#queue[0];
    if (!p) return;
    p.sentAt = now;
    if (retransmit) p.retransmitted = true;
    this.#inFlight = true;
    const isSyn = (p.flags & (SAL_SYN | SAL_ACK)) === SAL_SYN;
    const rsyn = (p.flags & SAL_RSYN) !== 0;
    this.#out.push({
      // ACK rides on everything but a SYN and an RSYN: RSYN+ACK means RSYN-ACK.
      flags: isSyn || rsyn ? p.flags : p.flags | SAL_ACK,
      verno: p.verno,
      ackno: this.#rcvNxt,
      service: isSyn,
      // A SYN is resolved by service on every (re)transmission (facts §3.3 step 2).
      to: isSyn ? undefined : this.#migPeer ?? this.#peer,
      from: rsyn ? this.#migLocal : undefined,
      retransmit,
    });
  }

  #sendAck(service: boolean): void {
    this.#out.push({
      flags: SAL_ACK,
      verno: this.#sndNxt,
      ackno: this.#rcvNxt,
      service,
      // While the peer moves, answer where it moves to: its old locator may be gone.
      to: this.#migPeer ?? this.#peer,
      from: undefined,
      retransmit: false,
    });
  }

  #sendRsynAck(retransmit: boolean): void {
    this.#out.push({
      flags: SAL_RSYN | SAL_ACK,
      verno: this.#sndNxt,
      ackno: this.#rcvNxt,
      service: false,
      to: this.#migPeer ?? this.#peer,
      from: this.#mig === "RSYN_SENT_RECV" ? this.#migLocal : undefined,
      retransmit,
    });
  }

  #armRtx(now: number): void {
    if ((this.#inFlight || this.#rsynAckDue) && this.#rtxAt < 0) {
      this.#rtxAt = now + this.#rto.backedOffUs(this.#retries);
    }
  }

  #close(reason: CloseReason): void {
    if (this.#state === "CLOSED") return;
    this.#state = "CLOSED";
    this.#queue.length = 0;
    this.#inFlight = false;
    this.#rsynAckDue = false;
    this.#rtxAt = -1;
    this.#twAt = -1;
    if (this.#mig !== "NONE") this.#mig = "NONE";
    this.#events.push({ type: "closed", reason });
  }

  /**
   * Starts a graceful close: a FIN is queued (after any pending control
   * packet). In REQUEST the flow just ends; after a FIN nothing more happens.
   * For a stream, call it when the transport's own FIN has been acknowledged
   * (facts §3.6).
   *
   * @param now Current time (µs).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8) });
   * f.close(1);
   * assertEquals(f.state, "CLOSED");
   * ```
   */
  close(now: number): void {
    switch (this.#state) {
      case "REQUEST":
        this.#close("normal");
        return;
      case "RESPOND":
      case "CONNECTED":
        this.#state = "FINWAIT1";
        this.#enqueue(now, SAL_FIN);
        return;
      case "CLOSEWAIT":
        this.#state = "LASTACK";
        this.#enqueue(now, SAL_FIN);
        return;
      default:
        return;
    }
  }

  /**
   * Aborts: sends a RST (not retransmitted) and ends the flow at once.
   *
   * @param _now Current time (µs).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.accept(0, { iss: 1, nonce: new Uint8Array(8), peerNonce: new Uint8Array(8), synVerno: 1,
   *   peer: { address: new Uint8Array(4), port: 0 } });
   * f.pollControl();
   * f.abort(1);
   * assertEquals(f.pollControl()?.flags, 0x28); // RST | ACK
   * assertEquals(f.state, "CLOSED");
   * ```
   */
  abort(_now: number): void {
    if (this.#state === "CLOSED") return;
    if (this.#state !== "REQUEST") {
      this.#out.push({
        flags: SAL_RST | SAL_ACK,
        verno: this.#sndUna,
        ackno: this.#rcvNxt,
        service: false,
        to: this.#peer,
        from: undefined,
        retransmit: false,
      });
    }
    this.#close("aborted");
  }

  /**
   * Ends the flow at once without sending anything, for a reason found
   * outside the flow (its SYN cannot be routed: `unreachable`).
   *
   * @param reason Why the flow ends.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8) });
   * f.fail("unreachable");
   * assertEquals(f.pollEvent(), { type: "closed", reason: "unreachable" });
   * ```
   */
  fail(reason: CloseReason): void {
    this.#close(reason);
  }

  /**
   * Moves this end of the flow to a new local locator (facts §3.7 step 1):
   * an RSYN is sent from it; the flowIDs do not change.
   *
   * @param now Current time (µs).
   * @param newLocal The locator to move to.
   * @returns `false` when the state does not allow a move (REQUEST, RESPOND,
   *   TIMEWAIT, CLOSED) or a move is already under way.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8) });
   * assertEquals(f.migrate(1, { address: new Uint8Array(4), port: 0 }), false);
   * ```
   */
  migrate(now: number, newLocal: Locator): boolean {
    const st = this.#state;
    if (st === "REQUEST" || st === "RESPOND" || st === "TIMEWAIT" || st === "CLOSED") return false;
    if (this.#mig === "RSYN_SENT" || this.#mig === "RSYN_SENT_RECV") return false;
    this.#migLocal = newLocal;
    if (this.#mig === "NONE") this.#events.push({ type: "freeze" });
    this.#mig = this.#mig === "RSYN_RECV" ? "RSYN_SENT_RECV" : "RSYN_SENT";
    this.#enqueue(now, SAL_RSYN);
    return true;
  }

  /**
   * The next control packet to send, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8) });
   * assertEquals(f.pollControl()?.service, true);
   * assertEquals(f.pollControl(), undefined);
   * ```
   */
  pollControl(): ControlOut | undefined {
    return this.#out.shift();
  }

  /**
   * The next event, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8) });
   * f.close(0);
   * assertEquals(f.pollEvent(), { type: "closed", reason: "normal" });
   * ```
   */
  pollEvent(): FlowEvent | undefined {
    return this.#events.shift();
  }

  /**
   * When {@linkcode SalFlow.handleTimeout} must next be called (µs), or
   * `undefined` when no timer is armed.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8) }).pollTimeout(), 1_000_000);
   * ```
   */
  pollTimeout(): number | undefined {
    const a = this.#rtxAt;
    const b = this.#twAt;
    if (a < 0 && b < 0) return undefined;
    if (a < 0) return b;
    if (b < 0) return a;
    return Math.min(a, b);
  }

  /**
   * Fires the timers that are due: control retransmission (ending the flow
   * with reason `timeout` after the retry limit) and TIME-WAIT/FIN-WAIT-2.
   *
   * @param now Current time (µs).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const f = SalFlow.connect(0, { iss: 1, nonce: new Uint8Array(8), options: { maxRetries: 0 } });
   * f.handleTimeout(f.pollTimeout()!);
   * assertEquals(f.state, "CLOSED");
   * ```
   */
  handleTimeout(now: number): void {
    if (this.#twAt >= 0 && now >= this.#twAt) {
      this.#twAt = -1;
      if (this.#state === "TIMEWAIT" || this.#state === "FINWAIT2") this.#close("normal");
      return;
    }
    if (this.#rtxAt >= 0 && now >= this.#rtxAt) {
      this.#rtxAt = -1;
      if (this.#retries >= (this.#state === "RESPOND" ? this.#maxSynAckRetries : this.#maxRetries)) {
        this.#close("timeout");
        return;
      }
      if (!this.#inFlight && !this.#rsynAckDue) return;
      this.#retries++;
      if (this.#inFlight) this.#sendHead(now, true);
      if (this.#rsynAckDue) this.#sendRsynAck(true);
      this.#armRtx(now);
    }
  }
}

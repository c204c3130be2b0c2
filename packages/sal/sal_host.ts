/**
 * A Serval node's Service Access Layer: the part between the datapath and
 * the transports. It demultiplexes packets by destination flowID (the flow
 * table) or, for the first packet of a connection, by serviceID (the service
 * table, facts §3.2); runs one {@linkcode SalFlow} per flow; keeps listeners
 * with bounded request and accept queues; encodes and decodes SAL packets;
 * and, on a service router, forwards SYNs by serviceID, recording itself in
 * the SOURCE (or LOCATORS) extension (facts §5).
 *
 * Sans-IO: {@linkcode SalHost.handlePacket} takes received packets,
 * {@linkcode SalHost.pollTransmit} gives packets to send,
 * {@linkcode SalHost.pollEvent} gives events, and the driver calls
 * {@linkcode SalHost.handleTimeout} at {@linkcode SalHost.pollTimeout}.
 *
 * **Allocation**: packets are encoded into fresh buffers (one per packet);
 * the driver owns them once polled. Resolution allocates per SYN, never per
 * data packet.
 *
 * @module
 */

import {
  BROADCAST_LOCATOR,
  checksumAdd,
  checksumBuffer,
  checksumFinish,
  CONTROL_ACKNO,
  CONTROL_FLAGS,
  CONTROL_NONCE,
  CONTROL_VERNO,
  emitSal,
  fillTcpChecksum,
  fillUdpChecksum,
  isBroadcastLocator,
  locatorKey,
  NONCE_LEN,
  parseSal,
  pseudoHeaderSum,
  readU16,
  readU32,
  SAL_ACK,
  SAL_HEADER_LEN,
  SAL_NACK,
  SAL_PROTO_TCP,
  SAL_PROTO_UDP,
  SAL_RST,
  SAL_SYN,
  SalIndex,
  SERVICE_ID_OFF,
  ServiceId,
  fillSalChecksum,
  SAL_DST_FLOWID,
  SAL_PROTOCOL,
  SAL_SRC_FLOWID,
  UDP_HEADER_LEN,
  writeSalHeaderLen,
  writeU16,
  writeU32,
} from "@serval/wire";
import type { DropReason, Locator, SalRepr, ServicePrefix } from "@serval/wire";
import { TimerHeap } from "./_timer_heap.ts";
import { FlowTable } from "./flow_table.ts";
import type { FlowTransport, HandshakeKind } from "./flow_transport.ts";
import { randomBytes, type RandomSource } from "./random_source.ts";
import { SalFlow } from "./sal_flow.ts";
import type { CloseReason, ControlDrop, ControlOut, SalFlowOptions } from "./sal_flow.ts";
import { ServiceTable } from "./service_table.ts";

/** A packet from the datapath. Borrowed until the call returns. */
export interface InboundPacket {
  /** Buffer holding the SAL packet. */
  readonly bytes: Uint8Array;
  /** Offset of the SAL header. */
  readonly off: number;
  /** Bytes of the SAL packet (header, transport part, payload). */
  readonly len: number;
  /** Network source (IP source, or IP:port on the UDP datapath). */
  readonly src: Locator;
  /** Network destination this packet was sent to. */
  readonly dst: Locator;
  /** It arrived as a broadcast (never forwarded, never answered with a reset). */
  readonly broadcast?: boolean;
}

/** A packet to send; the host gives up the buffer. */
export interface OutboundPacket {
  /** The SAL packet, from offset 0. */
  readonly bytes: Uint8Array;
  /** Source locator to send from (`undefined`: the datapath's choice). */
  readonly src: Locator | undefined;
  /** Destination locator. */
  readonly dst: Locator;
}

/** Why the host dropped a packet: a wire drop reason or a SAL one. */
export type HostDropReason =
  | DropReason
  | "unknown-flow"
  | "no-service"
  | "no-listener"
  | "protocol-mismatch"
  | "request-queue-full"
  | "accept-queue-full"
  | "bad-control"
  | ControlDrop
  | "bad-transport-checksum"
  | "service-drop"
  | "loop"
  | "broadcast-not-forwarded"
  | "not-a-router"
  | "bad-datagram";

/** What the host tells its driver, applications and controller. */
export type HostEvent =
  | { readonly type: "bind"; readonly listener: number; readonly prefix: ServicePrefix }
  | { readonly type: "unbind"; readonly listener: number; readonly prefix: ServicePrefix }
  | { readonly type: "incoming"; readonly listener: number }
  | { readonly type: "flow-up"; readonly flow: number }
  | { readonly type: "peer-fin"; readonly flow: number }
  | { readonly type: "migrated"; readonly flow: number; readonly local: Locator | undefined; readonly peer: Locator | undefined }
  | { readonly type: "flow-down"; readonly flow: number; readonly reason: CloseReason }
  | {
    readonly type: "datagram";
    readonly socket: number;
    /** The sender's serviceID (the second SERVICE extension). */
    readonly source: ServiceId;
    /** The sender's locator (first source-route entry, else the packet's source). */
    readonly from: Locator;
    readonly payload: Uint8Array;
  }
  | {
    /** A packet waits in a DELAY rule: the controller answers with {@linkcode SalHost.delayVerdict}. */
    readonly type: "resolve-request";
    readonly id: number;
    readonly prefix: ServicePrefix;
    readonly serviceId: Uint8Array;
  };

/** Options of a {@linkcode SalHost}. */
export interface SalHostOptions {
  /** Randomness: flowIDs, nonces, initial sequence numbers, load balancing. */
  readonly random: RandomSource;
  /** This node's locators; the first is the default source. */
  readonly locals: readonly Locator[];
  /** Forward SYNs by serviceID (a service router, facts §5). Default false. */
  readonly router?: boolean;
  /** A service table to use (default: a new one with the built-in plugins). */
  readonly serviceTable?: ServiceTable;
  /** Half-open flows per listener (default 500, facts §3.3). */
  readonly requestQueue?: number;
  /** Largest packet to encode (default 1500 - 20 bytes of IPv4). */
  readonly mtu?: number;
  /**
   * Bytes of a transmit arena (default 0: off). With an arena, data segments
   * are written straight into it — no buffer allocated per segment — and an
   * {@linkcode OutboundPacket}'s bytes are a view that stays valid only until
   * {@linkcode SalHost.pollTransmit} has returned `undefined` (the queue was
   * drained). For drivers that copy each packet out at once (a datapath
   * batch); not for callers that keep packets.
   */
  readonly transmitArena?: number;
  /** Tunables of every flow. */
  readonly flow?: SalFlowOptions;
}

/** Options of {@linkcode SalHost.listen}. */
export interface ListenOptions {
  /** The transport of accepted flows. */
  readonly transport: (flow: number) => FlowTransport;
  /** Accepted flows not yet taken by {@linkcode SalHost.accept} (default 128). */
  readonly backlog?: number;
}

interface Listener {
  readonly id: number;
  readonly prefix: ServicePrefix;
  /** The SAL protocol of its transports, learnt from the first one made. */
  protocol: number | undefined;
  readonly backlog: number;
  readonly transport: (flow: number) => FlowTransport;
  /** Half-open flows, oldest first. */
  readonly requests: number[];
  readonly ready: number[];
}

interface DatagramSocket {
  readonly id: number;
  /** Bound prefix (a DEMUX rule), if any. */
  readonly prefix: ServicePrefix | undefined;
  /** The source serviceID of what it sends. */
  readonly serviceId: ServiceId;
}

/** Where a packet held by a DELAY rule came from, to send it on when released. */
type DelayOrigin =
  | { readonly kind: "inbound"; readonly src: Locator; readonly dst: Locator; readonly broadcast: boolean; at?: number }
  | { readonly kind: "syn"; readonly flow: number; at?: number }
  | { readonly kind: "datagram"; readonly src: Locator; readonly protocol: number; at?: number };

/** DELAY origins older than this are forgotten (the rule's own timeout is shorter). */
const DELAY_ORIGIN_TTL = 120_000_000;

/** One live flow as {@linkcode SalHost.flows} lists it. */
export interface FlowInfo {
  /** Our flowID. */
  readonly id: number;
  /** Its SAL state (state, migration, peer and local locators, RTT). */
  readonly flow: SalFlow;
  /** Its transport (`undefined` while a server flow is half-open). */
  readonly transport: FlowTransport | undefined;
  /** SAL protocol: 6 (stream) or 17 (datagram). */
  readonly protocol: number;
  /** Destination serviceID (client) or the listener's prefix ID (server). */
  readonly serviceId: ServiceId;
  /** The peer's flowID (0 until known). */
  readonly peerFlowId: number;
  /** The listener of a server flow not yet accepted by the application. */
  readonly listener: number | undefined;
  /** Whether we connected (client) or a SYN made it (server). */
  readonly side: "client" | "server";
}

interface FlowRec {
  id: number;
  readonly flow: SalFlow;
  transport: FlowTransport;
  readonly protocol: number;
  /** Destination serviceID (client) or the listener's prefix ID (server). */
  readonly serviceId: ServiceId;
  peerFlowId: number;
  listener: number | undefined;
  /** Made for an incoming SYN (server side). */
  readonly accepted?: boolean;
  /** The SYN's source route, echoed in the SYN-ACK with our locator appended. */
  source: Locator[] | undefined;
  dupKey: string | undefined;
  up: boolean;
  frozen: boolean;
  closing: boolean;
  /** The deadline recorded in the host's timer heap, if any. */
  deadline?: number | undefined;
}

const DEFAULT_REQUEST_QUEUE = 500;

/** Placeholder until a flow's transport is made (it needs the flowID). */
const NO_TRANSPORT = undefined as unknown as FlowTransport;
const DEFAULT_BACKLOG = 128;

function sameLocator(a: Locator, b: Locator): boolean {
  return locatorKey(a) === locatorKey(b);
}

/**
 * The SAL of one node.
 *
 * @example Two hosts: one listens on a service, the other connects to it
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * import { EchoTransport, SalHost, SeededRandom } from "@serval/sal";
 * const a = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
 * const b = { address: new Uint8Array([198, 18, 0, 2]), port: 0 };
 * const client = new SalHost({ random: new SeededRandom(1), locals: [a] });
 * const server = new SalHost({ random: new SeededRandom(2), locals: [b] });
 * client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: b });
 * server.listen(ServicePrefix.parse("echo.example"), { transport: () => new EchoTransport("server") });
 * client.connect(0, ServiceId.parse("echo.example"), new EchoTransport("client"));
 * // Move packets between the two until both are quiet.
 * for (let i = 0; i < 10; i++) {
 *   for (let p = client.pollTransmit(); p; p = client.pollTransmit()) server.handlePacket(1, { bytes: p.bytes, off: 0, len: p.bytes.length, src: a, dst: b });
 *   for (let p = server.pollTransmit(); p; p = server.pollTransmit()) client.handlePacket(2, { bytes: p.bytes, off: 0, len: p.bytes.length, src: b, dst: a });
 * }
 * assertEquals(client.flowCount, 1);
 * assertEquals(server.flowCount, 1);
 * ```
 */
export class SalHost {
  /** The service table (rules, plugins, counters). */
  readonly serviceTable: ServiceTable;
  readonly #random: RandomSource;
  #locals: readonly Locator[];
  #batching = false;
  readonly #arena: Uint8Array;
  #arenaUsed = 0;
  readonly #dirty = new Set<FlowRec>();
  readonly #router: boolean;
  readonly #requestQueue: number;
  readonly #mtu: number;
  readonly #flowOpts: SalFlowOptions;
  readonly #flows: FlowTable<FlowRec>;
  readonly #listeners = new Map<number, Listener>();
  readonly #sockets = new Map<number, DatagramSocket>();
  readonly #delayOrigins = new Map<number, DelayOrigin>();
  readonly #dup = new Map<string, number>();
  #nextListener = 1;
  readonly #out: OutboundPacket[] = [];
  readonly #events: HostEvent[] = [];
  readonly #loopback: InboundPacket[] = [];
  #looped = 0;
  readonly #drops = new Map<string, number>();
  readonly #ix = new SalIndex();
  readonly #timers = new TimerHeap();
  readonly #scratch: Uint8Array;

  /**
   * @param opts Randomness, locators, role and limits.
   * @throws {RangeError} When no local locator is given.
   */
  constructor(opts: SalHostOptions) {
    if (opts.locals.length === 0) throw new RangeError("Cannot create SAL host: no local locator");
    this.#random = opts.random;
    this.#locals = opts.locals;
    this.#router = opts.router ?? false;
    this.#requestQueue = opts.requestQueue ?? DEFAULT_REQUEST_QUEUE;
    this.#mtu = opts.mtu ?? 1480;
    this.#scratch = new Uint8Array(this.#mtu);
    // In the SIMD checksum's memory: every data segment is checksummed where it is written.
    this.#arena = checksumBuffer(opts.transmitArena ?? 0);
    this.#flowOpts = opts.flow ?? {};
    this.serviceTable = opts.serviceTable ?? new ServiceTable({ random: opts.random });
    this.#flows = new FlowTable<FlowRec>({ random: opts.random });
  }

  /** Live flows (half-open, connected and closing). */
  get flowCount(): number {
    return this.#flows.size;
  }

  /** Packets dropped, by reason. */
  get drops(): ReadonlyMap<string, number> {
    return this.#drops;
  }

  /**
   * Packets delivered from this host to itself so far (flows between two
   * applications of this host). A runtime that calls into the host outside
   * its receive path (an application writing) runs again when this grew:
   * the other end has news that no packet will announce.
   */
  get looped(): number {
    return this.#looped;
  }

  /** This node's locators; the first is the source of new flows and of datagrams. */
  get locals(): readonly Locator[] {
    return this.#locals;
  }

  /**
   * Replaces this node's locators (an address came or went). Only what
   * starts from now on uses them: established flows keep their own local
   * locator until {@linkcode SalHost.migrate} moves them.
   *
   * @throws {RangeError} When `locals` is empty (a node always has a source).
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SalHost, SeededRandom } from "@serval/sal";
   * const a = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
   * const b = { address: new Uint8Array([198, 18, 0, 2]), port: 0 };
   * const h = new SalHost({ random: new SeededRandom(1), locals: [a] });
   * h.setLocals([b, a]);
   * assertEquals(h.locals[0], b);
   * ```
   */
  setLocals(locals: readonly Locator[]): void {
    if (locals.length === 0) throw new RangeError("Cannot set SAL host locators: none given (keep at least one)");
    this.#locals = [...locals];
  }

  /** The ids of live flows (half-open, connected and closing), in allocation order. */
  flowIds(): number[] {
    const ids: number[] = [];
    for (const [id] of this.#flows.entries()) ids.push(id);
    return ids;
  }

  /** The SAL state of a flow, or `undefined`. */
  flowState(flow: number): SalFlow | undefined {
    return this.#flows.get(flow)?.flow;
  }

  /** The transport of a flow, or `undefined`. */
  transport(flow: number): FlowTransport | undefined {
    return this.#flows.get(flow)?.transport;
  }

  /**
   * Every live flow, for listings (`serval flow ls`); allocates, so not for
   * the packet path.
   *
   * @returns An iterator over the live flows.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SalHost, SeededRandom } from "@serval/sal";
   * const h = new SalHost({ random: new SeededRandom(1), locals: [{ address: new Uint8Array([198, 18, 0, 1]), port: 0 }] });
   * assertEquals([...h.flows()].length, 0);
   * ```
   */
  *flows(): IterableIterator<FlowInfo> {
    for (const [id, r] of this.#flows.entries()) {
      yield {
        id,
        flow: r.flow,
        transport: r.transport as FlowTransport | undefined,
        protocol: r.protocol,
        serviceId: r.serviceId,
        peerFlowId: r.peerFlowId,
        listener: r.listener,
        side: r.accepted ? "server" : "client",
      };
    }
  }

  /**
   * Listens on a service prefix: installs a DEMUX rule (facts §3.3 passive
   * side) and emits a `bind` event for the controller.
   *
   * @param prefix The serviceID prefix to serve.
   * @param opts The transport factory of accepted flows; the backlog.
   * @returns The listener id.
   * @throws {RangeError} When the table refuses the rule (the prefix is already bound).
   */
  listen(prefix: ServicePrefix, opts: ListenOptions): number {
    const id = this.#nextListener++;
    this.serviceTable.addTarget(prefix, { type: "demux", listener: id });
    this.#listeners.set(id, {
      id,
      prefix,
      protocol: undefined,
      backlog: opts.backlog ?? DEFAULT_BACKLOG,
      transport: opts.transport,
      requests: [],
      ready: [],
    });
    this.#events.push({ type: "bind", listener: id, prefix });
    return id;
  }

  /**
   * Stops listening: removes the DEMUX rule, emits `unbind`, and resets the
   * flows still waiting in its queues (no flow stays bound to a vanished
   * listener without knowing it).
   *
   * @param now Current time (µs).
   * @param listener The listener id.
   * @returns `false` when there is no such listener.
   */
  unlisten(now: number, listener: number): boolean {
    const l = this.#listeners.get(listener);
    if (!l) return false;
    this.serviceTable.removeListener(listener);
    this.#listeners.delete(listener);
    this.#events.push({ type: "unbind", listener, prefix: l.prefix });
    for (const [, rec] of [...this.#flows.entries()]) {
      if (rec.listener === listener) {
        rec.flow.abort(now);
        this.#drain(now, rec);
      }
    }
    return true;
  }

  /**
   * Opens a socket for unconnected datagrams (facts §3.9). With a prefix it
   * is bound (a DEMUX rule, a `bind` event) and receives datagrams sent to
   * the prefix as `datagram` events; its source serviceID is the prefix's ID.
   * Without one it can only send, from a random serviceID (the 2012 "autobind").
   *
   * @param prefix The prefix to receive on, or `undefined`.
   * @returns The socket id.
   * @throws {RangeError} When the prefix is already bound.
   */
  openDatagram(prefix?: ServicePrefix): number {
    const id = this.#nextListener++;
    let serviceId: ServiceId;
    if (prefix) {
      this.serviceTable.addTarget(prefix, { type: "demux", listener: id });
      serviceId = prefix.id;
      this.#events.push({ type: "bind", listener: id, prefix });
    } else {
      serviceId = ServiceId.fromBytes(randomBytes(this.#random, new Uint8Array(32)));
    }
    this.#sockets.set(id, { id, prefix, serviceId });
    return id;
  }

  /**
   * Closes a datagram socket (removing its rule, with an `unbind` event).
   *
   * @returns `false` when there is no such socket.
   */
  closeDatagram(socket: number): boolean {
    const s = this.#sockets.get(socket);
    if (!s) return false;
    this.#sockets.delete(socket);
    if (s.prefix) {
      this.serviceTable.removeListener(socket);
      this.#events.push({ type: "unbind", listener: socket, prefix: s.prefix });
    }
    return true;
  }

  /**
   * Sends an unconnected datagram to a service: base header with two SERVICE
   * extensions (destination, source) and a UDP-layout header (facts §3.9),
   * resolved through the service table like a SYN, or sent straight to `to`
   * (the 2012 "advisory" address).
   *
   * @param now Current time (µs).
   * @param socket A socket from {@linkcode SalHost.openDatagram}.
   * @param service The destination serviceID.
   * @param payload The bytes (copied).
   * @param to Optional destination locator, bypassing the service table.
   * @returns `undefined` when sent (or held by a DELAY rule), else why not.
   * @throws {RangeError} On an unknown socket or a payload too large for one packet.
   */
  sendDatagram(
    now: number,
    socket: number,
    service: ServiceId,
    payload: Uint8Array,
    to?: Locator,
  ): "unreachable" | undefined {
    const s = this.#sockets.get(socket);
    if (!s) throw new RangeError(`Cannot send datagram: no socket ${socket}`);
    const hl = SAL_HEADER_LEN + 2 * 36;
    const max = this.#mtu - hl - UDP_HEADER_LEN;
    if (payload.length > max) {
      throw new RangeError(`Cannot send datagram: ${payload.length} bytes, at most ${max} fit in one packet`);
    }
    const bytes = new Uint8Array(hl + UDP_HEADER_LEN + payload.length);
    emitSal({ srcFlowId: 0, dstFlowId: 0, protocol: SAL_PROTO_UDP, services: [service, s.serviceId] }, bytes, 0);
    writeU16(bytes, hl + 4, UDP_HEADER_LEN + payload.length);
    bytes.set(payload, hl + UDP_HEADER_LEN);
    const src = this.#locals[0]!;
    const r = to ? this.#emitTo(bytes, hl, src, to) : this.#routeOut(now, bytes, hl, src, { kind: "datagram", src, protocol: SAL_PROTO_UDP }, 0);
    this.#settle(now);
    return r;
  }

  /**
   * Answers a `resolve-request`: release the held packet (it is resolved
   * again) or drop it. Dropping our own SYN fails its connect at once with
   * `unreachable` (the controller knows nobody serves it: retrying the SYN
   * would only ask again). Unknown ids are ignored.
   *
   * @returns `false` when the id is unknown.
   */
  delayVerdict(now: number, id: number, verdict: "release" | "drop"): boolean {
    const ok = this.serviceTable.delayVerdict(now, id, verdict);
    if (verdict === "drop") {
      const o = this.#delayOrigins.get(id);
      this.#delayOrigins.delete(id);
      const rec = ok && o?.kind === "syn" ? this.#flows.get(o.flow) : undefined;
      if (rec && rec.flow.state === "REQUEST") {
        rec.flow.fail("unreachable");
        this.#drain(now, rec);
      }
    }
    this.#settle(now);
    return ok;
  }

  /**
   * Takes the next established flow of a listener.
   *
   * @returns The flowID, or `undefined` when none is ready.
   */
  accept(listener: number): number | undefined {
    const l = this.#listeners.get(listener);
    const id = l?.ready.shift();
    if (id === undefined) return undefined;
    const rec = this.#flows.get(id);
    if (rec) rec.listener = undefined;
    return id;
  }

  /**
   * Opens a flow to a service: a SYN resolved through the service table
   * (facts §3.3 active side).
   *
   * @param now Current time (µs).
   * @param service The destination serviceID.
   * @param transport The flow's transport.
   * @returns The new flowID.
   */
  connect(now: number, service: ServiceId, transport: FlowTransport): number {
    const nonce = randomBytes(this.#random, new Uint8Array(NONCE_LEN));
    const flow = SalFlow.connect(now, {
      iss: this.#random.nextU32(),
      nonce,
      local: this.#locals[0]!,
      options: this.#flowOpts,
    });
    const rec: FlowRec = {
      id: 0,
      flow,
      transport,
      protocol: transport.protocol,
      serviceId: service,
      peerFlowId: 0,
      listener: undefined,
      source: undefined,
      dupKey: undefined,
      up: false,
      frozen: false,
      closing: false,
    };
    rec.id = this.#flows.allocate(now, rec);
    this.#drain(now, rec);
    this.#settle(now);
    return rec.id;
  }

  /**
   * Closes a flow gracefully: the transport finishes, then the SAL FIN goes.
   *
   * @returns `false` when there is no such flow.
   */
  close(now: number, flow: number): boolean {
    const rec = this.#flows.get(flow);
    if (!rec) return false;
    rec.closing = true;
    rec.transport.shutdown(now);
    this.#drain(now, rec);
    this.#settle(now);
    return true;
  }

  /**
   * Aborts a flow with a reset.
   *
   * @returns `false` when there is no such flow.
   */
  abort(now: number, flow: number): boolean {
    const rec = this.#flows.get(flow);
    if (!rec) return false;
    rec.flow.abort(now);
    this.#drain(now, rec);
    this.#settle(now);
    return true;
  }

  /**
   * Moves a flow to another local locator (RSYN exchange, facts §3.7).
   *
   * @returns `false` when the flow does not exist or cannot move now.
   */
  migrate(now: number, flow: number, local: Locator): boolean {
    const rec = this.#flows.get(flow);
    if (!rec || !rec.flow.migrate(now, local)) return false;
    this.#drain(now, rec);
    return true;
  }

  /**
   * Makes the transports of established flows send what they have (call
   * after writing to a transport).
   */
  flush(now: number, flow: number): void {
    const rec = this.#flows.get(flow);
    if (rec) this.#drain(now, rec);
    this.#settle(now);
  }

  /**
   * Processes one received packet. Never throws on its bytes: a bad packet
   * is dropped and counted by reason.
   *
   * @param now Current time (µs).
   * @param pkt The packet (borrowed until return).
   * @returns `undefined` when the packet was used, else the drop reason.
   */
  handlePacket(now: number, pkt: InboundPacket): HostDropReason | undefined {
    const r = this.#handle(now, pkt, 0);
    if (r !== undefined) this.#drop(r);
    this.#settle(now);
    return r;
  }

  /**
   * Starts a receive batch: until {@linkcode SalHost.endBatch}, data segments
   * are handed to their transports but the flows are drained (ACKs, data)
   * once, at the end — what a batch of packets from one datapath read
   * deserves (like GRO: one ACK per flow per batch). Control packets are
   * still handled at once.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SalHost, SeededRandom } from "@serval/sal";
   * const h = new SalHost({ random: new SeededRandom(1), locals: [{ address: new Uint8Array([198, 18, 0, 1]), port: 0 }] });
   * h.beginBatch();
   * h.endBatch(0);
   * assertEquals(h.pollTransmit(), undefined);
   * ```
   */
  beginBatch(): void {
    this.#batching = true;
  }

  /** Ends a receive batch: drains every flow that got data in it. */
  endBatch(now: number): void {
    this.#batching = false;
    for (const rec of this.#dirty) if (this.#flows.get(rec.id) === rec) this.#drain(now, rec);
    this.#dirty.clear();
    this.#settle(now);
  }

  /** The next packet to send, or `undefined` (then the transmit arena, if any, is reused). */
  pollTransmit(): OutboundPacket | undefined {
    const p = this.#out.shift();
    if (p === undefined) this.#arenaUsed = 0;
    return p;
  }

  /** The next event, or `undefined`. */
  pollEvent(): HostEvent | undefined {
    return this.#events.shift();
  }

  /**
   * When {@linkcode SalHost.handleTimeout} must next be called (µs), or
   * `undefined`.
   *
   * **Performance**: O(log n) amortized: flows' deadlines live in a heap
   * (a scan of every flow made the simulator quadratic with thousands of
   * flows in TIME-WAIT).
   */
  pollTimeout(): number | undefined {
    // Loopback packets left over by a bounded #settle: due now.
    if (this.#loopback.length > 0) return 0;
    const t = Math.min(this.serviceTable.pollTimeout() ?? Infinity, this.#nextFlowDeadline());
    return t === Infinity ? undefined : t;
  }

  /** Fires every timer that is due. */
  handleTimeout(now: number): void {
    while (this.#nextFlowDeadline() <= now) {
      const rec = this.#flows.get(this.#timers.peekKey()!)!;
      this.#timers.pop();
      rec.deadline = undefined;
      if ((rec.flow.pollTimeout() ?? Infinity) <= now) rec.flow.handleTimeout(now);
      if ((rec.transport.pollTimeout() ?? Infinity) <= now) rec.transport.handleTimeout(now);
      this.#drain(now, rec);
    }
    if ((this.serviceTable.pollTimeout() ?? Infinity) <= now) this.serviceTable.handleTimeout(now);
    this.#settle(now);
  }

  /** The earliest live flow deadline, dropping stale heap entries on the way. */
  #nextFlowDeadline(): number {
    const h = this.#timers;
    while (h.size > 0) {
      const rec = this.#flows.get(h.peekKey()!);
      if (rec && rec.deadline === h.peekAt()) return h.peekAt();
      h.pop();
    }
    return Infinity;
  }

  /** Records a flow's next deadline after anything touched it. */
  #reschedule(rec: FlowRec): void {
    const a = rec.flow.pollTimeout() ?? Infinity;
    const b = rec.transport.pollTimeout() ?? Infinity;
    const d = Math.min(a, b);
    const next = d === Infinity ? undefined : d;
    if (next === rec.deadline) return;
    rec.deadline = next;
    if (next !== undefined) this.#timers.push(next, rec.id);
  }

  // --- receive ---------------------------------------------------------------

  #handle(now: number, pkt: InboundPacket, delayed: number): HostDropReason | undefined {
    const ix = this.#ix;
    const b = pkt.bytes;
    const off = pkt.off;
    const bad = ix.scan(b, off, pkt.len);
    if (bad !== undefined) return bad;
    if (ix.dstFlowId !== 0) {
      const rec = this.#flows.get(ix.dstFlowId);
      if (!rec) return "unknown-flow";
      return this.#toFlow(now, rec, pkt);
    }
    const ctl = ix.controlOff;
    const flags = ctl >= 0 ? b[ctl + CONTROL_FLAGS]! : 0;
    if (ix.serviceOff < 0) return "no-service";
    if (ctl >= 0 && (flags & (SAL_SYN | SAL_ACK | SAL_RST)) !== SAL_SYN) return "bad-control";
    // Without a CONTROL extension: an unconnected datagram, which names its
    // destination and source services (facts §3.9).
    const datagram = ctl < 0;
    if (datagram && (ix.service2Off < 0 || ix.protocol !== SAL_PROTO_UDP)) return "bad-datagram";
    const verdict = this.serviceTable.resolve(
      now,
      b,
      ix.serviceOff + SERVICE_ID_OFF,
      { flowKey: ix.srcFlowId, packetLen: pkt.len, packet: b.subarray(off, off + pkt.len), delayed },
      this.#router ? "any" : "local",
    );
    switch (verdict.kind) {
      case "demux":
        return datagram
          ? this.#datagramToSocket(pkt, verdict.target.listener!)
          : this.#synToListener(now, pkt, verdict.target.listener!);
      case "forward":
        return this.#forward(pkt, verdict.target.locator!);
      case "delay":
        this.#delayed(now, verdict.id, { kind: "inbound", src: pkt.src, dst: pkt.dst, broadcast: pkt.broadcast ?? false });
        return undefined;
      case "drop":
        return "service-drop";
      case "no-match":
        if (!pkt.broadcast && !datagram) this.#resetSyn(pkt);
        return "no-listener";
    }
  }

  #datagramToSocket(pkt: InboundPacket, id: number): HostDropReason | undefined {
    const ix = this.#ix;
    const sock = this.#sockets.get(id);
    if (!sock) return this.#listeners.has(id) ? "protocol-mismatch" : "no-listener";
    const b = pkt.bytes;
    const tOff = pkt.off + ix.headerLen;
    const tLen = pkt.len - ix.headerLen;
    if (tLen < UDP_HEADER_LEN || readU16(b, tOff + 4) !== tLen) return "bad-length";
    const from = this.#origin(pkt);
    if (!this.#transportChecksumOk(SAL_PROTO_UDP, b, tOff, tLen, from, pkt.dst)) return "bad-transport-checksum";
    this.#events.push({
      type: "datagram",
      socket: id,
      source: ServiceId.fromBytes(b, ix.service2Off + SERVICE_ID_OFF),
      from,
      payload: b.slice(tOff + UDP_HEADER_LEN, tOff + tLen),
    });
    return undefined;
  }

  /**
   * Hands a packet to its flow. `sender` is the address the transport
   * checksum covers: the packet's source, except for a forwarded SYN, whose
   * checksum covers the client (the first entry of its source route).
   */
  #toFlow(now: number, rec: FlowRec, pkt: InboundPacket, sender = pkt.src): HostDropReason | undefined {
    const ix = this.#ix;
    const b = pkt.bytes;
    const off = pkt.off;
    if (ix.protocol !== rec.protocol) return "protocol-mismatch";
    const tOff = off + ix.headerLen;
    const tLen = pkt.len - ix.headerLen;
    if (tLen > 0 && !this.#transportChecksumOk(rec.protocol, b, tOff, tLen, sender, pkt.dst)) {
      return "bad-transport-checksum";
    }
    const c = ix.controlOff;
    if (c >= 0) {
      const flags = b[c + CONTROL_FLAGS]!;
      const wasRequest = rec.flow.state === "REQUEST";
      // The SYN-ACK names the instance as the last entry of the source route (facts §5.3).
      const from = wasRequest && flags & SAL_SYN ? this.#lastSource(pkt) ?? pkt.src : pkt.src;
      const d = rec.flow.handleControl(
        now,
        {
          flags,
          verno: readU32(b, c + CONTROL_VERNO),
          ackno: readU32(b, c + CONTROL_ACKNO),
          nonce: b.subarray(c + CONTROL_NONCE, c + CONTROL_NONCE + NONCE_LEN),
        },
        from,
      );
      if (d !== undefined) {
        this.#drain(now, rec);
        return d;
      }
      if (wasRequest && rec.flow.state !== "REQUEST") rec.peerFlowId = ix.srcFlowId;
      if (tLen > 0 && flags & (SAL_SYN | SAL_ACK)) {
        const kind: HandshakeKind = flags & SAL_SYN ? (flags & SAL_ACK ? "syn-ack" : "syn") : "ack";
        if (kind !== "ack" || ix.serviceOff >= 0) rec.transport.handleHandshake(now, kind, b, tOff, tLen);
        else rec.transport.handleSegment(now, b, tOff, tLen);
      }
    } else if (tLen > 0) {
      rec.transport.handleSegment(now, b, tOff, tLen);
      if (this.#batching) {
        // Answer once for the whole batch (one cumulative ACK, not one per two segments).
        this.#dirty.add(rec);
        return undefined;
      }
    }
    this.#drain(now, rec);
    return undefined;
  }

  #synToListener(now: number, pkt: InboundPacket, listenerId: number): HostDropReason | undefined {
    const ix = this.#ix;
    const b = pkt.bytes;
    const off = pkt.off;
    const l = this.#listeners.get(listenerId);
    if (!l) return "no-listener";
    if (l.protocol !== undefined && l.protocol !== ix.protocol) return "protocol-mismatch";
    const client = this.#origin(pkt);
    const c = ix.controlOff;
    const dupKey = `${ix.srcFlowId}/${locatorKey(client)}`;
    const existing = this.#dup.get(dupKey);
    if (existing !== undefined) {
      const rec = this.#flows.get(existing);
      if (!rec) return "unknown-flow";
      return this.#toFlow(now, rec, pkt, client);
    }
    // Bounded queues: a SYN flood cannot grow memory without bound. A full
    // request queue gives up its oldest half-open flow, so that a flood of
    // SYNs that never complete cannot lock out a client that does (a real
    // client completes within one round trip).
    if (l.ready.length >= l.backlog) return "accept-queue-full";
    if (l.requests.length >= this.#requestQueue) {
      const oldest = this.#flows.get(l.requests[0]!);
      if (!oldest) return "request-queue-full";
      // A reset, not silence: the client may already have our SYN-ACK.
      oldest.flow.abort(now);
      this.#drain(now, oldest);
      this.#drop("request-evicted");
    }
    const tOff = off + ix.headerLen;
    const tLen = pkt.len - ix.headerLen;
    if (tLen > 0 && !this.#transportChecksumOk(ix.protocol, b, tOff, tLen, client, pkt.dst)) {
      return "bad-transport-checksum";
    }
    const flow = SalFlow.accept(now, {
      iss: this.#random.nextU32(),
      nonce: randomBytes(this.#random, new Uint8Array(NONCE_LEN)),
      peerNonce: b.subarray(c + CONTROL_NONCE, c + CONTROL_NONCE + NONCE_LEN),
      synVerno: readU32(b, c + CONTROL_VERNO),
      peer: client,
      local: pkt.broadcast ? this.#locals[0]! : pkt.dst,
      options: this.#flowOpts,
    });
    const source = this.#sourceList(pkt);
    const rec: FlowRec = {
      id: 0,
      flow,
      transport: NO_TRANSPORT,
      protocol: ix.protocol,
      serviceId: ServiceId.fromBytes(b, ix.serviceOff + SERVICE_ID_OFF),
      peerFlowId: ix.srcFlowId,
      listener: l.id,
      accepted: true,
      source,
      dupKey,
      up: false,
      frozen: false,
      closing: false,
    };
    rec.id = this.#flows.allocate(now, rec);
    rec.transport = l.transport(rec.id);
    l.protocol ??= rec.transport.protocol;
    if (rec.transport.protocol !== ix.protocol) {
      rec.transport.closed(now, "protocol-mismatch");
      this.#flows.release(rec.id, now);
      return "protocol-mismatch";
    }
    this.#dup.set(dupKey, rec.id);
    l.requests.push(rec.id);
    if (tLen > 0) rec.transport.handleHandshake(now, "syn", b, tOff, tLen);
    this.#drain(now, rec);
    return undefined;
  }

  /** The client's locator: the first source-route entry, else the packet's source. */
  #origin(pkt: InboundPacket): Locator {
    const list = this.#sourceList(pkt);
    return list?.[0] ?? pkt.src;
  }

  #lastSource(pkt: InboundPacket): Locator | undefined {
    const list = this.#sourceList(pkt);
    return list?.[list.length - 1];
  }

  #sourceList(pkt: InboundPacket): Locator[] | undefined {
    const ix = this.#ix;
    if (ix.sourceOff < 0 && ix.locatorsOff < 0) return undefined;
    const r = parseSal(pkt.bytes, pkt.off, pkt.len);
    if (typeof r === "string") return undefined;
    if (r.source) return r.source.map((address) => ({ address, port: 0 }));
    return r.locators ? [...r.locators] : undefined;
  }

  #transportChecksumOk(
    protocol: number,
    b: Uint8Array,
    off: number,
    len: number,
    src: Locator,
    dst: Locator,
  ): boolean {
    if (src.address.length !== dst.address.length) return false;
    // UDP over IPv4 may carry no checksum (0).
    if (protocol === SAL_PROTO_UDP && len >= 8 && src.address.length === 4 && readU16(b, off + 6) === 0) return true;
    const sum = pseudoHeaderSum(src.address, dst.address, protocol, len, 0);
    if (checksumFinish(checksumAdd(b, off, len, sum)) === 0) return true;
    // A packet sent by broadcast is checksummed with the limited broadcast
    // address as destination, whatever IP destination the link used (subnet
    // broadcast on the packet datapath). A datapath that cannot tell a
    // broadcast (UDP sockets do not report the destination) hands us our own
    // address instead: try the broadcast convention before refusing.
    if (src.address.length !== 4 || isBroadcastLocator(dst)) return false;
    const bsum = pseudoHeaderSum(src.address, BROADCAST_LOCATOR.address, protocol, len, 0);
    return checksumFinish(checksumAdd(b, off, len, bsum)) === 0;
  }

  // --- router ----------------------------------------------------------------

  #forward(pkt: InboundPacket, target: Locator): HostDropReason | undefined {
    if (!this.#router) return "not-a-router";
    // Packets received by broadcast are never forwarded (facts §5.2: loop avoidance).
    if (pkt.broadcast) return "broadcast-not-forwarded";
    const r = parseSal(pkt.bytes, pkt.off, pkt.len);
    if (typeof r === "string") return r;
    const list: Locator[] = r.source
      ? r.source.map((address) => ({ address, port: 0 }))
      : r.locators
      ? [...r.locators]
      : [pkt.src];
    const self = pkt.dst;
    if (list.some((l) => sameLocator(l, self))) return "loop";
    list.push(self);
    const repr = withSourceRoute(r, list);
    const hl = this.#ix.headerLen;
    const tLen = pkt.len - hl;
    const out = new Uint8Array(1100 + tLen);
    const nhl = emitSal(repr, out, 0);
    out.set(pkt.bytes.subarray(pkt.off + hl, pkt.off + pkt.len), nhl);
    // The destination changed: the transport checksum covers it (facts §2.5).
    if (tLen > 0) fillTransportChecksum(r.protocol, out, nhl, tLen, list[0]!, target);
    this.#out.push({ bytes: out.subarray(0, nhl + tLen), src: pkt.src, dst: target });
    return undefined;
  }

  #resetSyn(pkt: InboundPacket): void {
    // A SYN nobody serves: refuse it. The client has no nonce of ours yet and
    // accepts a reset that acknowledges its SYN exactly (sal_flow.ts). A
    // router adds NACK (defined by the 2014 format, never sent there): it
    // has no rule for the service at all, so the client can tell "no route
    // to the service" from "nobody listens on this host".
    const ix = this.#ix;
    const b = pkt.bytes;
    const c = ix.controlOff;
    const out = new Uint8Array(SAL_HEADER_LEN + 20);
    const n = emitSal(
      {
        srcFlowId: 0,
        dstFlowId: ix.srcFlowId,
        protocol: ix.protocol,
        control: {
          flags: SAL_RST | SAL_ACK | (this.#router ? SAL_NACK : 0),
          verno: 0,
          ackno: (readU32(b, c + CONTROL_VERNO) + 1) >>> 0,
          nonce: new Uint8Array(NONCE_LEN),
        },
        services: [],
      },
      out,
      0,
    );
    this.#out.push({ bytes: out.subarray(0, n), src: pkt.dst, dst: this.#origin(pkt) });
  }

  // --- send ------------------------------------------------------------------

  #drain(now: number, rec: FlowRec): void {
    this.#drainFlow(now, rec);
    if (this.#flows.get(rec.id) === rec) this.#reschedule(rec);
  }

  #drainFlow(now: number, rec: FlowRec): void {
    const f = rec.flow;
    for (let c = f.pollControl(); c; c = f.pollControl()) this.#sendControl(now, rec, c);
    for (let e = f.pollEvent(); e; e = f.pollEvent()) {
      switch (e.type) {
        case "connected": {
          rec.up = true;
          rec.transport.connected(now);
          // The duplicate-SYN key stays until the flow ends: a late copy of
          // the SYN must reach this flow, not open an orphan one.
          const l = rec.listener !== undefined ? this.#listeners.get(rec.listener) : undefined;
          if (l) {
            removeItem(l.requests, rec.id);
            l.ready.push(rec.id);
            this.#events.push({ type: "incoming", listener: l.id });
          }
          this.#events.push({ type: "flow-up", flow: rec.id });
          break;
        }
        case "peer-fin":
          rec.transport.peerClosed(now);
          this.#events.push({ type: "peer-fin", flow: rec.id });
          break;
        case "freeze":
          rec.frozen = true;
          rec.transport.freeze(now);
          break;
        case "resume":
          rec.frozen = false;
          rec.transport.resume(now);
          break;
        case "migrated":
          this.#events.push({ type: "migrated", flow: rec.id, local: e.local, peer: e.peer });
          break;
        case "closed":
          this.#closed(now, rec, e.reason);
          return;
      }
    }
    if (!rec.up || rec.frozen) return;
    if (rec.transport.failed) {
      f.abort(now);
      this.#drainFlow(now, rec);
      return;
    }
    const st = f.state;
    if (st === "CONNECTED" || st === "CLOSEWAIT" || st === "FINWAIT1" || st === "FINWAIT2" || st === "CLOSING") {
      this.#sendData(now, rec);
    }
    if (rec.closing && rec.transport.finished && (st === "CONNECTED" || st === "CLOSEWAIT")) {
      f.close(now);
      this.#drain(now, rec);
    }
  }

  #closed(now: number, rec: FlowRec, reason: CloseReason): void {
    rec.transport.closed(now, reason);
    if (rec.dupKey) this.#dup.delete(rec.dupKey);
    const l = rec.listener !== undefined ? this.#listeners.get(rec.listener) : undefined;
    if (l) {
      removeItem(l.requests, rec.id);
      removeItem(l.ready, rec.id);
    }
    this.#flows.release(rec.id, now);
    this.#events.push({ type: "flow-down", flow: rec.id, reason });
  }

  #sendData(now: number, rec: FlowRec): void {
    const scratch = this.#scratch;
    const arena = this.#arena;
    for (;;) {
      // With room in the transmit arena the transport writes the segment in
      // place (no allocation, no copy); else into a scratch buffer, and only
      // a real segment gets a packet of its own (bench/sal.bench.ts: a fresh
      // MTU buffer and a header per poll cost about half of a send).
      const at = this.#arenaUsed;
      if (at + this.#mtu <= arena.length) {
        const t = rec.transport.pollSegment(now, arena, at + SAL_HEADER_LEN, this.#mtu - SAL_HEADER_LEN);
        if (t === 0) return;
        const bytes = arena.subarray(at, at + SAL_HEADER_LEN + t);
        this.#arenaUsed = (at + SAL_HEADER_LEN + t + 7) & ~7;
        this.#finishData(rec, bytes, t);
        continue;
      }
      const t = rec.transport.pollSegment(now, scratch, SAL_HEADER_LEN, this.#mtu - SAL_HEADER_LEN);
      if (t === 0) return;
      const bytes = new Uint8Array(SAL_HEADER_LEN + t);
      bytes.set(scratch.subarray(SAL_HEADER_LEN, SAL_HEADER_LEN + t), SAL_HEADER_LEN);
      this.#finishData(rec, bytes, t);
    }
  }

  /** Writes the SAL header of a data packet whose transport part is in place, checksums it, queues it. */
  #finishData(rec: FlowRec, bytes: Uint8Array, t: number): void {
    const f = rec.flow;
    writeU32(bytes, SAL_SRC_FLOWID, rec.id);
    writeU32(bytes, SAL_DST_FLOWID, rec.peerFlowId);
    writeSalHeaderLen(bytes, 0, SAL_HEADER_LEN);
    bytes[SAL_PROTOCOL] = rec.protocol;
    fillSalChecksum(bytes, 0);
    const src = f.local ?? this.#locals[0]!;
    const dst = f.peer!;
    fillTransportChecksum(rec.protocol, bytes, SAL_HEADER_LEN, t, src, dst);
    this.#send(bytes, src, dst);
  }

  #sendControl(now: number, rec: FlowRec, c: ControlOut): void {
    const buf = new Uint8Array(this.#mtu);
    const synAck = (c.flags & (SAL_SYN | SAL_ACK)) === (SAL_SYN | SAL_ACK);
    const syn = (c.flags & (SAL_SYN | SAL_ACK)) === SAL_SYN;
    const src = c.from ?? rec.flow.local ?? this.#locals[0]!;
    let repr: SalRepr = {
      srcFlowId: rec.id,
      dstFlowId: syn ? 0 : rec.peerFlowId,
      protocol: rec.protocol,
      control: { flags: c.flags, verno: c.verno, ackno: c.ackno, nonce: rec.flow.nonce },
      services: c.service ? [rec.serviceId] : [],
    };
    if (synAck && rec.source) repr = withSourceRoute(repr, [...rec.source, src]);
    const n = emitSal(repr, buf, 0);
    const kind: HandshakeKind | undefined = syn ? "syn" : synAck ? "syn-ack" : c.service ? "ack" : undefined;
    const t = kind ? rec.transport.writeHandshake(now, kind, buf, n, this.#mtu - n) : 0;
    const bytes = buf.subarray(0, n + t);
    if (c.to) {
      if (t > 0) fillTransportChecksum(rec.protocol, bytes, n, t, src, c.to);
      this.#send(bytes, src, c.to);
      return;
    }
    if (this.#routeOut(now, bytes, n, src, { kind: "syn", flow: rec.id }, 0) !== undefined) rec.flow.fail("unreachable");
  }

  #emitTo(bytes: Uint8Array, hl: number, src: Locator, dst: Locator): undefined {
    if (bytes.length > hl) fillTransportChecksum(readSalProtocolOf(bytes), bytes, hl, bytes.length - hl, src, dst);
    this.#send(bytes, src, dst);
    return undefined;
  }

  /**
   * Queues a packet of ours. One addressed to one of our own locators (a
   * flow between two applications of this host) is delivered here: a
   * datapath drops what it receives from itself (looped-back broadcasts).
   * Copied, as it may wait in the loopback queue past the arena's reuse.
   */
  #send(bytes: Uint8Array, src: Locator, dst: Locator): void {
    if (this.#isLocal(dst)) this.#loopback.push({ bytes: bytes.slice(), off: 0, len: bytes.length, src, dst });
    else this.#out.push({ bytes, src, dst });
  }

  #isLocal(l: Locator): boolean {
    for (const x of this.#locals) {
      if (x.port !== l.port || x.address.length !== l.address.length) continue;
      let i = 0;
      while (i < x.address.length && x.address[i] === l.address[i]) i++;
      if (i === x.address.length) return true;
    }
    return false;
  }

  /**
   * Sends a packet of ours that is addressed by service (a SYN on every
   * transmission, facts §3.3; an unconnected datagram) where the service
   * table says. Returns "unreachable" when no rule takes it.
   */
  #routeOut(
    now: number,
    bytes: Uint8Array,
    hl: number,
    src: Locator,
    origin: DelayOrigin,
    delayed: number,
  ): "unreachable" | undefined {
    const v = this.serviceTable.resolve(
      now,
      bytes,
      SAL_HEADER_LEN + (readSalHasControl(bytes) ? 20 : 0) + SERVICE_ID_OFF,
      { flowKey: readU32(bytes, 0), packetLen: bytes.length, packet: bytes, delayed },
      "any",
    );
    switch (v.kind) {
      case "forward":
        return this.#emitTo(bytes, hl, src, v.target.locator!);
      case "demux":
        // A service of this very host: deliver through the loopback queue.
        if (bytes.length > hl) fillTransportChecksum(readSalProtocolOf(bytes), bytes, hl, bytes.length - hl, src, src);
        this.#loopback.push({ bytes, off: 0, len: bytes.length, src, dst: src });
        return undefined;
      case "delay":
        this.#delayed(now, v.id, origin);
        return undefined;
      case "drop":
      case "no-match":
        return "unreachable";
    }
  }

  #delayed(now: number, id: number, origin: DelayOrigin): void {
    // Forget origins whose packets the rule has long dropped (bounded memory).
    for (const [k, o] of this.#delayOrigins) {
      if (o.at! > now - DELAY_ORIGIN_TTL) break;
      this.#delayOrigins.delete(k);
    }
    origin.at = now;
    this.#delayOrigins.set(id, origin);
  }

  #runReleased(now: number): void {
    for (let e = this.serviceTable.pollEvent(); e; e = this.serviceTable.pollEvent()) {
      this.#events.push({ type: "resolve-request", id: e.id, prefix: e.prefix, serviceId: e.serviceId });
    }
    for (let r = this.serviceTable.pollReleased(); r; r = this.serviceTable.pollReleased()) {
      const o = this.#delayOrigins.get(r.id);
      this.#delayOrigins.delete(r.id);
      if (!o || r.packet.length < SAL_HEADER_LEN) continue;
      const hl = r.packet[8]! << 2;
      if (o.kind === "inbound") {
        const res = this.#handle(now, { bytes: r.packet, off: 0, len: r.packet.length, src: o.src, dst: o.dst, broadcast: o.broadcast }, r.delayed);
        if (res !== undefined) this.#drop(res);
      } else if (o.kind === "syn") {
        const rec = this.#flows.get(o.flow);
        // Only a SYN still waiting for its flow is worth sending.
        if (rec && rec.flow.state === "REQUEST") {
          const src = rec.flow.local ?? this.#locals[0]!;
          if (this.#routeOut(now, r.packet, hl, src, o, r.delayed) !== undefined) {
            rec.flow.fail("unreachable");
            this.#drain(now, rec);
          }
        }
      } else {
        this.#routeOut(now, r.packet, hl, o.src, o, r.delayed);
      }
    }
  }

  /** After any input: surface DELAY events, send released packets, deliver loopback packets. */
  #settle(now: number): void {
    for (let round = 0; round < 8; round++) {
      this.#runReleased(now);
      if (this.#loopback.length === 0) return;
      this.#runLoopback(now);
    }
  }

  #runLoopback(now: number): void {
    for (let i = 0; i < 64 && this.#loopback.length > 0; i++) {
      const p = this.#loopback.shift()!;
      this.#looped++;
      const r = this.#handle(now, p, 0);
      if (r !== undefined) this.#drop(r);
    }
  }

  #drop(reason: string): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + 1);
  }
}

function readSalProtocolOf(b: Uint8Array): number {
  return b[9]!;
}

/** Whether the SAL header in `b` (from 0) starts with a CONTROL extension, as ours always do. */
function readSalHasControl(b: Uint8Array): boolean {
  return b.length > SAL_HEADER_LEN && b[SAL_HEADER_LEN]! >> 4 === 1;
}

function removeItem(xs: number[], x: number): void {
  const i = xs.indexOf(x);
  if (i >= 0) xs.splice(i, 1);
}

function withSourceRoute(r: SalRepr, list: Locator[]): SalRepr {
  const plainV4 = list.every((l) => l.address.length === 4 && l.port === 0) && list.length >= 2 && list.length <= 20;
  const base: SalRepr = { srcFlowId: r.srcFlowId, dstFlowId: r.dstFlowId, protocol: r.protocol, services: r.services };
  const withControl = r.control ? { ...base, control: r.control } : base;
  return plainV4 ? { ...withControl, source: list.map((l) => l.address) } : { ...withControl, locators: list };
}

function fillTransportChecksum(protocol: number, b: Uint8Array, off: number, len: number, src: Locator, dst: Locator): void {
  if (src.address.length !== dst.address.length) return;
  if (protocol === SAL_PROTO_TCP) fillTcpChecksum(b, off, len, src.address, dst.address);
  else if (protocol === SAL_PROTO_UDP && len >= 8 && readU16(b, off + 4) === len) {
    fillUdpChecksum(b, off, src.address, dst.address);
  }
}

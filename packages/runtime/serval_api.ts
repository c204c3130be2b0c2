/**
 * {@linkcode ServalApi}: the in-process application interface of a node
 * (DESIGN §8): `listen(service)` and `connect(service)` give
 * {@linkcode StreamConnection}s with WHATWG streams; `openDatagram` gives
 * datagram sockets. Applications name services, never hosts.
 *
 * @module
 */

import type { CloseReason, HostEvent } from "@serval/sal";
import { StreamTransport, type StreamOptions } from "@serval/transport";
import { type Locator, ServiceId, ServicePrefix } from "@serval/wire";
import type { ServalNode } from "./serval_node.ts";
import { StreamConnection } from "./stream_connection.ts";

/** Options of streams made by the API (the transport's, less the ISS, which is drawn at random). */
export type ConnectionOptions = Omit<StreamOptions, "iss">;

/** A service name (`web.example`), serviceID text or prefix text (`web.example/64`). */
export type ServiceLike = ServiceId | ServicePrefix | string;

/** Names parsed recently: a name costs a SHA-256 per label, a connect should not. */
const parsed = new Map<string, ServiceId>();

function toId(s: ServiceLike): ServiceId {
  if (s instanceof ServiceId) return s;
  if (s instanceof ServicePrefix) return s.id;
  let id = parsed.get(s);
  if (id === undefined) {
    id = ServiceId.parse(s);
    if (parsed.size >= 1024) parsed.clear();
    parsed.set(s, id);
  }
  return id;
}

function toPrefix(s: ServiceLike): ServicePrefix {
  if (s instanceof ServicePrefix) return s;
  if (s instanceof ServiceId) return ServicePrefix.of(s);
  return ServicePrefix.parse(s);
}

/**
 * A bound service: accepts connections. Connections wait in the host's
 * accept queue (bounded by the listener's backlog: beyond it the host refuses
 * new ones) until {@linkcode ServiceListener.accept} takes them, so an
 * application that stops accepting pushes back on its clients.
 */
export class ServiceListener {
  readonly #api: ServalApi;
  readonly #waiting: { resolve: (c: StreamConnection) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  /** @internal */
  constructor(api: ServalApi, readonly id: number, readonly prefix: ServicePrefix) {
    this.#api = api;
  }

  /** The next connection (waits for one). Rejects once the listener is closed. */
  accept(): Promise<StreamConnection> {
    if (this.#closed) return Promise.reject(new Error(`Cannot accept on ${this.prefix}: the listener is closed`));
    const c = this.#waiting.length === 0 ? this.#api.acceptNow(this) : undefined;
    if (c) return Promise.resolve(c);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Accepted connections, until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<StreamConnection> {
    for (;;) {
      try {
        yield await this.accept();
      } catch {
        return;
      }
    }
  }

  /**
   * Stops listening: the registration is withdrawn at once; waiting
   * `accept`s reject; connections not yet accepted are reset.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#api.unlisten(this);
    for (const w of this.#waiting.splice(0)) w.reject(new Error(`Cannot accept on ${this.prefix}: the listener is closed`));
  }

  /** @internal The host has connections ready: hand them to waiting `accept`s. */
  serveWaiting(): void {
    while (this.#waiting.length > 0) {
      const c = this.#api.acceptNow(this);
      if (!c) return;
      this.#waiting.shift()!.resolve(c);
    }
  }
}

/** A received datagram. */
export interface Datagram {
  /** The sender's serviceID. */
  readonly source: ServiceId;
  /** The sender's locator. */
  readonly from: Locator;
  readonly payload: Uint8Array;
}

/** An unconnected datagram socket, bound to a prefix or not. */
export class DatagramSocket {
  readonly #api: ServalApi;
  readonly #queue: Datagram[] = [];
  readonly #waiting: { resolve: (d: Datagram) => void; reject: (e: Error) => void }[] = [];
  #closed = false;
  /** Datagrams dropped because the receive queue was full. */
  dropped = 0;

  /** @internal */
  constructor(api: ServalApi, readonly id: number, readonly maxQueue: number) {
    this.#api = api;
  }

  /**
   * Sends to a service (resolved by the service table, or straight to `to`).
   *
   * @returns `false` when no route leads to the service.
   * @throws {RangeError} When the payload does not fit one packet, or the socket is closed.
   */
  send(service: ServiceLike, payload: Uint8Array, to?: Locator): boolean {
    if (this.#closed) throw new RangeError("Cannot send: the datagram socket is closed");
    return this.#api.sendDatagram(this.id, toId(service), payload, to);
  }

  /** The next datagram (waits for one). */
  receive(): Promise<Datagram> {
    const d = this.#queue.shift();
    if (d) return Promise.resolve(d);
    if (this.#closed) return Promise.reject(new Error("Cannot receive: the datagram socket is closed"));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Closes the socket (and its binding). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#api.closeDatagram(this);
    for (const w of this.#waiting.splice(0)) w.reject(new Error("Cannot receive: the datagram socket is closed"));
  }

  /** @internal */
  deliver(d: Datagram): void {
    const w = this.#waiting.shift();
    if (w) return w.resolve(d);
    if (this.#queue.length >= this.maxQueue) {
      this.#queue.shift();
      this.dropped++;
    }
    this.#queue.push(d);
  }
}

/**
 * The application interface of a {@linkcode ServalNode}.
 *
 * @example Echo a message through a service, in one process over loopback UDP
 * ```ts
 * import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
 * import { ServicePrefix } from "@serval/wire";
 * const a = await ServalNode.start({ role: "adhoc", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }) });
 * const b = await ServalNode.start({ role: "adhoc", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }) });
 * // No broadcast on loopback: tell a where the service is.
 * a.host.serviceTable.addTarget(ServicePrefix.parse("echo.example"), { type: "forward", locator: b.locals[0]! });
 * const server = new ServalApi(b).listen("echo.example");
 * (async () => { for await (const c of server) c.readable.pipeTo(c.writable); })();
 * const c = await new ServalApi(a).connect("echo.example");
 * const w = c.writable.getWriter();
 * await w.write(new TextEncoder().encode("hi"));
 * const { value } = await c.readable.getReader().read();
 * console.assert(new TextDecoder().decode(value) === "hi");
 * await w.close();
 * server.close();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class ServalApi {
  readonly node: ServalNode;
  readonly #conns = new Map<number, StreamConnection>();
  readonly #transports = new Map<number, StreamTransport>();
  readonly #connecting = new Map<number, { resolve: (c: StreamConnection) => void; reject: (e: Error) => void; service: ServiceId }>();
  readonly #listeners = new Map<number, ServiceListener>();
  readonly #sockets = new Map<number, DatagramSocket>();
  readonly #opts: ConnectionOptions;
  readonly #off: (() => void)[];

  /**
   * @param node The node.
   * @param opts Stream options for every connection (buffers, congestion control…).
   */
  constructor(node: ServalNode, opts: ConnectionOptions = {}) {
    this.node = node;
    this.#opts = opts;
    this.#off = [node.onEvent((e) => this.#event(e)), node.onStep((now) => this.#pump(now))];
  }

  /** Connections not yet over. */
  get connections(): number {
    let n = 0;
    for (const c of this.#conns.values()) if (!c.gone) n++;
    return n;
  }

  /**
   * Connects to a service by name, serviceID or prefix.
   *
   * @returns The connection once the handshake is done.
   * @throws {Error} (rejects) When the flow fails before it is up: `refused`, `timeout`, `unreachable`
   *   (the reason is the error's `cause`).
   */
  connect(service: ServiceLike, opts: ConnectionOptions = {}): Promise<StreamConnection> {
    const node = this.node;
    const id = toId(service);
    const t = this.#transport(opts);
    const flow = node.host.connect(node.now(), id, t);
    this.#transports.set(flow, t);
    const p = new Promise<StreamConnection>((resolve, reject) => {
      this.#connecting.set(flow, { resolve, reject, service: id });
    });
    node.kick();
    return p;
  }

  /** Binds a service prefix: its connections come through the listener; the host registers it with its routers. */
  listen(prefix: ServiceLike, opts: ConnectionOptions & { backlog?: number } = {}): ServiceListener {
    const p = toPrefix(prefix);
    const { backlog, ...stream } = opts;
    const id = this.node.host.listen(p, {
      transport: (flow) => {
        const t = this.#transport(stream);
        this.#transports.set(flow, t);
        return t;
      },
      ...(backlog !== undefined ? { backlog } : {}),
    });
    const l = new ServiceListener(this, id, p);
    this.#listeners.set(id, l);
    this.node.kick();
    return l;
  }

  /** Opens a datagram socket, bound to `prefix` (receives) or not (send only). */
  openDatagram(prefix?: ServiceLike, maxQueue = 1024): DatagramSocket {
    const id = this.node.host.openDatagram(prefix === undefined ? undefined : toPrefix(prefix));
    const s = new DatagramSocket(this, id, maxQueue);
    this.#sockets.set(id, s);
    this.node.kick();
    return s;
  }

  /** Closes every connection, listener and socket of this API and detaches from the node. */
  close(): void {
    for (const l of [...this.#listeners.values()]) l.close();
    for (const s of [...this.#sockets.values()]) s.close();
    for (const c of this.#conns.values()) c.abort();
    // Connects still in their handshake: nobody would pump them once detached.
    for (const [flow, w] of this.#connecting) {
      this.node.host.abort(this.node.now(), flow);
      w.reject(new Error(`Cannot connect to ${w.service}: the API is closed`, { cause: "aborted" }));
    }
    this.#connecting.clear();
    this.node.kick();
    for (const off of this.#off) off();
  }

  /** @internal Takes one connection from the host's accept queue of `l`, if any. */
  acceptNow(l: ServiceListener): StreamConnection | undefined {
    for (let f = this.node.host.accept(l.id); f !== undefined; f = this.node.host.accept(l.id)) {
      const t = this.#transports.get(f);
      if (!t) continue;
      const c = new StreamConnection(this.node, f, t);
      this.#conns.set(f, c);
      return c;
    }
    return undefined;
  }

  /** @internal */
  unlisten(l: ServiceListener): void {
    this.#listeners.delete(l.id);
    this.node.host.unlisten(this.node.now(), l.id);
    this.node.kick();
  }

  /** @internal */
  closeDatagram(s: DatagramSocket): void {
    this.#sockets.delete(s.id);
    this.node.host.closeDatagram(s.id);
    this.node.kick();
  }

  /** @internal */
  sendDatagram(socket: number, service: ServiceId, payload: Uint8Array, to?: Locator): boolean {
    const r = this.node.host.sendDatagram(this.node.now(), socket, service, payload, to);
    this.node.kick();
    return r === undefined;
  }

  #transport(opts: ConnectionOptions): StreamTransport {
    return new StreamTransport({ ...this.#opts, ...opts, iss: this.node.random.nextU32() });
  }

  #event(e: HostEvent): void {
    switch (e.type) {
      case "flow-up": {
        const t = this.#transports.get(e.flow);
        const waiting = this.#connecting.get(e.flow);
        if (!t || !waiting) return; // accepted flows come through "incoming"
        this.#connecting.delete(e.flow);
        const c = new StreamConnection(this.node, e.flow, t);
        this.#conns.set(e.flow, c);
        waiting.resolve(c);
        return;
      }
      case "incoming": {
        this.#listeners.get(e.listener)?.serveWaiting();
        return;
      }
      case "flow-down": {
        this.#transports.delete(e.flow);
        const waiting = this.#connecting.get(e.flow);
        if (waiting) {
          this.#connecting.delete(e.flow);
          waiting.reject(new Error(`Cannot connect to ${waiting.service}: ${describeCloseReason(e.reason)}`, { cause: e.reason }));
        }
        const c = this.#conns.get(e.flow);
        if (c) {
          this.#conns.delete(e.flow);
          c.down(e.reason);
        }
        return;
      }
      case "datagram": {
        this.#sockets.get(e.socket)?.deliver({ source: e.source, from: e.from, payload: e.payload });
        return;
      }
      default:
        return;
    }
  }

  #pump(now: number): void {
    for (const c of this.#conns.values()) c.pump(now);
  }
}

/**
 * Why a flow ended, as words for an error line (what the application socket
 * and the API's errors say).
 *
 * @param reason A close reason (or an error code that shares its words).
 * @returns The reason with what it means to the user.
 *
 * @example
 * ```ts
 * import { describeCloseReason } from "@serval/runtime";
 * console.assert(describeCloseReason("unreachable") === "unreachable (no route to the service)");
 * console.assert(describeCloseReason("reset") === "reset");
 * ```
 */
export function describeCloseReason(reason: CloseReason | string): string {
  switch (reason) {
    case "refused":
      return "refused (nobody listens on this service there)";
    case "timeout":
      return "timed out";
    case "unreachable":
      return "unreachable (no route to the service)";
    default:
      return reason;
  }
}

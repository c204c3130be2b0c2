/**
 * The client library (the libserval of this stack): {@linkcode connectDaemon}
 * opens the host daemon's application socket and gives a
 * {@linkcode ServalClient} with the calls of the in-process `ServalApi`:
 * `connect(service)`, `listen(prefix)` (accepted connections as an async
 * iterator) and `openDatagram(prefix?)`. No datapath, no FFI: one unix
 * socket, multiplexed (`app_protocol.ts`). Light: it loads `@serval/wire`
 * and `node:net`, and `@serval/runtime` only to find the default run
 * directory when it is given none (import `@serval/client/client` to leave
 * the daemon's side out too).
 *
 * @module
 */

import { createConnection, type Socket } from "node:net";
import { type Locator, ServiceId } from "@serval/wire";
import {
  APP_PROTOCOL_VERSION,
  type AppMessage,
  DAEMON_CHANNEL_BASE,
  DEFAULT_WINDOW,
  encodeMessage,
  FrameDecoder,
  MAX_NAME,
} from "./app_protocol.ts";
import { ClientConnection, type ClientLink } from "./client_connection.ts";
import { ServalClientError, type ServalClientErrorCode } from "./serval_client_error.ts";

/** How long the daemon may take to answer the handshake. */
const HELLO_TIMEOUT_MS = 5000;
/** Bytes queued towards the daemon beyond which datagrams are dropped (`send` returns false). */
const SEND_HIGH_WATER = 1024 * 1024;

const utf8 = new TextEncoder();

/** Why `name` cannot be sent (longer than {@linkcode MAX_NAME} bytes), or undefined. */
function badName(what: string, name: string): ServalClientError | undefined {
  const n = utf8.encode(name).length;
  if (n <= MAX_NAME) return undefined;
  return new ServalClientError("invalid", `Cannot ${what}: the service text is ${n} bytes long (at most ${MAX_NAME})`);
}

/**
 * The path of the application socket of a daemon whose run directory is `runDir`.
 *
 * @param runDir The daemon's run directory.
 * @returns `<runDir>/app.sock`.
 *
 * @example
 * ```ts
 * import { appSocketPath } from "@serval/client";
 * console.assert(appSocketPath("/tmp/x") === "/tmp/x/app.sock");
 * ```
 */
export function appSocketPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/app.sock`;
}

/** Options of {@linkcode connectDaemon}. */
export interface ConnectDaemonOptions {
  /** The daemon's run directory (default: as the daemon's, `$SERVAL_RUN_DIR`, /run/serval as root…). */
  readonly runDir?: string;
  /** The socket's path (overrides `runDir`). */
  readonly path?: string;
  /** Our receive window per stream (default 256 KiB). */
  readonly window?: number;
}

/**
 * Connects to the host daemon.
 *
 * @param opts Where the daemon is.
 * @returns The client once the daemon answered the handshake.
 * @throws {ServalClientError} (rejects) `unavailable` when no daemon answers at the socket; `version` when it speaks another version.
 *
 * @example Connect to a service through the local daemon
 * ```ts
 * import { connectDaemon, ServalClientError } from "@serval/client";
 * try {
 *   const client = await connectDaemon({ runDir: "/nonexistent" });
 *   await client.close();
 * } catch (e) {
 *   console.assert(e instanceof ServalClientError && e.code === "unavailable");
 * }
 * ```
 */
export async function connectDaemon(opts: ConnectDaemonOptions = {}): Promise<ServalClient> {
  // The runtime (the whole stack) is loaded only for its default run directory.
  const path = opts.path ?? appSocketPath(opts.runDir ?? (await import("@serval/runtime")).defaultRunDir());
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ path, allowHalfOpen: true });
    s.once("connect", () => {
      s.off("error", onError);
      resolve(s);
    });
    const onError = (e: NodeJS.ErrnoException) =>
      reject(new ServalClientError("unavailable", `Cannot reach the Serval daemon at ${path}: ${e.code ?? e.message} (is \`serval host\` running with this --run-dir?)`));
    s.once("error", onError);
  });
  const client = new ServalClient(socket, path, opts.window ?? DEFAULT_WINDOW);
  await client.ready;
  return client;
}

type Pending = { readonly resolve: (c: ClientConnection) => void; readonly reject: (e: Error) => void; readonly service: string };
type Channel = ClientConnection | ClientListener | ClientDatagramSocket | Pending;

/**
 * A connection to the host daemon: the application interface of the node
 * it runs, from another process. Made by {@linkcode connectDaemon}.
 */
export class ServalClient {
  /** @internal Resolves once the daemon answered the handshake. */
  readonly ready: Promise<void>;
  /** Resolves when the connection to the daemon is over (closed by us, or the daemon went away). */
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #channels = new Map<number, Channel>();
  readonly #link: ClientLink;
  #next = 1;
  #peerWindow = DEFAULT_WINDOW;
  #welcome = false;
  #gone: ServalClientError | undefined;
  #settleReady!: (e?: Error) => void;
  #resolveClosed!: () => void;

  /** @internal */
  constructor(socket: Socket, readonly path: string, readonly window: number) {
    this.#socket = socket;
    const self = this;
    this.#link = {
      send: (m) => this.#send(m),
      get window() {
        return self.window;
      },
      get peerWindow() {
        return self.#peerWindow;
      },
      fatal: (reason) => this.#fatal(reason),
      forget: (ch) => this.#channels.delete(ch),
      get backedUp() {
        return self.#socket.writableLength > SEND_HIGH_WATER;
      },
    };
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.ready = new Promise<void>((resolve, reject) => (this.#settleReady = (e) => (e ? reject(e) : resolve())));
    const timer = setTimeout(() => this.#end(new ServalClientError("unavailable", `Cannot reach the Serval daemon at ${path}: no handshake in ${HELLO_TIMEOUT_MS} ms`)), HELLO_TIMEOUT_MS);
    this.ready.then(() => clearTimeout(timer), () => clearTimeout(timer));
    socket.on("data", (b: Uint8Array) => this.#receive(b));
    socket.on("end", () => this.#end(new ServalClientError("shutdown", "The Serval daemon closed the connection")));
    socket.on("close", () => this.#end(new ServalClientError("shutdown", "The Serval daemon closed the connection")));
    socket.on("error", (e) => this.#end(new ServalClientError("unavailable", `Connection to the Serval daemon failed: ${e.message}`)));
    this.#send({ type: "hello", version: APP_PROTOCOL_VERSION, window });
  }

  /**
   * Connects to a service by name, serviceID or prefix text.
   *
   * @throws {ServalClientError} (rejects) `refused` (nobody listens on it), `unreachable` (no route), `timeout`, `invalid` (bad name, longer than {@linkcode MAX_NAME} bytes).
   */
  connect(service: string): Promise<ClientConnection> {
    if (this.#gone) return Promise.reject(this.#gone);
    // Checked here: the daemon would take a longer name as a protocol error and drop every channel.
    const bad = badName(`connect to ${service.slice(0, 64)}…`, service);
    if (bad) return Promise.reject(bad);
    const channel = this.#channel();
    return new Promise((resolve, reject) => {
      this.#channels.set(channel, { resolve, reject, service });
      this.#send({ type: "connect", channel, service });
    });
  }

  /**
   * Binds a service prefix; the daemon registers it with its routers.
   * Problems (a bad prefix, `invalid`; one longer than {@linkcode MAX_NAME}
   * bytes is refused here) show as `ready` rejecting, and `accept` with it.
   *
   * @param prefix Name, serviceID or prefix text (`web.example`, `web.example/64`).
   * @param opts `backlog`: connections handed to us before we take them (default 16).
   */
  listen(prefix: string, opts: { readonly backlog?: number } = {}): ClientListener {
    const bad = this.#gone ?? badName(`listen on ${prefix.slice(0, 64)}…`, prefix);
    const channel = bad ? 0 : this.#channel();
    const l = new ClientListener(this.#link, channel, prefix, (c) => this.#channels.set(c.channel, c));
    if (bad) l.fail(bad);
    else {
      this.#channels.set(channel, l);
      this.#send({ type: "listen", channel, backlog: Math.max(0, Math.min(65535, opts.backlog ?? 0)), prefix });
    }
    return l;
  }

  /**
   * Opens a datagram socket, bound to `prefix` (receives) or not (send only).
   * Problems (a bad prefix: `invalid`) show as `ready` rejecting.
   *
   * @param prefix Name, serviceID or prefix text.
   * @param maxQueue Datagrams kept for `receive` before the oldest are dropped.
   */
  openDatagram(prefix?: string, maxQueue = 1024): ClientDatagramSocket {
    const bad = this.#gone ?? (prefix === undefined ? undefined : badName(`open a datagram socket on ${prefix.slice(0, 64)}…`, prefix));
    const channel = bad ? 0 : this.#channel();
    const s = new ClientDatagramSocket(this.#link, channel, maxQueue);
    if (bad) s.fail(bad);
    else {
      this.#channels.set(channel, s);
      this.#send({ type: "open-datagram", channel, prefix: prefix ?? "" });
    }
    return s;
  }

  /**
   * Closes the connection to the daemon. Streams whose write side we closed
   * still finish delivering (the daemon completes them); others are reset;
   * listeners are withdrawn. Resolves once the socket is closed.
   */
  async close(): Promise<void> {
    if (!this.#gone) {
      this.#socket.end();
      this.#end(new ServalClientError("aborted", "The client is closed"));
    }
    await this.closed;
  }

  #channel(): number {
    if (this.#next >= DAEMON_CHANNEL_BASE) throw new RangeError("Cannot open a channel: all 2^31 channel numbers used; reconnect");
    return this.#next++;
  }

  #send(m: AppMessage): void {
    if (this.#gone) return;
    this.#socket.write(encodeMessage(m));
  }

  #receive(b: Uint8Array): void {
    if (this.#gone) return;
    this.#decoder.push(b);
    for (let m = this.#decoder.next(); m !== undefined && !this.#gone; m = this.#decoder.next()) {
      if (m.type === "invalid") return this.#fatal(m.reason);
      this.#handle(m);
    }
  }

  #fatal(reason: string): void {
    this.#socket.destroy();
    this.#end(new ServalClientError("protocol", `The Serval daemon broke the application protocol: ${reason}`));
  }

  #handle(m: AppMessage): void {
    if (!this.#welcome) {
      if (m.type === "error") return this.#end(new ServalClientError(m.code, `The Serval daemon refused us: ${m.message}`));
      if (m.type !== "welcome") return this.#fatal(`expected welcome, got ${m.type}`);
      if (m.version !== APP_PROTOCOL_VERSION) return this.#fatal(`version ${m.version} answered to ${APP_PROTOCOL_VERSION}`);
      this.#welcome = true;
      this.#peerWindow = m.window;
      this.#settleReady();
      return;
    }
    if (m.type === "error" && m.channel === 0) return this.#end(new ServalClientError(m.code, `The Serval daemon closed the connection: ${m.message}`));
    if (m.type === "hello" || m.type === "welcome" || !("channel" in m)) return this.#fatal(`unexpected ${m.type}`);
    const c = this.#channels.get(m.channel);
    if (c === undefined) {
      // A channel we reset or closed: the daemon had not heard yet. A
      // connection it handed to a listener we closed is ours to reset.
      if (m.type === "accepted") this.#send({ type: "reset", channel: m.stream, code: "aborted", message: "the listener is closed" });
      return;
    }
    if (c instanceof ClientConnection) return c.handle(m);
    if (c instanceof ClientListener || c instanceof ClientDatagramSocket) return c.handle(m);
    // A connect waiting for its answer.
    if (m.type === "ok") {
      const conn = new ClientConnection(this.#link, m.channel);
      this.#channels.set(m.channel, conn);
      return c.resolve(conn);
    }
    if (m.type === "error") {
      this.#channels.delete(m.channel);
      return c.reject(new ServalClientError(m.code, m.message));
    }
    return this.#fatal(`${m.type} on a connect in progress`);
  }

  /** The connection is over: everything pending fails with `e`. */
  #end(e: ServalClientError): void {
    if (this.#gone) return;
    this.#gone = e;
    this.#settleReady(e);
    if (!this.#socket.destroyed && e.code !== "aborted") this.#socket.destroy();
    const code: ServalClientErrorCode = e.code;
    for (const c of [...this.#channels.values()]) {
      if (c instanceof ClientConnection) c.fail(code, e.message);
      else if (c instanceof ClientListener || c instanceof ClientDatagramSocket) c.fail(e);
      else c.reject(e);
    }
    this.#channels.clear();
    if (this.#socket.destroyed) this.#resolveClosed();
    else this.#socket.once("close", () => this.#resolveClosed());
  }
}

/**
 * A bound service: accepted connections, as {@linkcode ServalClient.listen}
 * returns. The daemon hands over at most `backlog` connections we have not
 * taken; beyond, they wait in the host's accept queue (and beyond that are
 * refused), so an application that stops accepting pushes back on clients.
 */
export class ClientListener {
  /** Resolves once the daemon listens (the service is being registered); rejects when it cannot. */
  readonly ready: Promise<void>;
  readonly #link: ClientLink;
  readonly #adopt: (c: ClientConnection) => void;
  readonly #queue: ClientConnection[] = [];
  readonly #waiting: { resolve: (c: ClientConnection) => void; reject: (e: Error) => void }[] = [];
  #error: Error | undefined;
  #settle!: (e?: Error) => void;

  /** @internal */
  constructor(link: ClientLink, readonly channel: number, readonly prefix: string, adopt: (c: ClientConnection) => void) {
    this.#link = link;
    this.#adopt = adopt;
    this.ready = new Promise<void>((resolve, reject) => (this.#settle = (e) => (e ? reject(e) : resolve())));
    this.ready.catch(() => {}); // seen through accept too
  }

  /** The next connection (waits for one). Rejects once the listener is closed or failed. */
  accept(): Promise<ClientConnection> {
    const c = this.#queue.shift();
    if (c) {
      this.#link.send({ type: "credit", channel: this.channel, bytes: 1 });
      return Promise.resolve(c);
    }
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Accepted connections, until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ClientConnection> {
    for (;;) {
      let c: ClientConnection;
      try {
        c = await this.accept();
      } catch {
        return;
      }
      yield c;
    }
  }

  /** Stops listening: the service is withdrawn at once; connections not taken yet are reset. */
  close(): void {
    if (this.#error) return;
    this.#link.send({ type: "close", channel: this.channel });
    this.#link.forget(this.channel);
    this.fail(new ServalClientError("aborted", `Cannot accept on ${this.prefix}: the listener is closed`));
  }

  /** @internal */
  handle(m: AppMessage): void {
    switch (m.type) {
      case "ok":
        return this.#settle();
      case "accepted": {
        const c = new ClientConnection(this.#link, m.stream);
        this.#adopt(c);
        const w = this.#waiting.shift();
        if (!w) return void this.#queue.push(c);
        this.#link.send({ type: "credit", channel: this.channel, bytes: 1 });
        return w.resolve(c);
      }
      case "error":
        this.#link.forget(this.channel);
        return this.fail(new ServalClientError(m.code, `Cannot listen on ${this.prefix}: ${m.message}`));
      default:
        return this.#link.fatal(`${m.type} on listener channel ${this.channel}`);
    }
  }

  /** @internal */
  fail(e: Error): void {
    if (this.#error) return;
    this.#error = e;
    this.#settle(e);
    for (const c of this.#queue.splice(0)) c.abort();
    for (const w of this.#waiting.splice(0)) w.reject(e);
  }
}

/** A received datagram. */
export interface ClientDatagram {
  /** The sender's serviceID. */
  readonly source: ServiceId;
  /** The sender's locator. */
  readonly from: Locator;
  readonly payload: Uint8Array;
}

/** A datagram socket through the daemon, as {@linkcode ServalClient.openDatagram} returns. */
export class ClientDatagramSocket {
  /** Resolves once the daemon opened the socket; rejects when it cannot (a bad prefix). */
  readonly ready: Promise<void>;
  /** Datagrams dropped because the receive queue was full. */
  dropped = 0;
  /** Datagrams not sent because the connection to the daemon was backed up (`send` returned false). */
  sendDropped = 0;
  readonly #link: ClientLink;
  readonly #queue: ClientDatagram[] = [];
  readonly #waiting: { resolve: (d: ClientDatagram) => void; reject: (e: Error) => void }[] = [];
  #error: Error | undefined;
  #settle!: (e?: Error) => void;

  /** @internal */
  constructor(link: ClientLink, readonly channel: number, readonly maxQueue: number) {
    this.#link = link;
    this.ready = new Promise<void>((resolve, reject) => (this.#settle = (e) => (e ? reject(e) : resolve())));
    this.ready.catch(() => {});
  }

  /**
   * Sends to a service. Datagrams are unreliable: one the daemon cannot
   * route, or too large for a packet, is lost (the daemon counts it).
   *
   * @returns `true` when handed to the daemon; `false` when dropped because
   *   the connection to the daemon is backed up (more than 1 MiB queued:
   *   the daemon is not keeping up), counted in `sendDropped`.
   * @throws {RangeError} When the socket is closed, or the payload exceeds a frame (128 KiB).
   * @throws {ServalClientError} `invalid` when `service` is longer than {@linkcode MAX_NAME} bytes.
   */
  send(service: string, payload: Uint8Array): boolean {
    if (this.#error) throw new RangeError("Cannot send: the datagram socket is closed");
    const bad = badName(`send to ${service.slice(0, 64)}…`, service);
    if (bad) throw bad;
    // Unreliable, so dropped rather than queued without bound in our memory.
    if (this.#link.backedUp) {
      this.sendDropped++;
      return false;
    }
    this.#link.send({ type: "send-datagram", channel: this.channel, service, payload });
    return true;
  }

  /** The next datagram (waits for one). */
  receive(): Promise<ClientDatagram> {
    const d = this.#queue.shift();
    if (d) return Promise.resolve(d);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Closes the socket (and its binding). */
  close(): void {
    if (this.#error) return;
    this.#link.send({ type: "close", channel: this.channel });
    this.#link.forget(this.channel);
    this.fail(new ServalClientError("aborted", "Cannot receive: the datagram socket is closed"));
  }

  /** @internal */
  handle(m: AppMessage): void {
    switch (m.type) {
      case "ok":
        return this.#settle();
      case "datagram": {
        const d: ClientDatagram = { source: ServiceId.fromBytes(m.source), from: m.from, payload: m.payload };
        const w = this.#waiting.shift();
        if (w) return w.resolve(d);
        if (this.#queue.length >= this.maxQueue) {
          this.#queue.shift();
          this.dropped++;
        }
        this.#queue.push(d);
        return;
      }
      case "error":
        this.#link.forget(this.channel);
        return this.fail(new ServalClientError(m.code, `Cannot open the datagram socket: ${m.message}`));
      default:
        return this.#link.fatal(`${m.type} on datagram channel ${this.channel}`);
    }
  }

  /** @internal */
  fail(e: Error): void {
    if (this.#error) return;
    this.#error = e;
    this.#settle(e);
    for (const w of this.#waiting.splice(0)) w.reject(e);
  }
}

/**
 * {@linkcode AppSocketServer}: the daemon's side of the application socket
 * (`<runDir>/app.sock`, protocol in `app_protocol.ts`). Each application
 * connection gets its own {@linkcode ServalApi} on the node, so its flows,
 * listeners and datagram sockets are its own and go when it goes:
 *
 * - its listeners are closed (withdrawn from the routers) at once;
 * - a stream whose write side the application closed (its `fin` arrived)
 *   finishes delivering, like a kernel socket closed after `shutdown` (what
 *   the peer still sends is read and dropped until its FIN); any other
 *   stream is reset, so that a crashed application never looks like a clean
 *   end of stream to the peer. The wait is bounded (`linger`, 30 s): a peer
 *   that stops reading or never closes cannot hold the application's API.
 *
 * A connection must say hello within `helloTimeout` (5 s), and at most
 * `maxSessions` (1024) applications are served at once.
 *
 * Memory per stream is bounded both ways: at most our window of the
 * application's bytes waits for the Serval flow, and we read the flow only
 * while the application has granted credit and the socket is not backed up.
 *
 * @module
 */

import { chmod, lstat, stat, unlink } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { type DatagramSocket, describeCloseReason, ensureRunDir, ServalApi, type ServalNode, type ServiceListener, type StreamConnection } from "@serval/runtime";
import {
  APP_PROTOCOL_VERSION,
  type AppErrorCode,
  type AppMessage,
  DAEMON_CHANNEL_BASE,
  DEFAULT_WINDOW,
  encodeMessage,
  FrameDecoder,
  MAX_DATA,
} from "./app_protocol.ts";

/** Socket bytes queued towards an application beyond which we stop reading flows and drop datagrams. */
const SOCKET_HIGH_WATER = 1024 * 1024;
/**
 * Socket bytes queued towards an application beyond which it is cut off:
 * stream data is bounded by credit and datagrams are dropped at the high
 * water mark, so only an application that sends requests and never reads
 * the answers gets here.
 */
const SOCKET_HARD_LIMIT = 16 * 1024 * 1024;
/** Channels one application may hold at once. */
const MAX_CHANNELS = 4096;
/** Default accepted-but-not-taken connections per listener. */
const DEFAULT_BACKLOG = 16;
/** Default time a connection may take to say hello. */
const DEFAULT_HELLO_TIMEOUT_MS = 5000;
/** Default application connections served at once. */
const DEFAULT_MAX_SESSIONS = 1024;
/** Default time the streams of an application that left may take to finish delivering. */
const DEFAULT_LINGER_MS = 30_000;

/** Options of {@linkcode AppSocketServer.listen}. */
export interface AppSocketOptions {
  /** Our receive window per stream (default 256 KiB). */
  readonly window?: number;
  /** Socket file mode (default 0o660: the daemon's user and group). */
  readonly mode?: number;
  /** Milliseconds a new connection may take to say hello before it is closed (default 5000). */
  readonly helloTimeout?: number;
  /** Application connections served at once; more are refused with `limit` (default 1024). */
  readonly maxSessions?: number;
  /**
   * Milliseconds the half-closed streams of an application that left may
   * take to finish (our FIN acknowledged, the peer's FIN read) before they
   * are reset and the application's API freed (default 30 000).
   */
  readonly linger?: number;
}

/** Counters of an {@linkcode AppSocketServer}. */
export interface AppSocketStats {
  /** Application connections accepted so far. */
  connections: number;
  /** Connections closed for bad bytes. */
  protocolErrors: number;
  /** Datagrams dropped (socket backed up, no route, too large). */
  datagramsDropped: number;
  /** Frames for channels already gone (races with a reset: harmless). */
  ignoredFrames: number;
  /** Connections closed for not saying hello in time. */
  helloTimeouts: number;
  /** Connections refused because `maxSessions` were open. */
  sessionsRefused: number;
  /** Departed applications whose lingering streams were reset when `linger` ran out. */
  lingerExpired: number;
}

/** Why a flow ended (the SAL's reason). */
type CloseReason = Awaited<StreamConnection["closed"]>;

/** Why a stream or a connect failed, in the protocol's words. */
function codeOf(reason: CloseReason | unknown): AppErrorCode {
  switch (reason) {
    case "refused":
    case "unreachable":
    case "timeout":
    case "reset":
    case "aborted":
      return reason;
    default:
      return "reset";
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * The application socket of a running node.
 *
 * @example Serve applications on a node, then stop
 * ```ts
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { AppSocketServer } from "@serval/client";
 * import { openUdpDatapath, ServalNode } from "@serval/runtime";
 * const dir = mkdtempSync(`${tmpdir()}/serval-`);
 * const node = await ServalNode.start({ role: "adhoc", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false }) });
 * const server = await AppSocketServer.listen(node, `${dir}/app.sock`);
 * await server.close(); // removes the socket file
 * await node.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export class AppSocketServer {
  readonly stats: AppSocketStats = {
    connections: 0,
    protocolErrors: 0,
    datagramsDropped: 0,
    ignoredFrames: 0,
    helloTimeouts: 0,
    sessionsRefused: 0,
    lingerExpired: 0,
  };
  readonly #server: Server;
  readonly #sessions = new Set<AppSession>();
  /** Departed applications whose streams still finish delivering: the cut that frees each at once. */
  readonly #lingering = new Set<() => void>();
  readonly #ino: number;
  #closed = false;

  private constructor(readonly node: ServalNode, readonly path: string, server: Server, ino: number, readonly window: number, readonly opts: AppSocketOptions) {
    this.#server = server;
    this.#ino = ino;
    const max = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
    server.on("connection", (s) => {
      if (this.#closed) return void s.destroy();
      this.stats.connections++;
      if (this.#sessions.size >= max) {
        // Each session holds an API on the node: bounded, and said why.
        this.stats.sessionsRefused++;
        s.on("error", () => {});
        // Read (and drop) until the application hangs up, so its close is seen.
        s.on("end", () => s.destroy());
        s.resume();
        s.end(encodeMessage({ type: "error", channel: 0, code: "limit", message: `too many applications (at most ${max})` }));
        setTimeout(() => s.destroy(), 1000).unref?.();
        return;
      }
      const session = new AppSession(this, s, () => this.#sessions.delete(session));
      this.#sessions.add(session);
    });
  }

  /**
   * Listens on `path` (its directory is made if missing). A stale socket
   * file left by a daemon that died is replaced; a live one is not.
   *
   * The file's mode is 0660: the daemon's user and group. The socket acts
   * for the host (binds services that are announced to routers, opens flows
   * from its addresses), so, as with docker.sock, access is a privilege
   * given by group membership, never to every local user.
   *
   * @throws {Error} (rejects) When another daemon serves `path`, or it cannot be made.
   */
  static async listen(node: ServalNode, path: string, opts: AppSocketOptions = {}): Promise<AppSocketServer> {
    // 0755: the socket files' modes decide access (see the management socket's server).
    await ensureRunDir(dirname(path));
    await removeStale(path);
    const server = createServer({ allowHalfOpen: true });
    // The file is born without access for others (umask), never open to them
    // between listen and chmod.
    const old = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    try {
      await chmod(path, opts.mode ?? 0o660);
      const ino = (await stat(path)).ino;
      return new AppSocketServer(node, path, server, ino, opts.window ?? DEFAULT_WINDOW, opts);
    } catch (e) {
      server.close();
      throw e;
    }
  }

  /** Application connections open now. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Departed applications whose streams are still finishing (at most `linger` ms each). */
  get lingering(): number {
    return this.#lingering.size;
  }

  /** @internal A departed application's streams finish; `cut` resets them now. Returns the call that says they are done. */
  linger(cut: () => void): () => void {
    this.#lingering.add(cut);
    return () => this.#lingering.delete(cut);
  }

  /** Channels (connects, streams, listeners, datagram sockets) open now, over every application. */
  get channels(): number {
    let n = 0;
    for (const s of this.#sessions) n += s.channels;
    return n;
  }

  /**
   * Stops: every application connection is closed (its streams reset, its
   * listeners withdrawn), and the socket file removed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    for (const s of [...this.#sessions]) s.destroy("shutdown", "the daemon is stopping");
    for (const cut of [...this.#lingering]) cut();
    await closed;
    // Only our own file: a daemon started since may own the path now.
    try {
      if ((await stat(this.path)).ino === this.#ino) await unlink(this.path);
    } catch {
      // already gone
    }
  }
}

/** Removes `path` if it is a socket nobody answers on. */
async function removeStale(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`Cannot listen on ${path}: it exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = createConnection(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new Error(`Cannot listen on ${path}: another daemon is serving it`);
  await unlink(path);
}

// ---------------------------------------------------------------------------
// One application connection

type Channel = PendingConnect | DaemonStream | DaemonListener | DaemonDatagram;

interface PendingConnect {
  readonly kind: "connecting";
}

/** One application connection: its channels and its own API on the node. */
class AppSession {
  readonly #server: AppSocketServer;
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #api: ServalApi;
  readonly #channels = new Map<number, Channel>();
  /** Streams whose flow is not over yet (some no longer have a channel: they finish delivering). */
  readonly #flows = new Set<DaemonStream>();
  readonly #drainWaiters: (() => void)[] = [];
  readonly #onGone: () => void;
  /** Highest channel number the application opened (they only grow). */
  #lastChannel = 0;
  #nextStream = DAEMON_CHANNEL_BASE;
  #hello = false;
  /** The application's receive window per stream. */
  peerWindow = DEFAULT_WINDOW;
  #ended = false;
  #helloTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(server: AppSocketServer, socket: Socket, onGone: () => void) {
    this.#server = server;
    this.#socket = socket;
    this.#onGone = onGone;
    this.#api = new ServalApi(server.node);
    // A connection that never says hello would hold its API (and a session slot) forever.
    const ms = server.opts.helloTimeout ?? DEFAULT_HELLO_TIMEOUT_MS;
    this.#helloTimer = setTimeout(() => {
      if (this.#hello || this.#ended) return;
      this.#server.stats.helloTimeouts++;
      this.send({ type: "error", channel: 0, code: "timeout", message: `no hello in ${ms} ms` });
      this.#end(true);
    }, ms);
    socket.on("data", (b: Uint8Array) => this.#receive(b));
    socket.on("drain", () => this.#wakeDrain());
    socket.on("end", () => this.#end());
    socket.on("close", () => this.#end());
    socket.on("error", () => this.#end());
  }

  get window(): number {
    return this.#server.window;
  }

  get channels(): number {
    return this.#channels.size;
  }

  get node(): ServalNode {
    return this.#server.node;
  }

  /** Sends a message (dropped once the connection is over). */
  send(m: AppMessage): void {
    if (this.#ended) return;
    if (this.#socket.writableLength > SOCKET_HARD_LIMIT) {
      this.#server.stats.protocolErrors++;
      return this.#end(true);
    }
    this.#socket.write(encodeMessage(m));
  }

  /** Whether the socket has room for more (datagrams are dropped when not). */
  get backedUp(): boolean {
    return this.#socket.writableLength > SOCKET_HIGH_WATER;
  }

  /** Resolves once the socket has room (or the connection is over). */
  drained(): Promise<void> {
    if (this.#ended || !this.backedUp) return Promise.resolve();
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  get ended(): boolean {
    return this.#ended;
  }

  countDrop(): void {
    this.#server.stats.datagramsDropped++;
  }

  forget(channel: number): void {
    this.#channels.delete(channel);
  }

  /** Closes at once: every stream reset, everything closed. */
  destroy(code: AppErrorCode, message: string): void {
    if (this.#ended) return;
    this.send({ type: "error", channel: 0, code, message });
    this.#end(true);
  }

  #wakeDrain(): void {
    for (const w of this.#drainWaiters.splice(0)) w();
  }

  #receive(b: Uint8Array): void {
    if (this.#ended) return;
    this.#decoder.push(b);
    for (let m = this.#decoder.next(); m !== undefined && !this.#ended; m = this.#decoder.next()) {
      if (m.type === "invalid") return this.#fatal("protocol", m.reason);
      this.#handle(m);
    }
  }

  #fatal(code: AppErrorCode, message: string): void {
    this.#server.stats.protocolErrors++;
    this.send({ type: "error", channel: 0, code, message });
    this.#end(true);
  }

  #handle(m: AppMessage): void {
    if (!this.#hello) {
      if (m.type !== "hello") return this.#fatal("protocol", `expected hello, got ${m.type}`);
      if (m.version !== APP_PROTOCOL_VERSION) {
        return this.#fatal("version", `unsupported protocol version ${m.version} (this daemon speaks ${APP_PROTOCOL_VERSION})`);
      }
      this.#hello = true;
      clearTimeout(this.#helloTimer);
      this.peerWindow = m.window;
      this.send({ type: "welcome", version: APP_PROTOCOL_VERSION, window: this.window });
      return;
    }
    switch (m.type) {
      case "connect":
      case "listen":
      case "open-datagram": {
        if (m.channel >= DAEMON_CHANNEL_BASE || m.channel <= this.#lastChannel) {
          return this.#fatal("protocol", `channel ${m.channel} is not new (channels opened by the application grow, below ${DAEMON_CHANNEL_BASE})`);
        }
        this.#lastChannel = m.channel;
        if (this.#channels.size >= MAX_CHANNELS) {
          return this.send({ type: "error", channel: m.channel, code: "limit", message: `too many channels (at most ${MAX_CHANNELS})` });
        }
        if (m.type === "connect") return this.#connect(m.channel, m.service);
        if (m.type === "listen") return this.#listen(m.channel, m.prefix, m.backlog);
        return this.#openDatagram(m.channel, m.prefix);
      }
      case "send-datagram": {
        const c = this.#channels.get(m.channel);
        if (!(c instanceof DaemonDatagram)) return void this.#server.stats.ignoredFrames++;
        return c.send(m.service, m.payload);
      }
      case "close": {
        const c = this.#channels.get(m.channel);
        if (c instanceof DaemonListener || c instanceof DaemonDatagram) c.close();
        else this.#server.stats.ignoredFrames++;
        return;
      }
      case "data":
      case "fin":
      case "reset":
      case "credit": {
        const c = this.#channels.get(m.channel);
        if (c === undefined || c.kind === "connecting" || c.kind === "datagram") return void this.#server.stats.ignoredFrames++;
        const err = c.handle(m);
        if (err) this.#fatal("protocol", err);
        return;
      }
      default:
        return this.#fatal("protocol", `${m.type} is not a message an application sends`);
    }
  }

  #connect(channel: number, service: string): void {
    let p: Promise<StreamConnection>;
    try {
      p = this.#api.connect(service);
    } catch (e) {
      return this.send({ type: "error", channel, code: "invalid", message: errorText(e) });
    }
    this.#channels.set(channel, { kind: "connecting" });
    p.then(
      (conn) => {
        if (this.#ended || this.#channels.get(channel)?.kind !== "connecting") return conn.abort();
        const stream = this.#track(new DaemonStream(this, channel, conn));
        this.#channels.set(channel, stream);
        // `ok` goes before the stream's first byte (its pump starts after).
        this.send({ type: "ok", channel });
        stream.start();
      },
      (e: unknown) => {
        if (this.#channels.get(channel)?.kind !== "connecting") return;
        this.#channels.delete(channel);
        const code = codeOf(e instanceof Error ? e.cause : undefined);
        this.send({ type: "error", channel, code, message: `Cannot connect to ${service}: ${describeCloseReason(code)}` });
      },
    );
  }

  #listen(channel: number, prefix: string, backlog: number): void {
    let l: ServiceListener;
    try {
      l = this.#api.listen(prefix);
    } catch (e) {
      return this.send({ type: "error", channel, code: "invalid", message: errorText(e) });
    }
    const d = new DaemonListener(this, channel, l, backlog === 0 ? DEFAULT_BACKLOG : backlog);
    this.#channels.set(channel, d);
    this.send({ type: "ok", channel });
    void d.run();
  }

  #openDatagram(channel: number, prefix: string): void {
    let s: DatagramSocket;
    try {
      s = this.#api.openDatagram(prefix === "" ? undefined : prefix);
    } catch (e) {
      return this.send({ type: "error", channel, code: "invalid", message: errorText(e) });
    }
    const d = new DaemonDatagram(this, channel, s);
    this.#channels.set(channel, d);
    this.send({ type: "ok", channel });
    void d.run();
  }

  /** A stream the daemon's listener accepted: a new channel (the caller announces it). */
  adopt(conn: StreamConnection): DaemonStream {
    const id = this.#nextStream++;
    const s = this.#track(new DaemonStream(this, id, conn));
    this.#channels.set(id, s);
    return s;
  }

  #track(s: DaemonStream): DaemonStream {
    this.#flows.add(s);
    void s.conn.closed.then(() => this.#flows.delete(s));
    return s;
  }

  /**
   * The connection is over (the application left, sent bad bytes, or the
   * daemon stops: `hard`, every stream reset).
   */
  #end(hard = false): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#helloTimer);
    this.#onGone();
    this.#wakeDrain();
    if (hard) this.#socket.end();
    else this.#socket.destroy();
    // Bytes still written by us would never be read: stop the socket soon even if the peer does not read.
    if (hard) setTimeout(() => this.#socket.destroy(), 1000).unref?.();
    for (const c of this.#channels.values()) {
      if (c.kind === "connecting") continue; // the API's close aborts it
      if (c instanceof DaemonStream) {
        if (hard) c.reset();
        else c.orphan();
      } else c.close();
    }
    this.#channels.clear();
    // Streams done for the application may still be delivering (our FIN
    // queued, not yet acknowledged; the peer's FIN not yet read): the API
    // goes once every flow is over, as its close would reset them. It aborts
    // connects still in their handshake. A peer that stops reading, or never
    // closes its side, would keep the API forever: `linger` bounds the wait.
    const flows = hard ? [] : [...this.#flows].map((s) => s.conn.closed);
    if (flows.length === 0) return this.#api.close();
    let done = false;
    const finish = (expired: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      release();
      if (expired) this.#server.stats.lingerExpired++;
      this.#api.close(); // resets what is left
    };
    const release = this.#server.linger(() => finish(false)); // the daemon stops
    const timer = setTimeout(() => finish(true), this.#server.opts.linger ?? DEFAULT_LINGER_MS);
    timer.unref?.();
    void Promise.all(flows).then(() => finish(false));
  }
}

/** One stream between the application and a Serval flow. */
class DaemonStream {
  readonly kind = "stream";
  readonly #s: AppSession;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: { read(): Promise<{ done: boolean; value?: Uint8Array | undefined }> };
  /** Bytes the application sent that the flow has not taken yet (≤ our window). */
  #inFlight = 0;
  /** Bytes we may still send the application. */
  #credit: number;
  #creditWaiter: (() => void) | undefined;
  #finIn = false;
  #writeFinished = false;
  #finOut = false;
  #dead = false;
  /** The application left: the flow's bytes are read and dropped until the peer's FIN. */
  #orphaned = false;

  constructor(s: AppSession, readonly channel: number, readonly conn: StreamConnection) {
    this.#s = s;
    this.#credit = s.peerWindow;
    this.#writer = conn.writable.getWriter();
    this.#reader = conn.readable.getReader();
    // Failures while nobody reads (waiting for credit) still reach the application.
    void conn.closed.then((reason) => {
      if (reason !== "normal") this.#fail(codeOf(reason));
    });
  }

  /** Starts moving the flow's bytes to the application. */
  start(): void {
    void this.#pump();
  }

  /** A stream message from the application; returns a protocol error, if any. */
  handle(m: AppMessage): string | undefined {
    if (this.#dead) return undefined;
    switch (m.type) {
      case "data": {
        if (this.#finIn) return `data after fin on channel ${this.channel}`;
        const n = m.payload.length;
        if (this.#inFlight + n > this.#s.window) return `data beyond the window on channel ${this.channel}`;
        this.#inFlight += n;
        this.#writer.write(m.payload).then(
          () => {
            this.#inFlight -= n;
            if (!this.#dead) this.#s.send({ type: "credit", channel: this.channel, bytes: n });
          },
          () => {}, // the flow failed: conn.closed reports it
        );
        return undefined;
      }
      case "fin": {
        if (this.#finIn) return `second fin on channel ${this.channel}`;
        this.#finIn = true;
        void this.#writer.close().then(
          () => {
            this.#writeFinished = true;
            this.#maybeDone();
          },
          () => {},
        );
        return undefined;
      }
      case "reset":
        this.#dead = true;
        this.#s.forget(this.channel);
        this.#wake();
        this.conn.abort();
        return undefined;
      case "credit": {
        if (this.#credit + m.bytes > this.#s.peerWindow) return `credit beyond the window on channel ${this.channel}`;
        this.#credit += m.bytes;
        this.#wake();
        return undefined;
      }
      default:
        return `${m.type} on stream channel ${this.channel}`;
    }
  }

  /** Resets the flow (the daemon stops). */
  reset(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#wake();
    this.conn.abort();
  }

  /**
   * The application left. A stream it half-closed finishes delivering: what
   * the peer still sends is read and dropped (nobody would read it, and a
   * reset now would lose our bytes not yet acknowledged) until its FIN, and
   * the flow then closes cleanly; the session's linger bounds the wait. Any
   * other stream is reset.
   */
  orphan(): void {
    if (this.#dead) return;
    if (!this.#finIn) return this.reset();
    this.#orphaned = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#creditWaiter;
    this.#creditWaiter = undefined;
    w?.();
  }

  async #room(): Promise<boolean> {
    while (!this.#dead && !this.#orphaned && (this.#credit <= 0 || this.#s.backedUp)) {
      if (this.#credit <= 0) await new Promise<void>((r) => (this.#creditWaiter = r));
      else await this.#s.drained();
      if (this.#s.ended && this.#credit <= 0) return false;
    }
    return !this.#dead;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        if (!(await this.#room())) return;
        const r = await this.#reader.read();
        if (r.done || r.value === undefined) break;
        const chunk = r.value;
        if (this.#orphaned) continue; // dropped: the application left
        for (let off = 0; off < chunk.length;) {
          if (!(await this.#room())) return;
          if (this.#orphaned) break;
          const n = Math.min(this.#credit, MAX_DATA, chunk.length - off);
          this.#s.send({ type: "data", channel: this.channel, payload: chunk.subarray(off, off + n) });
          this.#credit -= n;
          off += n;
        }
      }
      if (this.#dead) return;
      this.#s.send({ type: "fin", channel: this.channel });
      this.#finOut = true;
      this.#maybeDone();
    } catch {
      // The readable failed: conn.closed says why (#fail).
    }
  }

  #fail(code: AppErrorCode): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#wake();
    this.#s.forget(this.channel);
    this.#s.send({ type: "reset", channel: this.channel, code, message: `Connection ${describeCloseReason(code)}` });
  }

  /** Both directions done for the application: the channel goes (the flow finishes by itself). */
  #maybeDone(): void {
    if (this.#finOut && this.#writeFinished && !this.#dead) {
      this.#dead = true;
      this.#s.forget(this.channel);
    }
  }
}

/** A listener of the application: hands it connections as it takes them. */
class DaemonListener {
  readonly kind = "listener";
  readonly #s: AppSession;
  /** Connections announced that the application has not taken yet. */
  #outstanding = 0;
  #waiter: (() => void) | undefined;
  #closed = false;

  constructor(s: AppSession, readonly channel: number, readonly listener: ServiceListener, readonly backlog: number) {
    this.#s = s;
  }

  async run(): Promise<void> {
    for (;;) {
      while (this.#outstanding >= this.backlog && !this.#closed) await new Promise<void>((r) => (this.#waiter = r));
      if (this.#closed) return;
      let c: StreamConnection;
      try {
        c = await this.listener.accept();
      } catch {
        return;
      }
      if (this.#closed || this.#s.ended) return c.abort();
      const stream = this.#s.adopt(c);
      this.#s.send({ type: "accepted", channel: this.channel, stream: stream.channel });
      stream.start();
      this.#outstanding++;
    }
  }

  handle(m: AppMessage): string | undefined {
    if (m.type !== "credit") return `${m.type} on listener channel ${this.channel}`;
    if (m.bytes > this.#outstanding) return `credit for ${m.bytes} connections on channel ${this.channel}, ${this.#outstanding} announced`;
    this.#outstanding -= m.bytes;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
    return undefined;
  }

  /** Stops listening: the service is withdrawn from the routers at once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#s.forget(this.channel);
    this.listener.close();
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

/** A datagram socket of the application. */
class DaemonDatagram {
  readonly kind = "datagram";
  readonly #s: AppSession;
  #closed = false;

  constructor(s: AppSession, readonly channel: number, readonly socket: DatagramSocket) {
    this.#s = s;
  }

  async run(): Promise<void> {
    for (;;) {
      let d;
      try {
        d = await this.socket.receive();
      } catch {
        return;
      }
      if (this.#closed) return;
      // Datagrams are unreliable: a backed-up application loses them rather than growing our memory.
      if (this.#s.backedUp) {
        this.#s.countDrop();
        continue;
      }
      this.#s.send({ type: "datagram", channel: this.channel, source: d.source.bytes, from: d.from, payload: d.payload });
    }
  }

  send(service: string, payload: Uint8Array): void {
    try {
      if (!this.socket.send(service, payload)) this.#s.countDrop();
    } catch {
      this.#s.countDrop(); // bad name or too large: the datagram is lost, as on the network
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#s.forget(this.channel);
    this.socket.close();
  }
}

/**
 * {@linkcode Translator}: unmodified TCP programs on one side, Serval
 * services on the other, on one running node.
 *
 * - **mapped port** ({@linkcode Translator.mapPort}): a local TCP port stands
 *   for a service; every connection accepted there is spliced to a new
 *   Serval connection to the service;
 * - **SOCKS5** ({@linkcode Translator.socks}): the host name a program asks
 *   its SOCKS proxy for names the service (see `service_for_host.ts`), so
 *   `curl --socks5-hostname 127.0.0.1:1080 http://web.example/` works;
 * - **export** ({@linkcode Translator.exportService}): a legacy TCP server
 *   at host:port serves a service prefix; every Serval connection accepted
 *   on it is spliced to a new TCP connection to the server.
 *
 * Every connection, whichever way it came, counts against one cap
 * (`maxConnections`): past it a TCP connection is reset at once and a Serval
 * one aborted, so memory stays bounded. Per connection, at the defaults, at
 * most ≈ 2.7 MiB sit in this process: towards Serval the splice's 256 KiB
 * high water, one socket read and the 1 MiB send buffer; towards TCP the
 * 1 MiB receive buffer, the readable's 256 KiB queue and one chunk in the
 * socket (see {@linkcode splice}). So 4096 connections, all full, are
 * ≈ 11 GiB at worst; connections that carried nothing yet cost far less
 * (stream rings are made on the first byte: 1000 of them through two
 * translators in one process measured ~130 MiB of RSS all told). A service nobody serves is a clean error: the mapped
 * port resets the program's connection, SOCKS answers "host unreachable"
 * (0x04) or "connection refused" (0x05), and one line is logged.
 *
 * @module
 */

import net from "node:net";
import type { ConnectionOptions, ServalNode, StreamConnection } from "@serval/runtime";
import { ServalApi, type ServiceListener } from "@serval/runtime";
import { type ServiceId, ServicePrefix } from "@serval/wire";
import { serviceForHost } from "./service_for_host.ts";
import {
  greetingReply,
  MAX_GREETING_LEN,
  MAX_REQUEST_LEN,
  parseGreeting,
  parseRequest,
  requestReply,
  SocksReply,
  type SocksReplyCode,
} from "./socks5.ts";
import { resetSocket, splice, type SpliceResult } from "./splice.ts";

/** Options of a {@linkcode Translator}. */
export interface TranslatorOptions {
  /** Connections at once, all kinds together (default 4096); past it new ones are refused. */
  readonly maxConnections?: number;
  /** How long a Serval connect or a connect to the legacy server may take (default 10 000 ms). */
  readonly connectTimeoutMs?: number;
  /** How long a SOCKS client may take to send its greeting and request (default 10 000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** Bytes in flight towards the Serval side before the TCP socket pauses ({@linkcode splice}; default 256 KiB). */
  readonly highWater?: number;
  /**
   * Idle time before a Serval connection probes its peer (default 10 000 ms;
   * 0: never). A peer silent for about twice this (a replica killed, a host
   * gone) is declared dead and the program's TCP connection reset, instead
   * of waiting forever: a receiver with nothing to send never times out.
   */
  readonly keepaliveMs?: number;
  /** Stream options of the Serval connections (buffers, congestion control; `keepalive` overrides `keepaliveMs`). */
  readonly connection?: ConnectionOptions;
  /** Where lines for the operator go (default nowhere). Failures are limited to 10 lines a second. */
  readonly log?: (line: string) => void;
}

/** Counters of a {@linkcode Translator}. */
export interface TranslatorStats {
  /** Connections taken on (TCP accepted on a mapped port or SOCKS, Serval accepted on an export). */
  accepted: number;
  /** Connections open now. */
  active: number;
  /** The most open at once. */
  peakActive: number;
  /** Refused at once because `maxConnections` were open. */
  refused: number;
  /** Failed before any byte moved: service unreachable or refused, legacy server down, bad SOCKS request, timeout. */
  failed: number;
  /** Spliced connections that ended with FINs both ways. */
  closed: number;
  /** Spliced connections that ended by a reset (either side). */
  resets: number;
  /** Bytes from TCP programs into Serval. */
  bytesToServal: number;
  /** Bytes from Serval to TCP programs. */
  bytesToTcp: number;
}

/** A TCP listener of the translator (a mapped port or the SOCKS server). */
export interface TcpFront {
  readonly kind: "map" | "socks";
  /** The bound address. */
  readonly address: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** Stops accepting (connections already spliced go on). */
  close(): Promise<void>;
}

/** An exported legacy server. */
export interface ExportHandle {
  readonly prefix: ServicePrefix;
  readonly host: string;
  readonly port: number;
  /** Withdraws the service (connections already spliced go on). */
  close(): void;
}

/** Options of {@linkcode Translator.mapPort}. */
export interface MapOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly address?: string;
  /** Port to bind (0: any free port). */
  readonly port: number;
  /** The service (name, serviceID text, or a parsed ID). */
  readonly service: ServiceId | string;
}

/** Options of {@linkcode Translator.socks}. */
export interface SocksOptions {
  /** Address to bind (default 127.0.0.1: SOCKS asks for no authentication, so it stays local unless told). */
  readonly address?: string;
  /** Port to bind (0: any free port). */
  readonly port: number;
}

/** Options of {@linkcode Translator.exportService}. */
export interface ExportOptions {
  /** The service name or prefix served (`web.example`, `example/32`). */
  readonly service: ServicePrefix | string;
  /** The legacy server's host (name or address). */
  readonly host: string;
  /** The legacy server's port. */
  readonly port: number;
  /** Serval connections waiting to be accepted (the host's default when absent). */
  readonly backlog?: number;
}

const FAILURE_LINES_PER_SECOND = 10;
/**
 * Listen backlog of the TCP front ends (the kernel caps it at somaxconn):
 * node's default of 511 drops SYNs when thousands of programs connect at
 * once, and each dropped SYN costs the program a 1 s retransmission. (Bun
 * 1.4 listens with 512 whatever is asked.)
 */
const LISTEN_BACKLOG = 4096;

/**
 * A translator on a running node. Several may share a node (each has its
 * own {@linkcode ServalApi}).
 *
 * @example Map a local port to a Serval echo service
 * ```ts
 * import net from "node:net";
 * import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
 * import { ServicePrefix } from "@serval/wire";
 * import { Translator } from "@serval/translator";
 * const open = () => openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
 * const a = await ServalNode.start({ role: "adhoc", datapath: await open() });
 * const b = await ServalNode.start({ role: "adhoc", datapath: await open() });
 * a.host.serviceTable.addTarget(ServicePrefix.parse("echo.example"), { type: "forward", locator: b.locals[0]! }); // no broadcast on loopback
 * const echo = new ServalApi(b).listen("echo.example");
 * (async () => { for await (const c of echo) c.readable.pipeTo(c.writable).catch(() => {}); })();
 * const t = new Translator(a);
 * const front = await t.mapPort({ port: 0, service: "echo.example" });
 * const c = net.connect(front.port, "127.0.0.1");
 * c.end("hello");
 * let got = "";
 * for await (const b of c) got += b;
 * console.assert(got === "hello");
 * await t.close();
 * echo.close();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class Translator {
  readonly stats: TranslatorStats = {
    accepted: 0,
    active: 0,
    peakActive: 0,
    refused: 0,
    failed: 0,
    closed: 0,
    resets: 0,
    bytesToServal: 0,
    bytesToTcp: 0,
  };
  readonly #api: ServalApi;
  readonly #max: number;
  readonly #connectMs: number;
  readonly #handshakeMs: number;
  readonly #highWater: number | undefined;
  readonly #log: (line: string) => void;
  readonly #servers = new Set<net.Server>();
  readonly #exports = new Set<ServiceListener>();
  /** Every TCP socket not yet closed (spliced, connecting, handshaking or lingering after a refusal). */
  readonly #sockets = new Set<net.Socket>();
  readonly #conns = new Set<StreamConnection>();
  readonly #settled = new Set<Promise<unknown>>();
  /** Serval connects in flight, to give up on close. */
  readonly #connecting = new Set<(why: string) => void>();
  #closed = false;
  #logWindow = 0;
  #logCount = 0;
  #suppressed = 0;

  /**
   * @param node The running node.
   * @param opts Cap, timeouts, buffers, logging.
   */
  constructor(node: ServalNode, opts: TranslatorOptions = {}) {
    const ka = opts.keepaliveMs ?? 10_000;
    const keepalive = ka > 0 ? { idleUs: ka * 1000, intervalUs: Math.max(100, ka / 4) * 1000, probes: 4 } : undefined;
    this.#api = new ServalApi(node, { ...(keepalive ? { keepalive } : {}), ...opts.connection });
    this.#max = opts.maxConnections ?? 4096;
    this.#connectMs = opts.connectTimeoutMs ?? 10_000;
    this.#handshakeMs = opts.handshakeTimeoutMs ?? 10_000;
    this.#highWater = opts.highWater;
    this.#log = opts.log ?? (() => {});
  }

  /**
   * Listens on a local TCP port; each connection goes to `service`.
   *
   * @returns The listener once bound.
   * @throws {Error} (rejects) When the address cannot be bound (in use, not local).
   * @throws {RangeError} When the service text is invalid.
   */
  async mapPort(opts: MapOptions): Promise<TcpFront> {
    const service = typeof opts.service === "string" ? serviceForHost(opts.service) : opts.service;
    const label = typeof opts.service === "string" ? opts.service : opts.service.toString();
    const front = await this.#listenTcp("map", opts.address ?? "127.0.0.1", opts.port, (s) => this.#track(this.#mapped(s, service, label)));
    this.#log(`mapped ${front.address}:${front.port} -> ${label}`);
    return front;
  }

  /**
   * Runs a SOCKS5 server (RFC 1928: CONNECT, no authentication) on a local TCP port.
   *
   * @returns The listener once bound.
   * @throws {Error} (rejects) When the address cannot be bound.
   */
  async socks(opts: SocksOptions): Promise<TcpFront> {
    const front = await this.#listenTcp("socks", opts.address ?? "127.0.0.1", opts.port, (s) => this.#track(this.#socks(s)));
    const local = /^127\.|^::1$|^::ffff:127\./.test(front.address);
    this.#log(`socks5 on ${front.address}:${front.port}${local ? "" : " (no authentication: open to every host that reaches this address)"}`);
    return front;
  }

  /**
   * Serves `service` with a legacy TCP server: the node registers the
   * service; each Serval connection is spliced to a new TCP connection to
   * `host:port`. When that connect fails the Serval connection is reset.
   *
   * @returns The export (withdraw it with `close()`).
   * @throws {RangeError} When the service text is invalid.
   */
  exportService(opts: ExportOptions): ExportHandle {
    const prefix = typeof opts.service === "string" ? ServicePrefix.parse(opts.service) : opts.service;
    const l = this.#api.listen(prefix, opts.backlog !== undefined ? { backlog: opts.backlog } : {});
    this.#exports.add(l);
    const label = typeof opts.service === "string" ? opts.service : prefix.toString();
    (async () => {
      for await (const conn of l) this.#track(this.#exported(conn, opts.host, opts.port));
    })();
    this.#log(`exporting ${label} -> ${opts.host}:${opts.port}`);
    return {
      prefix,
      host: opts.host,
      port: opts.port,
      close: () => {
        this.#exports.delete(l);
        l.close();
      },
    };
  }

  /**
   * Stops everything: listeners closed, services withdrawn, connections
   * still open reset (both sides). Waits until they are gone.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const servers = [...this.#servers].map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const l of this.#exports) l.close();
    this.#exports.clear();
    for (const giveUp of [...this.#connecting]) giveUp("the translator is closing");
    for (const s of [...this.#sockets]) resetSocket(s);
    for (const c of this.#conns) c.abort();
    this.#api.close();
    await Promise.all([...servers, ...this.#settled]);
  }

  // -------------------------------------------------------------------------

  #track(p: Promise<void>): void {
    const q = p.catch((e) => this.#fail(`internal error: ${e instanceof Error ? e.message : String(e)}`));
    this.#settled.add(q);
    void q.then(() => this.#settled.delete(q));
  }

  /** Takes a connection on, or refuses it when the cap is reached. */
  #admit(): boolean {
    if (this.#closed || this.stats.active >= this.#max) {
      this.stats.refused++;
      return false;
    }
    this.stats.accepted++;
    this.stats.active++;
    if (this.stats.active > this.stats.peakActive) this.stats.peakActive = this.stats.active;
    return true;
  }

  #release(conn: StreamConnection | undefined): void {
    this.stats.active--;
    if (conn) this.#conns.delete(conn);
  }

  /** Tracks a socket until it closes, so that close() can reset it whatever its state. */
  #own(s: net.Socket): void {
    this.#sockets.add(s);
    s.once("close", () => this.#sockets.delete(s));
  }

  #account(r: SpliceResult): void {
    this.stats.bytesToServal += r.toServal;
    this.stats.bytesToTcp += r.toTcp;
    if (r.end === "closed") this.stats.closed++;
    else this.stats.resets++;
  }

  #fail(line: string): void {
    this.stats.failed++;
    // Connections given up by close() are not news.
    if (this.#closed) return;
    const now = Math.floor(performance.now() / 1000);
    if (now !== this.#logWindow) {
      this.#logWindow = now;
      this.#logCount = 0;
    }
    if (this.#logCount >= FAILURE_LINES_PER_SECOND) {
      this.#suppressed++;
      return;
    }
    this.#logCount++;
    const more = this.#suppressed > 0 ? ` (${this.#suppressed} similar lines suppressed)` : "";
    this.#suppressed = 0;
    this.#log(line + more);
  }

  #listenTcp(kind: "map" | "socks", address: string, port: number, onSocket: (s: net.Socket) => void): Promise<TcpFront> {
    if (this.#closed) return Promise.reject(new Error("Cannot listen: the translator is closed"));
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: kind === "map" }, (s) => {
      // An error with nobody listening would be thrown: every socket gets a listener at once.
      s.on("error", () => {});
      this.#own(s);
      onSocket(s);
    });
    return new Promise<TcpFront>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => {
        reject(new Error(`Cannot listen on ${address}:${port} (${kind === "map" ? "mapped port" : "SOCKS"}): ${e.code ?? e.message}`));
      });
      server.listen({ host: address, port, backlog: LISTEN_BACKLOG }, () => {
        server.removeAllListeners("error");
        server.on("error", (e) => this.#fail(`${kind} listener ${address}:${port}: ${e.message}`));
        this.#servers.add(server);
        const a = server.address() as net.AddressInfo;
        resolve({
          kind,
          address: a.address,
          port: a.port,
          close: () =>
            new Promise<void>((r) => {
              this.#servers.delete(server);
              server.close(() => r());
            }),
        });
      });
    });
  }

  /** A Serval connect bounded in time; a late success is aborted. */
  #connect(service: ServiceId): Promise<StreamConnection> {
    return new Promise((resolve, reject) => {
      let done = false;
      const giveUp = (why: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#connecting.delete(giveUp);
        reject(new Error(why));
      };
      const timer = setTimeout(() => giveUp("timed out"), this.#connectMs);
      // close() must not wait for connects in flight.
      this.#connecting.add(giveUp);
      this.#api.connect(service).then(
        (c) => {
          if (done) return c.abort();
          done = true;
          clearTimeout(timer);
          this.#connecting.delete(giveUp);
          resolve(c);
        },
        // "Cannot connect to <id>: <reason>": keep the reason.
        (e: Error) => giveUp(e.message.replace(/^Cannot connect to [^:]*: /, "")),
      );
    });
  }

  async #spliceTracked(socket: net.Socket, conn: StreamConnection, head?: Uint8Array): Promise<void> {
    this.#conns.add(conn);
    if (this.#closed) conn.abort();
    const r = await splice(socket, conn, {
      ...(this.#highWater !== undefined ? { highWater: this.#highWater } : {}),
      ...(head ? { head } : {}),
    });
    this.#account(r);
    this.#release(conn);
  }

  async #mapped(socket: net.Socket, service: ServiceId, label: string): Promise<void> {
    if (!this.#admit()) return resetSocket(socket);
    socket.setNoDelay(true);
    let conn: StreamConnection;
    try {
      conn = await this.#connect(service);
    } catch (e) {
      this.#fail(`cannot connect ${peer(socket)} to ${label}: ${(e as Error).message}`);
      resetSocket(socket);
      this.#release(undefined);
      return;
    }
    if (socket.destroyed) {
      conn.abort();
      this.#release(undefined);
      return;
    }
    await this.#spliceTracked(socket, conn);
  }

  async #socks(socket: net.Socket): Promise<void> {
    if (!this.#admit()) return resetSocket(socket);
    socket.setNoDelay(true);
    const req = await socksHandshake(socket, this.#handshakeMs);
    if (typeof req === "string") {
      this.#fail(`socks ${peer(socket)}: ${req}`);
      this.#release(undefined);
      return;
    }
    const refuse = (code: SocksReplyCode, why: string) => {
      this.#fail(`socks ${peer(socket)} -> ${req.host}: ${why}`);
      endWith(socket, requestReply(code), this.#handshakeMs);
      this.#release(undefined);
    };
    let service: ServiceId;
    try {
      service = serviceForHost(req.host, req.addressType);
    } catch (e) {
      return refuse(SocksReply.hostUnreachable, (e as Error).message);
    }
    let conn: StreamConnection;
    try {
      conn = await this.#connect(service);
    } catch (e) {
      const why = (e as Error).message;
      return refuse(/^refused/.test(why) ? SocksReply.connectionRefused : SocksReply.hostUnreachable, why);
    }
    if (socket.destroyed) {
      conn.abort();
      this.#release(undefined);
      return;
    }
    socket.write(requestReply(SocksReply.succeeded));
    await this.#spliceTracked(socket, conn, req.head);
  }

  async #exported(conn: StreamConnection, host: string, port: number): Promise<void> {
    if (!this.#admit()) {
      conn.abort();
      return;
    }
    this.#conns.add(conn);
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    socket.on("error", () => {});
    this.#own(socket);
    const err = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve("timed out"), this.#connectMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      socket.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(e.code ?? e.message);
      });
      socket.once("close", () => {
        clearTimeout(timer);
        resolve("closed");
      });
    });
    if (err !== undefined || conn.gone || this.#closed) {
      if (err !== undefined) {
        this.#fail(`cannot reach the exported server ${host}:${port}: ${err}`);
        socket.destroy();
      } else {
        // The Serval client went away (reset) while we connected: the server sees an RST too.
        resetSocket(socket);
      }
      conn.abort();
      this.#release(conn);
      return;
    }
    await this.#spliceTracked(socket, conn);
  }
}

/** A finished SOCKS handshake: the request's target and the bytes the client sent after it. */
interface SocksTarget {
  readonly host: string;
  readonly addressType: "domain" | "ipv4";
  readonly port: number;
  readonly head: Uint8Array | undefined;
}

/**
 * Reads the greeting and the request, answering the greeting; bounded in
 * bytes (the two messages' maxima plus one read) and in time. On failure the
 * socket is answered and closed, and the reason returned.
 */
function socksHandshake(socket: net.Socket, timeoutMs: number): Promise<SocksTarget | string> {
  return new Promise((resolve) => {
    let buf = new Uint8Array(0);
    let phase: "greeting" | "request" = "greeting";
    const done = (r: SocksTarget | string) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(r);
    };
    const timer = setTimeout(() => {
      resetSocket(socket);
      done(`no complete SOCKS5 handshake within ${timeoutMs} ms`);
    }, timeoutMs);
    const onClose = () => done("the client left during the SOCKS5 handshake");
    const onData = (chunk: Buffer) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      if (buf.length > MAX_GREETING_LEN + MAX_REQUEST_LEN + 65536) {
        resetSocket(socket);
        return done("SOCKS5 handshake too long");
      }
      if (phase === "greeting") {
        const g = parseGreeting(buf);
        if (g.type === "more") return;
        if (g.type === "bad-version") {
          socket.destroy();
          return done(`not a SOCKS5 client (version byte ${g.version})`);
        }
        if (g.type === "no-method") {
          endWith(socket, greetingReply(false), timeoutMs);
          return done("the client offers no method without authentication");
        }
        socket.write(greetingReply(true));
        buf = buf.subarray(g.length);
        phase = "request";
      }
      const r = parseRequest(buf);
      if (r.type === "more") return;
      if (r.type === "refuse") {
        endWith(socket, requestReply(r.reply), timeoutMs);
        return done(r.reason);
      }
      // Nothing more is read until the Serval connection is up.
      socket.pause();
      const head = buf.length > r.length ? buf.slice(r.length) : undefined;
      done({ host: r.host, addressType: r.addressType, port: r.port, head });
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/**
 * Sends a last answer and closes our side; what the client still sends is
 * discarded; a client that never closes its side is destroyed after `ms`.
 */
function endWith(socket: net.Socket, bytes: Uint8Array, ms: number): void {
  if (socket.destroyed) return;
  socket.end(bytes);
  socket.resume();
  socket.setTimeout(ms, () => socket.destroy());
}

function peer(s: net.Socket): string {
  return `${s.remoteAddress ?? "?"}:${s.remotePort ?? "?"}`;
}

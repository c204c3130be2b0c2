/**
 * {@linkcode ManagementServer}: the management socket of a running node. A
 * unix stream socket `<runDir>/mgmt.sock` (mode 0600, in a directory created
 * 0755), newline-delimited JSON requests answered one line each.
 *
 * Bad bytes never throw: a line that is not a valid request is answered with
 * an error and counted; a line longer than {@linkcode MAX_REQUEST_BYTES} is
 * answered `too-large` and its connection closed.
 *
 * Remote access is off unless asked for ({@linkcode RemoteOptions}): then a
 * TCP listener too, where a connection's first request must be `auth` with
 * the token; anything else, or a wrong token, is answered `unauthorized` and
 * the connection closed, as is one that does not authenticate in time.
 * Local and remote connections have limits of their own, so that remote
 * clients (authenticated or not) cannot lock out local management; a
 * connection turned away is closed once told why.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { chmod, lstat, unlink } from "node:fs/promises";
import * as net from "node:net";
import { ensureRunDir } from "@serval/runtime";
import { handleRequest, type ManagementContext, type ManagementCounters, ManagementFault } from "./handle_request.ts";
import { decodeRequest, type ErrorCode, MAX_REQUEST_BYTES, PROTOCOL_VERSION } from "./protocol.ts";

/** Most local (unix socket) connections served at once (more are answered `busy` and closed). */
export const MAX_CONNECTIONS = 32;

/** Most remote (TCP) connections served at once, authenticated or not (more are answered `busy` and closed). */
export const MAX_REMOTE_CONNECTIONS = 8;

/** Default time a remote connection has to authenticate before it is closed (ms). */
export const AUTH_TIMEOUT_MS = 5000;

/** How long a connection told `busy`/`unauthorized`/`too-large` may take to read it and close before it is destroyed (ms). */
const LINGER_MS = 500;

/**
 * A management server cannot start: another daemon answers on the socket,
 * the path is not a socket, the directory cannot be made.
 *
 * @example
 * ```ts
 * import { ManagementStartError } from "@serval/management";
 * console.assert(new ManagementStartError("x").name === "ManagementStartError");
 * ```
 */
export class ManagementStartError extends Error {
  override readonly name = "ManagementStartError";
  readonly _tag = "ManagementStartError";
}

/** An opt-in TCP listener for remote management. */
export interface RemoteOptions {
  /** Address to bind (e.g. `127.0.0.1`, or an address of a management network). */
  readonly host: string;
  /** Port (0: any free one; see {@linkcode ManagementServer.remotePort}). */
  readonly port: number;
  /** The shared secret every connection must present first (at least 16 characters). */
  readonly token: string;
  /** Milliseconds a connection has to authenticate before it is closed (default {@linkcode AUTH_TIMEOUT_MS}). */
  readonly authTimeoutMs?: number;
}

/** What a server runs requests against: the node, its role and the port of forward targets written without one. */
export type ManagementTarget = Omit<ManagementContext, "counters">;

/**
 * Whether something answers on a unix socket path.
 *
 * @param path The socket path.
 * @param timeoutMs How long to wait for the connection.
 * @returns `true` when a connection was accepted.
 *
 * @example
 * ```ts
 * import { socketAnswers } from "@serval/management";
 * console.assert((await socketAnswers("/nonexistent/mgmt.sock")) === false);
 * ```
 */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (v: boolean) => {
      clearTimeout(t);
      s.removeAllListeners();
      s.on("error", () => {});
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/**
 * The management socket of one node.
 *
 * @example Serve a router's management socket, then close it
 * ```ts
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { ManagementServer } from "@serval/management";
 * import { openUdpDatapath, ServalNode } from "@serval/runtime";
 * const dir = mkdtempSync("/tmp/serval-doc-");
 * const node = await ServalNode.start({ role: "router", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0 }) });
 * const server = await ManagementServer.listen(`${dir}/mgmt.sock`, { node, role: "router", startedAt: node.now(), defaultPort: 54325 });
 * await server.close();
 * await node.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export class ManagementServer {
  /** The socket path. */
  readonly path: string;
  /** Connections, requests and errors. */
  readonly counters: ManagementCounters = { connections: 0, requests: 0, errors: 0 };
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #remoteSockets = new Set<net.Socket>();
  readonly #turnedAway = new Set<net.Socket>();
  readonly #ctx: ManagementContext;
  #tcp: net.Server | undefined;
  #tokenHash: Buffer | undefined;
  #authTimeoutMs = AUTH_TIMEOUT_MS;
  #ino = -1;
  #closed: Promise<void> | undefined;

  private constructor(path: string, target: ManagementTarget) {
    this.path = path;
    this.#ctx = { ...target, counters: this.counters };
    this.#server = net.createServer((s) => this.#serve(s, false));
  }

  /** The bound port of the remote listener (`undefined` when there is none). */
  get remotePort(): number | undefined {
    const a = this.#tcp?.address();
    return a !== null && typeof a === "object" ? a.port : undefined;
  }

  /**
   * Creates the run directory (0755) when missing and checks it is ours
   * ({@linkcode ensureRunDir}), replaces a stale socket
   * (one nobody answers on), listens (socket 0600).
   *
   * @param path The socket path (`<runDir>/mgmt.sock`).
   * @param target The node the requests act on.
   * @param remote A TCP listener too (off by default).
   * @returns The listening server.
   * @throws {ManagementStartError} When another daemon answers on `path`, the run directory is not ours, or it cannot listen there.
   */
  static async listen(path: string, target: ManagementTarget, remote?: RemoteOptions): Promise<ManagementServer> {
    if (remote !== undefined && remote.token.length < 16) {
      throw new ManagementStartError("the remote management token is too short (at least 16 characters)");
    }
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    try {
      // 0755, like /run/serval's peers: the sockets' own modes decide who may
      // connect (mgmt.sock 0600, app.sock 0660), and the application socket
      // must stay reachable for the daemon's group. A directory someone else
      // made (or can write) is refused: they could swap our sockets.
      await ensureRunDir(dir);
    } catch (e) {
      throw new ManagementStartError(errorText(e));
    }
    const st = await lstat(path).catch(() => undefined);
    if (st !== undefined) {
      if (!st.isSocket()) throw new ManagementStartError(`${path} exists and is not a socket; remove it or use another --run-dir`);
      if (await socketAnswers(path)) {
        throw new ManagementStartError(`another serval daemon answers on ${path}; stop it or give this one another --run-dir`);
      }
      await unlink(path).catch(() => {});
    }
    const server = new ManagementServer(path, target);
    await server.#listen();
    if (remote !== undefined) {
      try {
        await server.#listenTcp(remote);
      } catch (e) {
        await server.close();
        throw e;
      }
    }
    return server;
  }

  async #listen(): Promise<void> {
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once("error", reject);
        this.#server.listen(this.path, () => {
          this.#server.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      throw new ManagementStartError(`cannot listen on ${this.path}: ${errorText(e)}`);
    } finally {
      process.umask(old);
    }
    await chmod(this.path, 0o600);
    this.#ino = (await lstat(this.path)).ino;
    // A server error after start (none expected on a unix socket) must not crash the daemon.
    this.#server.on("error", () => {});
  }

  async #listenTcp(remote: RemoteOptions): Promise<void> {
    this.#tokenHash = sha256(remote.token);
    this.#authTimeoutMs = remote.authTimeoutMs ?? AUTH_TIMEOUT_MS;
    const tcp = net.createServer((s) => this.#serve(s, true));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(remote.port, remote.host, () => {
          tcp.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      throw new ManagementStartError(`cannot listen for remote management on ${remote.host}:${remote.port}: ${errorText(e)}`);
    }
    tcp.on("error", () => {});
    this.#tcp = tcp;
  }

  /** Stops listening, closes every connection, removes the socket file (if it is still ours). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const s of [...this.#sockets, ...this.#remoteSockets, ...this.#turnedAway]) s.destroy();
      const tcp = this.#tcp;
      if (tcp !== undefined) await new Promise<void>((resolve) => tcp.close(() => resolve()));
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
      const st = await lstat(this.path).catch(() => undefined);
      if (st !== undefined && st.ino === this.#ino) await unlink(this.path).catch(() => {});
    })();
    return this.#closed;
  }

  #serve(s: net.Socket, remote: boolean): void {
    s.on("error", () => {});
    const set = remote ? this.#remoteSockets : this.#sockets;
    const max = remote ? MAX_REMOTE_CONNECTIONS : MAX_CONNECTIONS;
    if (set.size >= max || this.#closed !== undefined) {
      this.counters.errors++;
      this.#turnAway(s, replyError(null, "busy", `too many ${remote ? "remote " : ""}management connections (at most ${max})`));
      return;
    }
    set.add(s);
    this.counters.connections++;
    // A remote connection that does not authenticate in time is cut: it holds a slot and an fd.
    const authTimer = remote
      ? setTimeout(() => {
        this.counters.errors++;
        this.#turnAway(s, replyError(null, "unauthorized", `did not authenticate within ${this.#authTimeoutMs} ms`));
      }, this.#authTimeoutMs)
      : undefined;
    authTimer?.unref();
    s.on("close", () => {
      clearTimeout(authTimer);
      set.delete(s);
      this.counters.connections--;
    });
    const conn = { authenticated: !remote };
    let parts: Buffer[] = [];
    let size = 0;
    s.on("data", (chunk: Buffer) => {
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        if (size + nl - start > MAX_REQUEST_BYTES) return this.#tooLarge(s);
        parts.push(chunk.subarray(start, nl));
        const line = Buffer.concat(parts).toString("utf8");
        parts = [];
        size = 0;
        start = nl + 1;
        if (line.trim() === "") continue;
        if (!s.writable) return;
        const reply = this.#answer(line, conn);
        if (!conn.authenticated) return this.#turnAway(s, reply);
        clearTimeout(authTimer);
        s.write(reply);
      }
      if (start < chunk.length) {
        size += chunk.length - start;
        if (size > MAX_REQUEST_BYTES) return this.#tooLarge(s);
        parts.push(Buffer.from(chunk.subarray(start)));
      }
    });
  }

  #tooLarge(s: net.Socket): void {
    this.counters.requests++;
    this.counters.errors++;
    s.removeAllListeners("data");
    this.#turnAway(s, replyError(null, "too-large", `request longer than ${MAX_REQUEST_BYTES} bytes`));
  }

  /**
   * Sends a last reply and closes: destroyed when the peer closes too, or
   * after {@linkcode LINGER_MS}; never left half-open holding an fd until
   * the peer closes. Tracked so that close() ends it too.
   */
  #turnAway(s: net.Socket, reply: string): void {
    s.removeAllListeners("data");
    this.#turnedAway.add(s);
    const t = setTimeout(() => s.destroy(), LINGER_MS);
    t.unref();
    s.on("close", () => {
      clearTimeout(t);
      this.#turnedAway.delete(s);
    });
    // Whatever else it sent is read and dropped. Not destroyed as soon as the
    // reply is flushed: a close with unread input sends a reset, and the
    // peer may lose the reply. Its FIN closes it (no half-open), else the timer.
    s.resume();
    s.end(reply);
  }

  /** One request line to one reply line. Never throws. */
  #answer(line: string, conn: { authenticated: boolean }): string {
    this.counters.requests++;
    const req = decodeRequest(line);
    if (!conn.authenticated) {
      // A remote connection: the first request must be auth with the token; else it is closed.
      const token = "code" in req || req.op !== "auth" ? undefined : req.token;
      if (token === undefined || !timingSafeEqual(sha256(token), this.#tokenHash!)) {
        this.counters.errors++;
        return replyError(req.id, "unauthorized", token === undefined ? "authenticate first: send auth with the token" : "wrong token");
      }
      conn.authenticated = true;
    }
    if ("code" in req) {
      this.counters.errors++;
      return replyError(req.id, req.code, req.message);
    }
    try {
      const result = handleRequest(this.#ctx, req);
      return `${JSON.stringify({ v: PROTOCOL_VERSION, id: req.id, ok: true, result })}\n`;
    } catch (e) {
      this.counters.errors++;
      if (e instanceof ManagementFault) return replyError(req.id, e.code, e.message);
      return replyError(req.id, "internal", `internal error: ${errorText(e)}`);
    }
  }
}

function replyError(id: number | null, code: ErrorCode, message: string): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, id, ok: false, error: { code, message } })}\n`;
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

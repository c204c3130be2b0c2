/**
 * {@linkcode ManagementClient}: talks to a node's management socket. Each
 * request gets its typed result, or fails with a {@linkcode ManagementError}
 * carrying the daemon's error code and message.
 *
 * @module
 */

import * as net from "node:net";
import { Exit, Schema } from "effect";
import { checkRunDir } from "@serval/runtime";
import {
  decodeResult,
  type ErrorCode,
  MAX_REQUEST_BYTES,
  type Op,
  type ParamsOf,
  PROTOCOL_VERSION,
  Reply,
  type ResultOf,
} from "./protocol.ts";

/**
 * Why a client call failed: a daemon error code, or `no-daemon` (nobody
 * answers), `protocol` (a reply that makes no sense), `closed`, `timeout`,
 * `untrusted` (the socket's directory is in /tmp and not its owner's alone).
 */
export type ClientErrorCode = ErrorCode | "no-daemon" | "protocol" | "closed" | "timeout" | "untrusted";

/**
 * A failed management call.
 *
 * @example
 * ```ts
 * import { ManagementError } from "@serval/management";
 * const e = new ManagementError("not-found", "no rule for web.example/16");
 * console.assert(e.code === "not-found" && e._tag === "ManagementError");
 * ```
 */
export class ManagementError extends Error {
  override readonly name = "ManagementError";
  readonly _tag = "ManagementError";
  /** What went wrong. */
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const decodeReply = Schema.decodeUnknownExit(Reply);

interface Pending {
  readonly op: Op;
  resolve(v: unknown): void;
  reject(e: ManagementError): void;
}

/**
 * A connection to a management socket.
 *
 * @example
 * ```ts
 * import { ManagementClient, ManagementError } from "@serval/management";
 * try {
 *   await ManagementClient.connect("/nonexistent/mgmt.sock");
 * } catch (e) {
 *   console.assert(e instanceof ManagementError && e.code === "no-daemon");
 * }
 * ```
 */
export class ManagementClient {
  readonly #socket: net.Socket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buffer = "";
  #closed = false;
  /** Why the connection ended (a `busy` answer before any request). */
  #ended: ManagementError | undefined;
  readonly #timeoutMs: number;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => this.#data(d));
    socket.on("error", () => {});
    socket.on("close", () => this.#fail(new ManagementError("closed", "the daemon closed the management connection")));
  }

  /**
   * Connects to a management socket. A socket in /tmp (the non-root
   * fallback run directory) is only trusted when its directory is ours or
   * root's and writable by nobody else ({@linkcode checkRunDir}): anyone
   * can create a directory there and plant a socket that collects requests.
   *
   * @param path The socket path (`<runDir>/mgmt.sock`).
   * @param opts `timeoutMs`: for the connection and each request (default 10 s).
   * @returns The connected client.
   * @throws {ManagementError} `no-daemon` when nothing answers there; `untrusted` for an unfit directory in /tmp.
   */
  static async connect(path: string, opts: { timeoutMs?: number } = {}): Promise<ManagementClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    if (dir.startsWith("/tmp/")) {
      try {
        await checkRunDir(dir);
      } catch (e) {
        const code = (e as { cause?: NodeJS.ErrnoException }).cause?.code;
        // A missing directory: nobody serves there (the usual "no daemon" answer).
        if (code !== "ENOENT") throw new ManagementError("untrusted", `not connecting to ${path}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      const t = setTimeout(() => {
        s.destroy();
        reject(new ManagementError("no-daemon", `no serval daemon answers on ${path} (timed out)`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        s.removeAllListeners("error");
        resolve(new ManagementClient(s, timeoutMs));
      });
      s.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(t);
        const why = e.code === "ENOENT" ? "no socket" : e.code === "ECONNREFUSED" ? "nobody listens" : e.code === "EACCES" ? "permission denied" : e.message;
        reject(new ManagementError("no-daemon", `no serval daemon answers on ${path} (${why}); is serval host/router running with this --run-dir?`));
      });
    });
  }

  /**
   * Connects to a daemon's remote management listener (TCP, opt-in on the
   * daemon) and authenticates with the token.
   *
   * @param host The daemon's address.
   * @param port The listener's port.
   * @param token The shared token.
   * @param opts `timeoutMs` (default 10 s).
   * @returns The authenticated client.
   * @throws {ManagementError} `no-daemon` when nothing answers; `unauthorized` on a wrong token.
   */
  static connectTcp(host: string, port: number, token: string, opts: { timeoutMs?: number } = {}): Promise<ManagementClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<ManagementClient>((resolve, reject) => {
      const s = net.connect(port, host);
      const t = setTimeout(() => {
        s.destroy();
        reject(new ManagementError("no-daemon", `no serval daemon answers on ${host}:${port} (timed out)`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        s.removeAllListeners("error");
        resolve(new ManagementClient(s, timeoutMs));
      });
      s.once("error", (e: Error) => {
        clearTimeout(t);
        reject(new ManagementError("no-daemon", `no serval daemon answers on ${host}:${port} (${e.message})`));
      });
    }).then(async (c) => {
      try {
        await c.request("auth", { token });
        return c;
      } catch (e) {
        c.close();
        throw e;
      }
    });
  }

  /**
   * Sends one request and waits for its reply.
   *
   * @param op The operation.
   * @param params Its parameters.
   * @returns The typed result.
   * @throws {ManagementError} With the daemon's error code and message, or `protocol`/`closed`/`timeout`.
   */
  request<O extends Op>(op: O, params: ParamsOf<O>): Promise<ResultOf<O>> {
    if (this.#closed) return Promise.reject(this.#ended ?? new ManagementError("closed", "the management connection is closed"));
    const id = this.#nextId++;
    const line = `${JSON.stringify({ ...(params as object), v: PROTOCOL_VERSION, id, op })}\n`;
    return this.#send(id, op, line) as Promise<ResultOf<O>>;
  }

  /**
   * Sends a raw line (tests of bad input) and waits for the next reply.
   *
   * @param line Bytes to send (a newline is not added).
   * @returns The reply as decoded JSON.
   */
  raw(line: string | Uint8Array): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const id = -this.#nextId++;
      this.#pending.set(id, { op: "hello", resolve: resolve as (v: unknown) => void, reject });
      this.#socket.write(line);
    });
  }

  /** Closes the connection. */
  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #send(id: number, op: Op, line: string): Promise<unknown> {
    if (line.length > MAX_REQUEST_BYTES) {
      return Promise.reject(new ManagementError("too-large", `request longer than ${MAX_REQUEST_BYTES} bytes`));
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ManagementError("timeout", `no reply to ${op} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, {
        op,
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.#socket.write(line);
    });
  }

  #data(d: string): void {
    this.#buffer += d;
    for (let nl = this.#buffer.indexOf("\n"); nl >= 0; nl = this.#buffer.indexOf("\n")) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      this.#reply(line);
    }
  }

  #reply(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return this.#fail(new ManagementError("protocol", `the daemon sent a line that is not JSON: ${line.slice(0, 80)}`));
    }
    const r = decodeReply(json);
    if (!Exit.isSuccess(r)) return this.#fail(new ManagementError("protocol", `the daemon sent a reply this client does not understand: ${line.slice(0, 80)}`));
    const reply = r.value;
    // Raw lines (negative ids) take the next reply whatever its id.
    const raw = [...this.#pending.keys()].find((k) => k < 0);
    const key = raw ?? (reply.id ?? [...this.#pending.keys()][0]);
    const p = key === undefined ? undefined : this.#pending.get(key);
    if (p === undefined || key === undefined) {
      if (!reply.ok) this.#ended ??= new ManagementError(reply.error.code, reply.error.message);
      return;
    }
    this.#pending.delete(key);
    if (raw !== undefined) return p.resolve(reply);
    if (!reply.ok) return p.reject(new ManagementError(reply.error.code, reply.error.message));
    const result = decodeResult(p.op, reply.result);
    if (typeof result === "string") return p.reject(new ManagementError("protocol", `bad ${p.op} reply: ${result}`));
    p.resolve(result);
  }

  #fail(e: ManagementError): void {
    this.#closed = true;
    this.#ended ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }
}

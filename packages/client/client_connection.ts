/**
 * {@linkcode ClientConnection}: a Serval stream seen from an application in
 * another process, with the shape of the in-process `StreamConnection`
 * (WHATWG `readable`/`writable`, `close`, `abort`, `closed`).
 *
 * @module
 */

import { type AppMessage, MAX_DATA } from "./app_protocol.ts";
import { ServalClientError, type ServalClientErrorCode } from "./serval_client_error.ts";

/** @internal What a connection needs of its client. */
export interface ClientLink {
  send(m: AppMessage): void;
  /** Our receive window per stream. */
  readonly window: number;
  /** The daemon's receive window per stream. */
  readonly peerWindow: number;
  /** The daemon broke the protocol: the whole client connection goes. */
  fatal(reason: string): void;
  forget(channel: number): void;
  /** Whether the socket to the daemon holds more than it should (datagrams are dropped). */
  readonly backedUp: boolean;
}

/** How a connection ended: `normal` after both sides closed, else the failure's code. */
export type ClientCloseReason = "normal" | ServalClientErrorCode;

/**
 * A connected byte stream through the daemon. Made by
 * {@linkcode ServalClient.connect} and {@linkcode ClientListener.accept}.
 *
 * - `readable`: bytes from the peer; ends at the peer's FIN; errors on reset.
 *   Bytes are taken from the daemon only as the reader reads (credit), so a
 *   slow reader slows the remote sender.
 * - `writable`: bytes to the peer; a write resolves once the daemon has room
 *   for it; `close()` sends our FIN after everything written.
 *
 * @example Echo through a daemon (see {@linkcode connectDaemon})
 * ```ts
 * import type { ClientConnection } from "@serval/client";
 * async function echo(c: ClientConnection): Promise<void> {
 *   await c.readable.pipeTo(c.writable); // peer's FIN → our FIN
 * }
 * ```
 */
export class ClientConnection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves with how the connection ended. */
  readonly closed: Promise<ClientCloseReason>;
  readonly #link: ClientLink;
  readonly #rx: Uint8Array[] = [];
  #rxBytes = 0;
  #finIn = false;
  #finOut = false;
  #error: ServalClientError | undefined;
  #gone = false;
  #credit: number;
  /** The write in progress (waiting for credit): our FIN goes after it. */
  #writing: Promise<void> | undefined;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;
  #resolveClosed!: (r: ClientCloseReason) => void;

  /** @internal Made by the client when the daemon says the stream is up. */
  constructor(link: ClientLink, readonly channel: number) {
    this.#link = link;
    this.#credit = link.peerWindow;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.readable = new ReadableStream<Uint8Array>({
      pull: (c) => this.#pull(c),
      cancel: () => this.abort(),
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => (this.#writing = this.#write(chunk)),
      close: () => this.#close(),
      abort: () => this.abort(),
    });
  }

  /** Whether the connection is over. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Sends our FIN (after everything written) whatever holds the writable's lock; a no-op when already sent. */
  close(): Promise<void> {
    return this.#close();
  }

  /** Resets the stream at once (both directions). */
  abort(): void {
    if (this.#gone) return;
    this.#link.send({ type: "reset", channel: this.channel, code: "aborted", message: "aborted by the application" });
    this.#fail(new ServalClientError("aborted", "Connection aborted"));
  }

  async #pull(c: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      const chunk = this.#rx.shift();
      if (chunk) {
        this.#rxBytes -= chunk.length;
        c.enqueue(chunk);
        // Room again: the daemon may send that much more.
        if (!this.#gone) this.#link.send({ type: "credit", channel: this.channel, bytes: chunk.length });
        return;
      }
      if (this.#error) return c.error(this.#error);
      if (this.#finIn) return c.close();
      await new Promise<void>((r) => (this.#wakeReader = r));
    }
  }

  async #write(chunk: Uint8Array): Promise<void> {
    for (let off = 0; off < chunk.length;) {
      while (this.#credit <= 0 && !this.#error && !this.#gone) await new Promise<void>((r) => (this.#wakeWriter = r));
      if (this.#error) throw this.#error;
      if (this.#gone || this.#finOut) throw new ServalClientError("aborted", "Cannot write: the connection is closed");
      const n = Math.min(this.#credit, MAX_DATA, chunk.length - off);
      this.#link.send({ type: "data", channel: this.channel, payload: chunk.subarray(off, off + n) });
      this.#credit -= n;
      off += n;
    }
  }

  async #close(): Promise<void> {
    if (this.#writing) await this.#writing.catch(() => {});
    if (this.#finOut) return;
    if (this.#error) throw this.#error;
    if (this.#gone) return;
    this.#finOut = true;
    this.#link.send({ type: "fin", channel: this.channel });
    this.#maybeDone();
  }

  #wake(): void {
    const r = this.#wakeReader;
    const w = this.#wakeWriter;
    this.#wakeReader = this.#wakeWriter = undefined;
    r?.();
    w?.();
  }

  /** @internal A stream message from the daemon. */
  handle(m: AppMessage): void {
    // After our reset or our end, frames the daemon sent before hearing of it.
    if (this.#gone) return;
    switch (m.type) {
      case "data":
        if (this.#finIn) return this.#link.fatal(`data after fin on channel ${this.channel}`);
        if (this.#rxBytes + m.payload.length > this.#link.window) return this.#link.fatal(`data beyond the window on channel ${this.channel}`);
        this.#rx.push(m.payload);
        this.#rxBytes += m.payload.length;
        return this.#wake();
      case "fin":
        if (this.#finIn) return this.#link.fatal(`second fin on channel ${this.channel}`);
        this.#finIn = true;
        this.#wake();
        return this.#maybeDone();
      case "reset":
        return this.#fail(new ServalClientError(m.code, m.message));
      case "credit":
        if (this.#credit + m.bytes > this.#link.peerWindow) return this.#link.fatal(`credit beyond the window on channel ${this.channel}`);
        this.#credit += m.bytes;
        return this.#wake();
      default:
        return this.#link.fatal(`${m.type} on stream channel ${this.channel}`);
    }
  }

  /** @internal The stream failed (reset, or the daemon connection is gone). */
  fail(code: ServalClientErrorCode, message: string): void {
    this.#fail(new ServalClientError(code, message));
  }

  #fail(e: ServalClientError): void {
    if (this.#gone) return;
    this.#gone = true;
    // Bytes already here stay readable only after a clean end; a reset loses them, as in TCP.
    this.#rx.length = 0;
    this.#rxBytes = 0;
    this.#error = e;
    this.#link.forget(this.channel);
    this.#wake();
    this.#resolveClosed(e.code);
  }

  /** Both FINs exchanged: nothing more can come for this channel. */
  #maybeDone(): void {
    if (!this.#finIn || !this.#finOut || this.#gone) return;
    this.#gone = true;
    this.#link.forget(this.channel);
    this.#wake();
    this.#resolveClosed("normal");
  }
}

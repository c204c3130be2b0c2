/**
 * {@linkcode StreamConnection}: one Serval TCP flow as WHATWG streams — the
 * common ground of Bun, Deno and Node. Backpressure is end to end: the
 * readable side takes bytes from the transport only while its queue has
 * room (otherwise the transport's receive window closes and the peer
 * stops), and a write resolves only once the send buffer has taken the
 * whole chunk.
 *
 * @module
 */

import type { CloseReason } from "@serval/sal";
import type { StreamStats, StreamTransport } from "@serval/transport";
import type { ServalNode } from "./serval_node.ts";

/** Bytes the readable side queues before it stops taking from the transport. */
const READ_HIGH_WATER = 256 * 1024;
/** Largest chunk handed to the reader. */
const READ_CHUNK = 64 * 1024;

interface PendingWrite {
  readonly chunk: Uint8Array;
  off: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/**
 * A connected byte stream. Made by {@linkcode ServalApi.connect} and
 * {@linkcode ServiceListener.accept}.
 *
 * - `readable`: bytes from the peer; ends when the peer closes its side;
 *   errors when the flow fails (reset, timeout, unreachable).
 * - `writable`: bytes to the peer; `close()` on it (or on the writer) sends
 *   our FIN after everything written, and the peer may keep sending.
 * - `closed`: resolves with the reason once the flow is gone.
 */
export class StreamConnection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves with the close reason when the flow is gone ("normal" after a clean close). */
  readonly closed: Promise<CloseReason>;
  readonly #node: ServalNode;
  readonly #t: StreamTransport;
  #read: ReadableStreamDefaultController<Uint8Array> | undefined;
  #readDone = false;
  #pending: PendingWrite | undefined;
  #closeWrite: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #writeClosed = false;
  #gone = false;
  #resolveClosed!: (r: CloseReason) => void;

  /** @internal Made by the API when the flow is up. */
  constructor(node: ServalNode, readonly flow: number, transport: StreamTransport) {
    this.#node = node;
    this.#t = transport;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#read = c;
      },
      // The reader made room: take more from the transport (and reopen the
      // window) — if the transport holds any; otherwise the next packet will.
      pull: () => {
        if (this.#t.readable > 0) this.#node.kick();
      },
      cancel: () => {
        this.#readDone = true;
        this.abort();
      },
    }, { highWaterMark: READ_HIGH_WATER, size: (chunk) => chunk?.byteLength ?? 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (this.#gone) return reject(new Error("Cannot write: the connection is closed"));
          this.#pending = { chunk, off: 0, resolve, reject };
          this.#node.kick();
        }),
      close: () =>
        new Promise<void>((resolve, reject) => {
          if (this.#gone) return reject(new Error("Cannot close: the connection is gone"));
          this.#requestClose(resolve, reject);
        }),
      abort: () => this.abort(),
    });
  }

  /** Whether the connection is over (closed cleanly, reset or failed). */
  get gone(): boolean {
    return this.#gone;
  }

  /** Transport counters (cwnd, RTT, retransmissions, bytes). */
  stats(): StreamStats {
    return this.#t.refreshStats();
  }

  /**
   * Closes our side gracefully whatever holds the writable's lock: our FIN
   * goes after everything already written; the peer may keep sending. A no-op
   * when the write side is already closed or closing.
   */
  close(): Promise<void> {
    if (this.#gone || this.#writeClosed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#requestClose(resolve, reject));
  }

  /** Asks for the FIN after pending writes; a second request waits for the same one. */
  #requestClose(resolve: () => void, reject: (e: Error) => void): void {
    if (this.#writeClosed) return resolve();
    const prev = this.#closeWrite;
    this.#closeWrite = prev
      ? { resolve: () => (prev.resolve(), resolve()), reject: (e) => (prev.reject(e), reject(e)) }
      : { resolve, reject };
    this.#node.kick();
  }

  /** Resets the flow at once (both directions; queued data is lost). */
  abort(): void {
    if (this.#gone) return;
    this.#node.host.abort(this.#node.now(), this.flow);
    this.#node.kick();
  }

  /** @internal Moves bytes both ways; called once per node step. */
  pump(now: number): void {
    if (this.#gone) return;
    const host = this.#node.host;
    let moved = false;
    const p = this.#pending;
    if (p) {
      p.off += this.#t.write(p.chunk, p.off, p.chunk.length - p.off);
      if (p.off === p.chunk.length) {
        this.#pending = undefined;
        p.resolve();
      }
      moved = true;
    }
    if (!this.#pending && this.#closeWrite && !this.#writeClosed) {
      this.#writeClosed = true;
      host.close(now, this.flow);
      this.#closeWrite.resolve();
    }
    const c = this.#read;
    if (c && !this.#readDone) {
      while ((c.desiredSize ?? 0) > 0 && this.#t.readable > 0) {
        const n = Math.min(this.#t.readable, READ_CHUNK, Math.max(1, c.desiredSize ?? 1));
        const buf = new Uint8Array(n);
        const got = this.#t.read(buf, 0, n);
        if (got === 0) break;
        c.enqueue(got === n ? buf : buf.subarray(0, got));
        moved = true;
      }
      if (this.#t.eof) {
        this.#readDone = true;
        c.close();
      }
    }
    // Both directions finished (our FIN acknowledged, the peer's read): the
    // connection is over for the application, though the SAL keeps the flow
    // in TIME-WAIT a while longer.
    if (this.#readDone && this.#writeClosed && this.#t.finished && this.#t.eof) this.down("normal");
    // Data written, or a window reopened by reading: send now.
    if (moved && host.flowState(this.flow)) host.flush(now, this.flow);
  }

  /** @internal The flow is gone. */
  down(reason: CloseReason): void {
    if (this.#gone) return;
    this.#gone = true;
    const err = new Error(`Connection ${reason}`);
    if (!this.#readDone && this.#read) {
      this.#readDone = true;
      // What the peer sent before a clean close stays readable.
      if (reason === "normal") {
        const left = this.#t.readable;
        if (left > 0) {
          const buf = new Uint8Array(left);
          this.#read.enqueue(buf.subarray(0, this.#t.read(buf, 0, left)));
        }
        this.#read.close();
      } else {
        this.#read.error(err);
      }
    }
    this.#pending?.reject(err);
    this.#pending = undefined;
    if (this.#closeWrite && !this.#writeClosed) this.#closeWrite.reject(err);
    this.#resolveClosed(reason);
  }
}

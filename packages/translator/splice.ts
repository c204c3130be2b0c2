/**
 * {@linkcode splice}: joins a kernel TCP socket (`node:net`) and a Serval
 * {@linkcode StreamConnection} so that each carries the other's bytes, with
 * the semantics of a TCP proxy:
 *
 * - **backpressure both ways**: the TCP socket is paused while the Serval
 *   side has `highWater` bytes not yet taken by its send buffer; the Serval
 *   readable is not read while the TCP socket's write buffer is full (so the
 *   Serval receive window closes and the far sender stops);
 * - **half-close both ways**: a FIN from TCP becomes a Serval FIN after the
 *   bytes before it, and the other way; the other direction keeps flowing;
 * - **resets both ways**: a TCP RST (or any socket error) resets the Serval
 *   flow; a Serval reset (or timeout) resets the TCP connection with an RST
 *   (`resetAndDestroy`), so the program sees ECONNRESET, not a clean end.
 *
 * Memory per connection is bounded: `highWater` plus one socket read on the
 * way in (plus the Serval send buffer), and the Serval readable's queue
 * (256 KiB) plus the socket's write buffer and one chunk on the way out.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { StreamConnection } from "@serval/runtime";

/** Options of {@linkcode splice}. */
export interface SpliceOptions {
  /** Bytes written to the Serval side and not yet taken by its send buffer before the TCP socket is paused (default 256 KiB). */
  readonly highWater?: number;
  /** Bytes already read from the socket that go first (a SOCKS client's data sent with its request). */
  readonly head?: Uint8Array;
}

/** How a splice ended. */
export type SpliceEnd =
  /** Both directions finished with FINs. */
  | "closed"
  /** The TCP side failed or was reset: the Serval flow was reset. */
  | "tcp-reset"
  /** The Serval flow failed or was reset: the TCP connection was reset. */
  | "serval-reset";

/** What a finished splice moved. */
export interface SpliceResult {
  /** Bytes from the TCP socket to the Serval flow. */
  readonly toServal: number;
  /** Bytes from the Serval flow to the TCP socket. */
  readonly toTcp: number;
  readonly end: SpliceEnd;
}

/** Default of {@linkcode SpliceOptions.highWater}. */
export const SPLICE_HIGH_WATER = 256 * 1024;

/**
 * Resets a TCP connection (RST) where the runtime can, else destroys it.
 *
 * @param socket The socket.
 *
 * @example
 * ```ts
 * import net from "node:net";
 * import { resetSocket } from "@serval/translator";
 * const server = net.createServer((s) => resetSocket(s));
 * await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
 * const c = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
 * const code = await new Promise((r) => c.on("error", (e: NodeJS.ErrnoException) => r(e.code)));
 * console.assert(code === "ECONNRESET");
 * server.close();
 * ```
 */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  const s = socket as Socket & { resetAndDestroy?: () => Socket };
  try {
    // resetAndDestroy throws on a socket that is not connected (yet).
    if (s.resetAndDestroy && !socket.connecting && socket.readyState !== "closed") s.resetAndDestroy();
    else socket.destroy();
  } catch {
    socket.destroy();
  }
}

/**
 * Splices `socket` and `conn` until both directions end (or one side fails).
 * The socket should have been made with `allowHalfOpen: true` (otherwise a
 * FIN from the program closes both directions at once).
 *
 * @param socket A connected TCP socket (paused or flowing).
 * @param conn A Serval connection nobody else reads or writes.
 * @param opts High-water mark, bytes to send first.
 * @returns Resolves (never rejects) once the splice is over.
 *
 * @example Splice a loopback TCP connection to a Serval echo service
 * ```ts
 * import net from "node:net";
 * import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
 * import { ServicePrefix } from "@serval/wire";
 * import { splice } from "@serval/translator";
 * const open = () => openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
 * const a = await ServalNode.start({ role: "adhoc", datapath: await open() });
 * const b = await ServalNode.start({ role: "adhoc", datapath: await open() });
 * a.host.serviceTable.addTarget(ServicePrefix.parse("echo.example"), { type: "forward", locator: b.locals[0]! }); // no broadcast on loopback
 * const echo = new ServalApi(b).listen("echo.example");
 * const api = new ServalApi(a);
 * (async () => { for await (const c of echo) c.readable.pipeTo(c.writable).catch(() => {}); })();
 * const server = net.createServer({ allowHalfOpen: true }, async (s) => { await splice(s, await api.connect("echo.example")); });
 * await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
 * const c = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
 * c.end("hi");
 * let got = "";
 * for await (const b of c) got += b;
 * console.assert(got === "hi");
 * server.close();
 * echo.close();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export function splice(socket: Socket, conn: StreamConnection, opts: SpliceOptions = {}): Promise<SpliceResult> {
  const high = opts.highWater ?? SPLICE_HIGH_WATER;
  const low = high >> 1;
  return new Promise<SpliceResult>((resolve) => {
    let toServal = 0;
    let toTcp = 0;
    let inflight = 0;
    let paused = false;
    let finished = false;
    /** Our FIN is queued on the Serval side (the program closed its sending side). */
    let upDone = false;
    /** The Serval peer's FIN reached the program (socket.end()). */
    let downDone = false;
    const writer = conn.writable.getWriter();
    const reader = conn.readable.getReader();

    const finish = (end: SpliceEnd) => {
      if (finished) return;
      finished = true;
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onClose);
      socket.off("drain", onDrain);
      onDrain();
      if (end === "tcp-reset") conn.abort();
      else if (end === "serval-reset") resetSocket(socket);
      resolve({ toServal, toTcp, end });
    };
    const servalFailed = () => finish("serval-reset");
    const maybeClosed = () => {
      if (upDone && downDone && socket.destroyed) finish("closed");
    };

    const send = (chunk: Uint8Array) => {
      const n = chunk.length;
      if (n === 0) return;
      toServal += n;
      inflight += n;
      writer.write(chunk).then(() => {
        inflight -= n;
        if (paused && inflight <= low && !finished) {
          paused = false;
          socket.resume();
        }
      }, servalFailed);
      if (inflight >= high && !paused) {
        paused = true;
        socket.pause();
      }
    };
    const onData = (chunk: Buffer) => send(chunk);
    // The program's FIN: ours follows the bytes already written.
    let ended = false;
    const onEnd = () => {
      if (ended) return;
      ended = true;
      writer.close().then(() => {
        upDone = true;
        maybeClosed();
      }, servalFailed);
    };
    // With allowHalfOpen the socket closes by itself once both directions
    // ended; any other close (an RST, an error, a destroy) is a failure.
    const onClose = () => {
      // Both FINs seen: done once our Serval FIN is queued (maybeClosed).
      if (socket.readableEnded && downDone) maybeClosed();
      else finish("tcp-reset");
    };
    let drainWaiter: (() => void) | undefined;
    const onDrain = () => {
      const w = drainWaiter;
      drainWaiter = undefined;
      w?.();
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onClose);
    socket.on("drain", onDrain);
    // Errors are followed by "close"; listening keeps them from being thrown.
    socket.on("error", () => {});
    conn.closed.then((reason) => {
      if (reason !== "normal") servalFailed();
      else maybeClosed();
    });

    if (opts.head && opts.head.length > 0) send(opts.head);
    // The program may have sent its FIN before the splice began (a SOCKS
    // client that sent request, data and FIN in one go).
    if (socket.readableEnded) onEnd();
    else if (socket.isPaused() && !paused) socket.resume();

    (async () => {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        toTcp += r.value.length;
        if (socket.destroyed) return;
        if (!socket.write(r.value)) {
          await new Promise<void>((res) => {
            drainWaiter = res;
            // A socket closed while we wait never drains.
            if (socket.destroyed) onDrain();
          });
          if (finished) return;
        }
      }
      if (socket.destroyed) return;
      socket.end(() => {
        downDone = true;
        maybeClosed();
      });
    })().catch(servalFailed);
  });
}

/**
 * The application protocol between a local application and the host daemon,
 * spoken over the daemon's unix stream socket `<runDir>/app.sock`. Plain
 * synchronous code over `Uint8Array` (no I/O): {@linkcode encodeMessage}
 * and {@linkcode FrameDecoder} are shared by the daemon
 * ({@linkcode AppSocketServer}) and the client library
 * ({@linkcode connectDaemon}).
 *
 * **Frames.** Every frame is `type:u8 channel:u32 length:u32 payload`
 * (big-endian, 9-byte header, payload ≤ {@linkcode MAX_PAYLOAD}). One socket
 * connection carries any number of channels: a channel is one connect, one
 * listener, one datagram socket or one accepted stream. The application
 * numbers the channels it opens in increasing order (1..2^31-1, so never
 * reused); the daemon numbers accepted streams (2^31 and up).
 *
 * **Handshake.** The application's first frame is `hello` (magic `SRVL`,
 * version, its receive window per stream); the daemon answers `welcome`
 * (version, its window) or `error` on channel 0 and closes.
 *
 * **Streams.** `data`, `fin` (half-close: no more data this way), `reset`
 * (both directions die, with a reason) and `credit` travel both ways. A side
 * may have at most the peer's window of unacknowledged `data` bytes on a
 * stream; the receiver grants `credit` as its application consumes them. So
 * a slow reader stops the daemon reading the Serval flow, whose receive
 * window then closes and stops the remote sender: flow control end to end,
 * and each side's memory per stream is bounded by its window.
 *
 * **Requests.** `connect`, `listen` and `open-datagram` open a channel and
 * get `ok` or `error` on it. A listener announces each connection it hands
 * over with `accepted` (the new stream's channel); the application returns
 * `credit` (in connections) on the listener as it takes them, so at most
 * `backlog` wait on its side and the rest wait in the host's accept queue.
 * `close` ends a listener (withdrawn from the routers) or a datagram socket.
 *
 * **Leaving.** When the application's end of the socket closes (even only
 * its writing half), everything it had goes: listeners are withdrawn, its
 * datagram sockets closed, streams it had half-closed (sent `fin`) finish
 * delivering (the daemon drops what the peer still sends until its FIN, for
 * at most a linger time, then resets them), every other stream is reset.
 *
 * **Errors.** A request that fails (`connect` refused or unreachable,
 * `listen` on a bad prefix…) gets `error` on its channel. Bad bytes (unknown
 * type, payload too long or malformed, data beyond the window, no `hello`)
 * get `error` on channel 0, then the daemon closes the connection; so do a
 * connection that says no `hello` in time (`timeout`) and one beyond the
 * daemon's number of applications (`limit`). Service text is at most
 * {@linkcode MAX_NAME} bytes (the client library refuses longer names
 * itself); `error`/`reset` text at most {@linkcode MAX_MESSAGE}.
 *
 * @example Encode a frame and decode it back
 * ```ts
 * import { encodeMessage, FrameDecoder } from "@serval/client";
 * const d = new FrameDecoder();
 * d.push(encodeMessage({ type: "connect", channel: 1, service: "web.example" }));
 * const m = d.next();
 * console.assert(m?.type === "connect" && m.service === "web.example");
 * ```
 *
 * @module
 */

import type { Locator } from "@serval/wire";

/** The protocol version this code speaks. */
export const APP_PROTOCOL_VERSION = 1;
/** First bytes of a `hello` payload: "SRVL". */
export const APP_MAGIC = 0x5352564c;
/** Bytes of a frame header. */
export const HEADER_LEN = 9;
/** Longest payload a frame may carry. */
export const MAX_PAYLOAD = 128 * 1024;
/** Longest `data` payload a sender produces. */
export const MAX_DATA = 64 * 1024;
/** Smallest receive window a side may announce. */
export const MIN_WINDOW = 1024;
/** Largest receive window a side may announce. */
export const MAX_WINDOW = 16 * 1024 * 1024;
/** Default receive window per stream. */
export const DEFAULT_WINDOW = 256 * 1024;
/** First channel number the daemon gives accepted streams. */
export const DAEMON_CHANNEL_BASE = 0x8000_0000;
/** Longest service text (name, serviceID or prefix), in UTF-8 bytes. */
export const MAX_NAME = 1024;
/**
 * Longest `error`/`reset` message text, in UTF-8 bytes. Messages quote what
 * the application sent (a service name), so they get their own bound above
 * {@linkcode MAX_NAME}; {@linkcode encodeMessage} truncates longer ones.
 */
export const MAX_MESSAGE = 2048;

/** Frame type codes. */
export const FrameType = {
  hello: 0x01,
  connect: 0x02,
  listen: 0x03,
  openDatagram: 0x04,
  sendDatagram: 0x05,
  close: 0x06,
  data: 0x10,
  fin: 0x11,
  reset: 0x12,
  credit: 0x13,
  welcome: 0x81,
  ok: 0x82,
  accepted: 0x83,
  datagram: 0x84,
  error: 0x8f,
} as const;

/** Why a request or a stream failed, as carried by `error` and `reset`. */
export type AppErrorCode =
  | "refused"
  | "unreachable"
  | "timeout"
  | "reset"
  | "aborted"
  | "invalid"
  | "protocol"
  | "version"
  | "limit"
  | "shutdown";

const CODES: readonly AppErrorCode[] = ["refused", "unreachable", "timeout", "reset", "aborted", "invalid", "protocol", "version", "limit", "shutdown"];

/** One message of the protocol. */
export type AppMessage =
  // application → daemon
  | { readonly type: "hello"; readonly version: number; readonly window: number }
  | { readonly type: "connect"; readonly channel: number; readonly service: string }
  | { readonly type: "listen"; readonly channel: number; readonly backlog: number; readonly prefix: string }
  /** `prefix` "" opens an unbound (send-only) socket. */
  | { readonly type: "open-datagram"; readonly channel: number; readonly prefix: string }
  | { readonly type: "send-datagram"; readonly channel: number; readonly service: string; readonly payload: Uint8Array }
  /** Closes a listener or a datagram socket. */
  | { readonly type: "close"; readonly channel: number }
  // both ways, on streams (`credit` on a listener: the application took that many connections)
  | { readonly type: "data"; readonly channel: number; readonly payload: Uint8Array }
  | { readonly type: "fin"; readonly channel: number }
  | { readonly type: "reset"; readonly channel: number; readonly code: AppErrorCode; readonly message: string }
  | { readonly type: "credit"; readonly channel: number; readonly bytes: number }
  // daemon → application
  | { readonly type: "welcome"; readonly version: number; readonly window: number }
  | { readonly type: "ok"; readonly channel: number }
  | { readonly type: "accepted"; readonly channel: number; readonly stream: number }
  | { readonly type: "datagram"; readonly channel: number; readonly source: Uint8Array; readonly from: Locator; readonly payload: Uint8Array }
  | { readonly type: "error"; readonly channel: number; readonly code: AppErrorCode; readonly message: string };

/** Bytes that are not a valid message: say why, and close. */
export interface FrameError {
  readonly type: "invalid";
  readonly reason: string;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

function frame(type: number, channel: number, len: number): { buf: Uint8Array; view: DataView } {
  const buf = new Uint8Array(HEADER_LEN + len);
  const view = new DataView(buf.buffer);
  view.setUint8(0, type);
  view.setUint32(1, channel >>> 0);
  view.setUint32(5, len);
  return { buf, view };
}

function textFrame(type: number, channel: number, before: number, text: string, max = MAX_NAME): { buf: Uint8Array; view: DataView } {
  const t = utf8.encode(text);
  if (t.length > max) throw new RangeError(`Cannot encode a name of ${t.length} bytes: at most ${max}`);
  const f = frame(type, channel, before + t.length);
  f.buf.set(t, HEADER_LEN + before);
  return f;
}

/**
 * The bytes of one message.
 *
 * @param m The message.
 * @returns A frame (header and payload).
 * `error` and `reset` messages longer than {@linkcode MAX_MESSAGE} bytes are
 * truncated (they quote user text).
 *
 * @throws {RangeError} When the payload would exceed {@linkcode MAX_PAYLOAD}, or a service text {@linkcode MAX_NAME} (a bug of the sender).
 *
 * @example
 * ```ts
 * import { encodeMessage } from "@serval/client";
 * encodeMessage({ type: "fin", channel: 3 }); // => Uint8Array [0x11, 0, 0, 0, 3, 0, 0, 0, 0]
 * ```
 */
export function encodeMessage(m: AppMessage): Uint8Array {
  let f: { buf: Uint8Array; view: DataView };
  switch (m.type) {
    case "hello":
    case "welcome": {
      f = frame(m.type === "hello" ? FrameType.hello : FrameType.welcome, 0, 10);
      f.view.setUint32(HEADER_LEN, APP_MAGIC);
      f.view.setUint16(HEADER_LEN + 4, m.version);
      f.view.setUint32(HEADER_LEN + 6, m.window);
      break;
    }
    case "connect":
      f = textFrame(FrameType.connect, m.channel, 0, m.service);
      break;
    case "listen":
      f = textFrame(FrameType.listen, m.channel, 2, m.prefix);
      f.view.setUint16(HEADER_LEN, m.backlog);
      break;
    case "open-datagram":
      f = textFrame(FrameType.openDatagram, m.channel, 0, m.prefix);
      break;
    case "send-datagram": {
      const name = utf8.encode(m.service);
      // The length travels as u16: a longer name would misframe the payload.
      if (name.length > MAX_NAME) throw new RangeError(`Cannot encode a name of ${name.length} bytes: at most ${MAX_NAME}`);
      f = frame(FrameType.sendDatagram, m.channel, 2 + name.length + m.payload.length);
      f.view.setUint16(HEADER_LEN, name.length);
      f.buf.set(name, HEADER_LEN + 2);
      f.buf.set(m.payload, HEADER_LEN + 2 + name.length);
      break;
    }
    case "close":
      f = frame(FrameType.close, m.channel, 0);
      break;
    case "data":
      f = frame(FrameType.data, m.channel, m.payload.length);
      f.buf.set(m.payload, HEADER_LEN);
      break;
    case "fin":
      f = frame(FrameType.fin, m.channel, 0);
      break;
    case "reset":
    case "error":
      f = textFrame(m.type === "reset" ? FrameType.reset : FrameType.error, m.channel, 1, truncate(m.message, MAX_MESSAGE), MAX_MESSAGE);
      f.view.setUint8(HEADER_LEN, CODES.indexOf(m.code) + 1);
      break;
    case "credit":
      f = frame(FrameType.credit, m.channel, 4);
      f.view.setUint32(HEADER_LEN, m.bytes);
      break;
    case "ok":
      f = frame(FrameType.ok, m.channel, 0);
      break;
    case "accepted":
      f = frame(FrameType.accepted, m.channel, 4);
      f.view.setUint32(HEADER_LEN, m.stream >>> 0);
      break;
    case "datagram": {
      const a = m.from.address;
      f = frame(FrameType.datagram, m.channel, 32 + 1 + a.length + 2 + m.payload.length);
      let o = HEADER_LEN;
      f.buf.set(m.source.subarray(0, 32), o);
      o += 32;
      f.view.setUint8(o++, a.length);
      f.buf.set(a, o);
      o += a.length;
      f.view.setUint16(o, m.from.port);
      f.buf.set(m.payload, o + 2);
      break;
    }
  }
  if (f.buf.length - HEADER_LEN > MAX_PAYLOAD) throw new RangeError(`Cannot encode ${m.type}: payload of ${f.buf.length - HEADER_LEN} bytes exceeds ${MAX_PAYLOAD}`);
  return f.buf;
}

/** `s` cut to at most `max` UTF-8 bytes, on a character boundary, marked with "…" when cut. */
function truncate(s: string, max: number): string {
  const b = utf8.encode(s);
  if (b.length <= max) return s;
  // "…" is 3 bytes; back off to the start of a character (not a continuation byte 10xxxxxx).
  let end = max - 3;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return fromUtf8.decode(b.subarray(0, end)) + "…";
}

/**
 * Splits a byte stream into messages. Never throws on bad input: it returns
 * a {@linkcode FrameError} (and every later `next()` returns it too: the
 * stream cannot be trusted any more).
 *
 * @example
 * ```ts
 * import { encodeMessage, FrameDecoder } from "@serval/client";
 * const d = new FrameDecoder();
 * const bytes = encodeMessage({ type: "credit", channel: 7, bytes: 4096 });
 * d.push(bytes.subarray(0, 4)); // half a header
 * console.assert(d.next() === undefined);
 * d.push(bytes.subarray(4));
 * console.assert(d.next()?.type === "credit");
 * ```
 */
export class FrameDecoder {
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #failed: FrameError | undefined;

  /** Bytes held, not yet decoded. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Appends bytes received (copied). */
  push(chunk: Uint8Array): void {
    if (this.#failed) return;
    if (this.#end + chunk.length > this.#buf.length) {
      // Compact, and grow when still short (a frame is at most MAX_PAYLOAD + 9
      // bytes; the buffer holds one partial frame plus the chunk being read).
      const held = this.#end - this.#start;
      if (held + chunk.length <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const next = new Uint8Array(Math.max(held + chunk.length, this.#buf.length * 2));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next complete message, `undefined` when more bytes are needed, or the error that ends the stream. */
  next(): AppMessage | FrameError | undefined {
    if (this.#failed) return this.#failed;
    const avail = this.#end - this.#start;
    if (avail < HEADER_LEN) return undefined;
    const view = new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#start, avail);
    const type = view.getUint8(0);
    const channel = view.getUint32(1);
    const len = view.getUint32(5);
    if (len > MAX_PAYLOAD) return this.#fail(`frame of ${len} bytes exceeds ${MAX_PAYLOAD}`);
    if (avail < HEADER_LEN + len) return undefined;
    const payload = this.#buf.slice(this.#start + HEADER_LEN, this.#start + HEADER_LEN + len);
    this.#start += HEADER_LEN + len;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    const m = decodePayload(type, channel, payload);
    return typeof m === "string" ? this.#fail(m) : m;
  }

  #fail(reason: string): FrameError {
    this.#failed = { type: "invalid", reason };
    this.#start = this.#end = 0;
    return this.#failed;
  }
}

function text(b: Uint8Array, max = MAX_NAME): string | undefined {
  if (b.length > max) return undefined;
  try {
    return fromUtf8.decode(b);
  } catch {
    return undefined;
  }
}

function code(n: number): AppErrorCode | undefined {
  return CODES[n - 1];
}

/** A message from a payload, or why it is not one. */
function decodePayload(type: number, channel: number, p: Uint8Array): AppMessage | string {
  const view = new DataView(p.buffer, p.byteOffset, p.length);
  const name = (t: number) => Object.entries(FrameType).find(([, v]) => v === t)?.[0] ?? `0x${t.toString(16)}`;
  const bad = (why: string) => `bad ${name(type)} frame: ${why}`;
  const needChannel = type !== FrameType.hello && type !== FrameType.welcome && type !== FrameType.error;
  if (needChannel && channel === 0) return bad("channel 0");
  switch (type) {
    case FrameType.hello:
    case FrameType.welcome: {
      if (p.length !== 10 || view.getUint32(0) !== APP_MAGIC) return bad("not a Serval application handshake");
      const version = view.getUint16(4);
      const window = view.getUint32(6);
      if (window < MIN_WINDOW || window > MAX_WINDOW) return bad(`window ${window} outside ${MIN_WINDOW}..${MAX_WINDOW}`);
      return { type: type === FrameType.hello ? "hello" : "welcome", version, window };
    }
    case FrameType.connect:
    case FrameType.openDatagram: {
      const t = text(p);
      if (t === undefined) return bad("service is not short UTF-8 text");
      return type === FrameType.connect ? { type: "connect", channel, service: t } : { type: "open-datagram", channel, prefix: t };
    }
    case FrameType.listen: {
      const t = p.length >= 2 ? text(p.subarray(2)) : undefined;
      if (t === undefined) return bad("expected backlog:u16 and a prefix in UTF-8");
      return { type: "listen", channel, backlog: view.getUint16(0), prefix: t };
    }
    case FrameType.sendDatagram: {
      if (p.length < 2) return bad("too short");
      const n = view.getUint16(0);
      const t = p.length >= 2 + n ? text(p.subarray(2, 2 + n)) : undefined;
      if (t === undefined) return bad("service is not short UTF-8 text");
      return { type: "send-datagram", channel, service: t, payload: p.subarray(2 + n) };
    }
    case FrameType.close:
    case FrameType.fin:
    case FrameType.ok:
      if (p.length !== 0) return bad("unexpected payload");
      return { type: type === FrameType.close ? "close" : type === FrameType.fin ? "fin" : "ok", channel };
    case FrameType.data:
      if (p.length === 0) return bad("empty");
      return { type: "data", channel, payload: p };
    case FrameType.reset:
    case FrameType.error: {
      const c = p.length >= 1 ? code(p[0]!) : undefined;
      const t = text(p.subarray(1), MAX_MESSAGE);
      if (c === undefined || t === undefined) return bad("expected code:u8 and a UTF-8 message");
      return { type: type === FrameType.reset ? "reset" : "error", channel, code: c, message: t };
    }
    case FrameType.credit: {
      if (p.length !== 4) return bad("expected bytes:u32");
      const bytes = view.getUint32(0);
      if (bytes === 0) return bad("zero credit");
      return { type: "credit", channel, bytes };
    }
    case FrameType.accepted: {
      if (p.length !== 4) return bad("expected stream:u32");
      const stream = view.getUint32(0);
      if (stream < DAEMON_CHANNEL_BASE) return bad(`stream ${stream} below ${DAEMON_CHANNEL_BASE}`);
      return { type: "accepted", channel, stream };
    }
    case FrameType.datagram: {
      if (p.length < 32 + 1) return bad("too short");
      const alen = p[32]!;
      if ((alen !== 4 && alen !== 16) || p.length < 33 + alen + 2) return bad("bad locator");
      return {
        type: "datagram",
        channel,
        source: p.subarray(0, 32),
        from: { address: p.subarray(33, 33 + alen), port: view.getUint16(33 + alen) },
        payload: p.subarray(35 + alen),
      };
    }
    default:
      return `unknown frame type 0x${type.toString(16).padStart(2, "0")}`;
  }
}

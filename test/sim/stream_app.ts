/**
 * Helpers for the StreamTransport scenarios: a {@linkcode salWorld} whose
 * servers listen with {@linkcode StreamTransport}, and an application loop
 * that runs between simulator slices (writers top up and flush, readers
 * drain and hash).
 *
 * @module
 */

import { ServicePrefix } from "@serval/wire";
import { type StreamOptions, StreamTransport } from "@serval/transport";
import { ECHO, salWorld, type World, type WorldOptions } from "./sal_world.ts";

/** A deterministic u32 stream for ISSs and payloads. */
export function lcg(seed: number): () => number {
  let s = (seed * 2654435761 + 0x9e3779b9) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** Deterministic pseudo-random bytes. */
export function payload(seed: number, len: number): Uint8Array {
  const next = lcg(seed);
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  let i = 0;
  for (; i + 4 <= len; i += 4) v.setUint32(i, next());
  for (; i < len; i++) out[i] = next() & 255;
  return out;
}

/** A world whose servers accept StreamTransport flows. */
export interface StreamWorld extends World {
  /** Next random ISS. */
  readonly iss: () => number;
  /** Server-side transports, in creation order (per server). */
  readonly serverStreams: StreamTransport[][];
}

/** Builds a {@linkcode salWorld} and re-listens every server with {@linkcode StreamTransport}. */
export function streamWorld(
  o: WorldOptions,
  stream: Omit<StreamOptions, "iss"> = {},
): StreamWorld {
  const w = salWorld(o);
  const iss = lcg(o.seed * 31 + 7);
  const serverStreams: StreamTransport[][] = [];
  w.servers.forEach((s, k) => {
    s.host.unlisten(w.net.now, w.listeners[k]!);
    const list: StreamTransport[] = [];
    serverStreams.push(list);
    s.host.listen(ServicePrefix.of(ECHO), {
      transport: () => {
        const t = new StreamTransport({ ...stream, iss: iss() });
        list.push(t);
        return t;
      },
    });
  });
  w.net.runUntil(w.net.now + 1);
  return { ...w, iss, serverStreams };
}

/** One client→server stream flow and its application state. */
export interface StreamFlow {
  readonly id: number;
  readonly client: StreamTransport;
  server: StreamTransport | undefined;
  /** Bytes to send (undefined: an endless source). */
  readonly data: Uint8Array | undefined;
  written: number;
  received: number;
  closed: boolean;
  readonly hash: Digest;
}

/**
 * An incremental digest (node:crypto's SHA-256 in the tests): passed in, so
 * that this helper stays free of runtime imports like the rest of test/sim.
 */
export interface Digest {
  update(data: Uint8Array): unknown;
  digest(encoding: "hex"): string;
}

/** Connects a stream flow from the client to {@linkcode ECHO}. */
export function connectStream(
  w: StreamWorld,
  data: Uint8Array | undefined,
  stream: Omit<StreamOptions, "iss">,
  newDigest: () => Digest,
): StreamFlow {
  const client = new StreamTransport({ ...stream, iss: w.iss() });
  const id = w.client.host.connect(w.net.now, ECHO, client);
  return {
    id,
    client,
    server: undefined,
    data,
    written: 0,
    received: 0,
    closed: false,
    hash: newDigest(),
  };
}

const ENDLESS = payload(99, 64 * 1024);
const SCRATCH = new Uint8Array(1 << 20);

/**
 * One application step: writers top up and flush (closing once every byte
 * is written), readers drain into their hashes. `server` of a flow is bound
 * to the next unbound server-side stream on first use.
 */
export function appStep(
  w: StreamWorld,
  flows: readonly StreamFlow[],
  close = true,
): void {
  const pool = w.serverStreams[0]!;
  for (const f of flows) {
    if (!f.server) {
      const bound = new Set(flows.map((g) => g.server));
      f.server = pool.find((t) => !bound.has(t));
    }
    if (f.data) {
      while (f.written < f.data.length) {
        const n = f.client.write(f.data, f.written, f.data.length - f.written);
        if (n === 0) break;
        f.written += n;
      }
      if (close && f.written === f.data.length && !f.closed) {
        f.closed = true;
        w.client.host.close(w.net.now, f.id);
      }
    } else {
      while (f.client.write(ENDLESS) > 0) { /* fill the send buffer */ }
    }
    if (!f.closed) w.client.host.flush(w.net.now, f.id);
    if (f.server) {
      for (
        let n = f.server.read(SCRATCH, 0, SCRATCH.length);
        n > 0;
        n = f.server.read(SCRATCH, 0, SCRATCH.length)
      ) {
        if (f.data) f.hash.update(SCRATCH.subarray(0, n));
        f.received += n;
      }
      // Flush the server too, so a reopened window is announced at once.
      const sid = w.accepted[0]!.find((s) =>
        w.servers[0]!.host.transport(s) === f.server
      );
      if (sid !== undefined && w.servers[0]!.host.flowState(sid)) {
        w.servers[0]!.host.flush(w.net.now, sid);
      }
    }
  }
}

/** Runs slices of `sliceUs` with an {@linkcode appStep} before each until `done()` or `untilUs`. */
export function runApp(
  w: StreamWorld,
  flows: readonly StreamFlow[],
  untilUs: number,
  done: () => boolean = () => false,
  sliceUs = 1_000,
  close = true,
): void {
  while (w.net.now < untilUs && !done()) {
    appStep(w, flows, close);
    w.net.runUntil(Math.min(untilUs, w.net.now + sliceUs));
  }
  appStep(w, flows, close);
}

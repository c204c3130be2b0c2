/**
 * The two UDP socket back ends of the UDP datapath behind one small
 * interface: `Bun.udpSocket` (batch send with `sendMany`, the fastest JS
 * option measured here) and `node:dgram` (Node, and Deno, where it beats
 * `Deno.listenDatagram`).
 *
 * Neither back end exposes a datagram's destination address (no IP_PKTINFO)
 * nor lets us set SO_RCVBUF/SO_REUSEADDR (Bun): the datapath works around
 * the first and lives with the second.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Socket as DgramSocket } from "node:dgram";

/** Called for each received datagram; `data` is the runtime's own buffer (one per datagram). */
export type OnDatagram = (data: Uint8Array, address: string, port: number, truncated: boolean) => void;

/** Called when sending failed after `sendBatch` returned (node:dgram reports errors asynchronously). */
export type OnSendError = (reason: string) => void;

/** A bound UDP socket. */
export interface UdpSocketHandle {
  /** "bun" or "dgram". */
  readonly backend: UdpBackend;
  /** Bound port. */
  readonly port: number;
  /**
   * Sends `views[0..n)` to `ports[i]`/`hosts[i]`. The views may be reused
   * when this returns (copied if the back end sends later).
   *
   * @param reasons `reasons[i]` is set to why datagram `i` failed (left undefined when it left).
   * @returns Datagrams handed to the kernel.
   */
  sendBatch(views: readonly Uint8Array[], ports: readonly number[], hosts: readonly string[], n: number, reasons: (string | undefined)[]): number;
  /** Sets SO_BROADCAST. */
  setBroadcast(on: boolean): void;
  /** Closes the socket. */
  close(): Promise<void>;
}

/** Which socket API to use. */
export type UdpBackend = "bun" | "dgram";

/**
 * The default back end: `node:dgram` everywhere. `Bun.udpSocket` sends
 * faster (sendMany) but cannot enlarge its receive buffer, and a stream's
 * bursts overflow the default one: on loopback a 32 MB transfer ran at
 * 193 Mbit/s with 18 % retransmitted over `bun`, 389 Mbit/s with none over
 * `dgram` with a 4 MiB buffer. `bun` stays available for send-heavy uses
 * (`backend: "bun"`, or `SERVAL_UDP_BACKEND=bun` for a whole process).
 */
export function defaultBackend(): UdpBackend {
  return (process.env.SERVAL_UDP_BACKEND as UdpBackend | undefined) ?? "dgram";
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code.toLowerCase() : "send-error";
}

/**
 * The part of `Bun.udpSocket` used here, declared locally so that the module
 * type-checks under Deno too (where the Bun branch never runs).
 */
interface BunUdpSocket {
  readonly port: number;
  sendMany(packets: readonly (Uint8Array | number | string)[]): number;
  send(data: Uint8Array, port: number, address: string): boolean;
  setBroadcast(on: boolean): boolean;
  close(): void;
}
interface BunUdpApi {
  udpSocket(opts: {
    hostname: string;
    port: number;
    binaryType: "uint8array";
    socket: {
      data(s: unknown, data: Uint8Array, port: number, address: string, flags: { truncated: boolean }): void;
      error(s: unknown, error: Error): void;
    };
  }): Promise<BunUdpSocket>;
}

/** Opens a socket with `Bun.udpSocket`. */
export async function openBunSocket(hostname: string, port: number, onData: OnDatagram, onError: OnSendError): Promise<UdpSocketHandle> {
  const bun = (globalThis as unknown as { Bun?: BunUdpApi }).Bun;
  if (!bun) throw new Error("Bun.udpSocket is not available in this runtime: use the dgram back end");
  const sock = await bun.udpSocket({
    hostname,
    port,
    binaryType: "uint8array",
    socket: {
      data(_s, data, rport, raddr, flags) {
        onData(data, raddr, rport, flags.truncated);
      },
      // Asynchronous socket errors (an ICMP port unreachable for an earlier
      // send surfaces as ECONNREFUSED on the next receive): counted, never thrown.
      error(_s, e) {
        onError(errorCode(e));
      },
    },
  });
  const flat: (Uint8Array | number | string)[] = [];
  return {
    backend: "bun",
    port: sock.port,
    sendBatch(views, ports, hosts, n, reasons) {
      flat.length = n * 3;
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        flat[j] = views[i]!;
        flat[j + 1] = ports[i]!;
        flat[j + 2] = hosts[i]!;
      }
      let sent: number;
      try {
        sent = sock.sendMany(flat);
      } catch {
        // One bad datagram fails the whole call: send one by one to count exactly.
        sent = 0;
        for (let i = 0; i < n; i++) {
          try {
            if (sock.send(views[i]!, ports[i]!, hosts[i]!)) sent++;
            else reasons[i] = "send-busy";
          } catch (e) {
            reasons[i] = errorCode(e);
          }
        }
        return sent;
      }
      for (let i = sent; i < n; i++) reasons[i] = "send-busy";
      return sent;
    },
    setBroadcast(on) {
      sock.setBroadcast(on);
    },
    close() {
      sock.close();
      return Promise.resolve();
    },
  };
}

/** Opens a socket with `node:dgram` (IPv4). */
export async function openDgramSocket(hostname: string, port: number, onData: OnDatagram, onSendError: OnSendError): Promise<UdpSocketHandle> {
  const dgram = await import("node:dgram");
  // A deep receive buffer: bursts of a window of segments otherwise overflow
  // the default (~208 KiB) and every overflow costs a retransmission.
  const sock: DgramSocket = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => reject(e);
    sock.once("error", fail);
    sock.bind(port, hostname, () => {
      sock.off("error", fail);
      resolve();
    });
  });
  // After bind, errors are asynchronous send failures: count them.
  sock.on("error", (e) => onSendError(errorCode(e)));
  sock.on("message", (msg, rinfo) => onData(msg, rinfo.address, rinfo.port, false));
  // Sends complete asynchronously: close() waits for them, so that what was
  // sent last (a node's withdrawals and goodbye) leaves before the socket goes.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const afterSend = (e: Error | null) => {
    if (e) onSendError(errorCode(e));
    if (--inFlight === 0) drained?.();
  };
  let closed = false;
  return {
    backend: "dgram",
    port: sock.address().port,
    sendBatch(views, ports, hosts, n, reasons) {
      let sent = 0;
      for (let i = 0; i < n; i++) {
        try {
          // dgram sends after an address lookup tick: copy, the caller reuses its batch.
          inFlight++;
          sock.send(Buffer.from(views[i]!), ports[i]!, hosts[i]!, afterSend);
          sent++;
        } catch (e) {
          inFlight--;
          reasons[i] = errorCode(e);
        }
      }
      return sent;
    },
    setBroadcast(on) {
      sock.setBroadcast(on);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      const pending = inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => {
        drained = r;
        setTimeout(r, 200); // bounded: a send that never completes does not hold the close
      });
      return pending.then(() => new Promise<void>((resolve) => sock.close(() => resolve())));
    },
  };
}

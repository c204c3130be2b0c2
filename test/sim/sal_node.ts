/**
 * {@linkcode SalNode}: a {@linkcode SalHost} on the simulator. Frames are raw
 * SAL packets; the simulator plays the IP layer, so a packet's IP source is
 * the sending interface's address and its IP destination the receiving
 * interface's address. (A service router re-sends a forwarded SYN from its own
 * interface; the client stays named as the first entry of the SOURCE
 * extension, which is what the SAL uses.)
 *
 * Also: {@linkcode describeFrame} (a readable summary of a SAL frame, for
 * loss hooks and assertions), {@linkcode dropNth} (a "drop the Nth matching
 * frame" hook, which the simulator itself does not have), and
 * {@linkcode expectSalIdle} (the leak check of every SAL scenario).
 *
 * @module
 */

import { BROADCAST_LOCATOR, formatIpv4, isBroadcastLocator, parseIpv4, parseSal, SAL_ACK, SAL_FIN, SAL_RST, SAL_RSYN, SAL_SYN } from "@serval/wire";
import type { Locator } from "@serval/wire";
import { SalHost } from "@serval/sal";
import type { HostEvent, RandomSource, SalFlowOptions, ServiceTable } from "@serval/sal";

/** A DELAY rule's question to the controller. */
export type ResolveRequest = Extract<HostEvent, { type: "resolve-request" }>;
import type { SimNet } from "./sim_net.ts";
import type { SimAddress, SimNode, SimTransmit } from "./sim_node.ts";
import { expectIdle } from "./testing.ts";

/**
 * The locator of a simulator address (IPv4 bytes, port 0: SAL over IP).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([...toLocator("198.18.0.7").address], [198, 18, 0, 7]);
 * ```
 */
export function toLocator(address: SimAddress): Locator {
  return { address: parseIpv4(address), port: 0 };
}

/**
 * The simulator address of a locator.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(toAddress(toLocator("198.18.0.7")), "198.18.0.7");
 * ```
 */
export function toAddress(locator: Locator): SimAddress {
  return formatIpv4(locator.address);
}

/** A summary of one SAL frame. */
export interface FrameInfo {
  /** Name of the sending node. */
  readonly node: string;
  /** Sending interface address. */
  readonly from: SimAddress;
  /** Destination address. */
  readonly to: SimAddress;
  /** `SYN`, `SYN-ACK`, `ACK` (pure), `ACK+SVC` (third ACK), `FIN`, `RST`, `RSYN`, `RSYN-ACK`, `DATA`, or `BAD`. */
  readonly kind: string;
  /** CONTROL flags (0 for data). */
  readonly flags: number;
  readonly srcFlowId: number;
  readonly dstFlowId: number;
  /** Entries of the SOURCE (or LOCATORS) extension. */
  readonly sourceLen: number;
  /** Bytes after the SAL header. */
  readonly payloadLen: number;
}

/**
 * Describes a SAL frame.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(describeFrame(new Uint8Array(3), "a", "1.2.3.4", "1.2.3.5").kind, "BAD");
 * ```
 */
export function describeFrame(frame: Uint8Array, node: string, from: SimAddress, to: SimAddress): FrameInfo {
  const r = parseSal(frame, 0, frame.length);
  if (typeof r === "string") {
    return { node, from, to, kind: "BAD", flags: 0, srcFlowId: 0, dstFlowId: 0, sourceLen: 0, payloadLen: 0 };
  }
  const flags = r.control?.flags ?? 0;
  let kind: string;
  if (!r.control) kind = "DATA";
  else if (flags & SAL_RST) kind = "RST";
  else if (flags & SAL_SYN) kind = flags & SAL_ACK ? "SYN-ACK" : "SYN";
  else if (flags & SAL_RSYN) kind = flags & SAL_ACK ? "RSYN-ACK" : "RSYN";
  else if (flags & SAL_FIN) kind = "FIN";
  else kind = r.services.length > 0 ? "ACK+SVC" : "ACK";
  const hl = frame[8]! * 4;
  return {
    node,
    from,
    to,
    kind,
    flags,
    srcFlowId: r.srcFlowId,
    dstFlowId: r.dstFlowId,
    sourceLen: r.source?.length ?? r.locators?.length ?? 0,
    payloadLen: frame.length - hl,
  };
}

/**
 * A loss hook that drops the `n`th frame (1-based) matching `match`, and
 * only that one. `dropped` tells whether it fired.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const hook = dropNth((f) => f.kind === "SYN", 2);
 * const syn = { kind: "SYN" } as FrameInfo;
 * assertEquals([hook(syn), hook(syn), hook(syn)], [false, true, false]);
 * assertEquals(hook.dropped, true);
 * ```
 */
export function dropNth(match: (f: FrameInfo) => boolean, n = 1): ((f: FrameInfo) => boolean) & { dropped: boolean } {
  let seen = 0;
  const hook = ((f: FrameInfo): boolean => {
    if (!match(f)) return false;
    seen++;
    if (seen !== n) return false;
    hook.dropped = true;
    return true;
  }) as ((f: FrameInfo) => boolean) & { dropped: boolean };
  hook.dropped = false;
  return hook;
}

/** Options of a {@linkcode SalNode}. */
export interface SalNodeOptions {
  /** The node's name (traces, frame infos). */
  readonly name: string;
  /** Randomness of the host. */
  readonly random: RandomSource;
  /** The network, to pick the interface that reaches a destination. */
  readonly net?: SimNet;
  /** A service router. */
  readonly router?: boolean;
  /** Half-open flows per listener. */
  readonly requestQueue?: number;
  /** Flow tunables. */
  readonly flow?: SalFlowOptions;
  /** A service table to use. */
  readonly serviceTable?: ServiceTable;
  /**
   * The application: called for every host event, at the time it happens;
   * it may call the host (accept, close, …).
   */
  readonly app?: (node: SalNode, event: HostEvent, now: number) => void;
  /** The controller: called for every DELAY `resolve-request` event (the app never sees those). */
  readonly controller?: (node: SalNode, event: ResolveRequest, now: number) => void;
}

/**
 * A SAL host as a {@linkcode SimNode}. The {@linkcode SalHost} is made on
 * first use of {@linkcode SalNode.host}, with the interfaces attached by then
 * (interfaces attached later are usable too: they extend the host's locator
 * list).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * import { SimNet } from "./sim_net.ts";
 * const net = new SimNet({ seed: 1 });
 * const node = new SalNode({ name: "a", random: new SeededRandom(1), net });
 * net.attach(net.addSegment(), net.addNode(node, "a"));
 * assertEquals(node.host.flowCount, 0);
 * assertEquals(node.address(0), "198.18.0.1");
 * ```
 */
export class SalNode implements SimNode {
  /** The node's name. */
  readonly name: string;
  /** Every host event, in order. */
  readonly events: HostEvent[] = [];
  /** Every DELAY resolve-request, in order (also in `events`). */
  readonly serviceEvents: ResolveRequest[] = [];
  /** Frames sent (after the loss hook), when {@linkcode SalNode.record} is on. */
  readonly sent: FrameInfo[] = [];
  /** Frames received, when {@linkcode SalNode.record} is on. */
  readonly received: FrameInfo[] = [];
  /** Record frame summaries in `sent`/`received`. */
  record = false;
  /** A loss hook on this node's outgoing frames: `true` drops the frame. */
  dropIf: ((f: FrameInfo) => boolean) | undefined;
  /** Frames dropped by the loss hook or a down interface. */
  dropped = 0;
  /** The time of the last input (µs). */
  now = 0;
  /** The application (from the options; may be replaced). */
  app: ((node: SalNode, event: HostEvent, now: number) => void) | undefined;
  readonly #opts: SalNodeOptions;
  readonly #addresses: SimAddress[] = [];
  readonly #locals: Locator[] = [];
  readonly #down = new Set<number>();
  #host: SalHost | undefined;
  #inApp = false;

  /**
   * @param opts Name, randomness, role, limits and application.
   */
  constructor(opts: SalNodeOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.app = opts.app;
  }

  /**
   * The SAL host.
   *
   * @throws {RangeError} When no interface is attached yet.
   */
  get host(): SalHost {
    if (this.#host) return this.#host;
    if (this.#locals.length === 0) throw new RangeError(`Cannot make SAL host "${this.name}": no interface attached`);
    const o = this.#opts;
    this.#host = new SalHost({
      random: o.random,
      locals: this.#locals,
      ...(o.router !== undefined ? { router: o.router } : {}),
      ...(o.requestQueue !== undefined ? { requestQueue: o.requestQueue } : {}),
      ...(o.flow !== undefined ? { flow: o.flow } : {}),
      ...(o.serviceTable !== undefined ? { serviceTable: o.serviceTable } : {}),
    });
    return this.#host;
  }

  /** The address of interface `iface`. */
  address(iface = 0): SimAddress {
    const a = this.#addresses[iface];
    if (a === undefined) throw new RangeError(`Cannot get address of interface ${iface} of "${this.name}"`);
    return a;
  }

  /** The locator of interface `iface`. */
  locator(iface = 0): Locator {
    return toLocator(this.address(iface));
  }

  /**
   * Takes an interface down (its address is gone: nothing is sent from it or
   * received on it) or up again.
   */
  setDown(iface: number, down: boolean): void {
    if (down) this.#down.add(iface);
    else this.#down.delete(iface);
  }

  /** Events of one type. */
  eventsOf<T extends HostEvent["type"]>(type: T): Extract<HostEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<HostEvent, { type: T }> => e.type === type);
  }

  /** Answers a DELAY resolve-request ({@linkcode SalHost.delayVerdict}). */
  delayVerdict(now: number, id: number, action: "release" | "drop"): boolean {
    this.now = now;
    const ok = this.host.delayVerdict(now, id, action);
    this.#pump(now);
    return ok;
  }

  handleAttach(iface: number, address: SimAddress): void {
    this.#addresses[iface] = address;
    this.#locals.push(toLocator(address));
  }

  handleFrame(now: number, iface: number, frame: Uint8Array, from: SimAddress, broadcast = false): void {
    this.now = now;
    if (this.#down.has(iface)) {
      this.dropped++;
      return;
    }
    const to = this.address(iface);
    if (this.record) this.received.push(describeFrame(frame, this.name, from, to));
    this.host.handlePacket(now, {
      bytes: frame,
      off: 0,
      len: frame.length,
      src: toLocator(from),
      dst: broadcast ? BROADCAST_LOCATOR : toLocator(to),
      broadcast,
    });
    this.#pump(now);
  }

  pollTransmit(): SimTransmit | undefined {
    if (!this.#host) return undefined;
    // Events of commands the test called directly: the simulator's clock is the right "now".
    this.#pump(this.#opts.net?.now ?? this.now);
    for (;;) {
      const p = this.#host.pollTransmit();
      if (!p) return undefined;
      const to = isBroadcastLocator(p.dst) ? "broadcast" : toAddress(p.dst);
      const iface = this.#ifaceFor(p.src, to);
      const from = this.#addresses[iface]!;
      if (this.#down.has(iface)) {
        this.dropped++;
        continue;
      }
      if (this.dropIf || this.record) {
        const info = describeFrame(p.bytes, this.name, from, to);
        if (this.dropIf?.(info)) {
          this.dropped++;
          continue;
        }
        if (this.record) this.sent.push(info);
      }
      return { iface, frame: p.bytes, to };
    }
  }

  pollTimeout(): number | undefined {
    return this.#host?.pollTimeout();
  }

  handleTimeout(now: number): void {
    this.now = now;
    this.host.handleTimeout(now);
    this.#pump(now);
  }

  /** Moves host events to the log and runs the application and the controller. */
  #pump(now: number): void {
    const h = this.#host;
    if (!h || this.#inApp) return;
    this.#inApp = true;
    try {
      for (let e = h.pollEvent(); e; e = h.pollEvent()) {
        this.events.push(e);
        if (e.type === "resolve-request") {
          this.serviceEvents.push(e);
          this.#opts.controller?.(this, e, now);
        } else {
          this.app?.(this, e, now);
        }
      }
    } finally {
      this.#inApp = false;
    }
  }

  /** The interface a packet leaves from: its source's, else one on a segment with the destination, else 0. */
  #ifaceFor(src: Locator | undefined, to: SimAddress): number {
    if (src) {
      const i = this.#addresses.indexOf(toAddress(src));
      if (i >= 0) return i;
    }
    const net = this.#opts.net;
    if (net) {
      for (let i = 0; i < this.#addresses.length; i++) {
        const mine = this.#addresses[i];
        const seg = net.segments.find((s) => s.members.some((m) => m.address === mine));
        if (seg?.members.some((m) => m.address === to)) return i;
      }
    }
    return 0;
  }
}

/**
 * The leak check of every SAL scenario: no flow left on any host, no timer
 * armed, nothing in flight.
 *
 * @throws {Error} Naming what leaked.
 */
export function expectSalIdle(net: SimNet, nodes: readonly SalNode[]): void {
  for (const n of nodes) {
    const flows = n.host.flowCount;
    const t = n.host.pollTimeout();
    if (flows !== 0 || t !== undefined) {
      throw new Error(`Expected SAL host "${n.name}" idle at ${net.now}µs, found ${flows} flows and timer ${t}`);
    }
  }
  expectIdle(net);
}

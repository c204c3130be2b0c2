/**
 * Test helpers for packages built on the SAL: {@linkcode HostNet}, a tiny
 * virtual-time network of {@linkcode SalHost}s (every locator belongs to one
 * host; a packet reaches the owner of its destination after a fixed delay).
 * For realistic links use the simulator in test/sim.
 *
 * @module
 */

import type { Locator } from "@serval/wire";
import type { HostEvent, OutboundPacket, SalHost } from "./sal_host.ts";

/**
 * A test locator inside 198.18.0.0/15: `198.18.c.d`, raw IP (port 0).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { testLocator } from "@serval/sal/testing";
 * assertEquals([...testLocator(1, 2).address], [198, 18, 1, 2]);
 * ```
 */
export function testLocator(c: number, d: number): Locator {
  return { address: new Uint8Array([198, 18, c, d]), port: 0 };
}

function key(l: Locator): string {
  return `${l.address.join(".")}:${l.port}`;
}

/**
 * SAL hosts joined by an ideal network with a fixed one-way delay, driven in
 * virtual time. Hooks can lose or alter packets in flight.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HostNet } from "@serval/sal/testing";
 * const net = new HostNet();
 * net.run();
 * assertEquals(net.inFlight, 0);
 * ```
 */
export class HostNet {
  /** Virtual time, µs. */
  now = 0;
  /** Hosts by locator key. */
  readonly hosts: Map<string, SalHost> = new Map();
  /** Events each host emitted, in order. */
  readonly events: Map<SalHost, HostEvent[]> = new Map();
  /** Locator keys whose packets vanish (an address that is gone). */
  readonly down: Set<string> = new Set();
  /** Packets delivered and lost so far. */
  delivered = 0;
  lost = 0;
  /** Returns true to lose a packet. */
  loss: (p: OutboundPacket) => boolean = () => false;
  /** May alter a packet in flight. */
  tamper: (p: OutboundPacket) => void = () => {};
  #wire: { at: number; p: OutboundPacket; seq: number }[] = [];
  #seq = 0;

  /** @param oneWayUs The delay of every packet (default 5 ms). */
  constructor(readonly oneWayUs = 5_000) {}

  /** The key of a locator in {@linkcode HostNet.hosts} and {@linkcode HostNet.down}. */
  static key(l: Locator): string {
    return key(l);
  }

  /** Attaches a host at the given locators. */
  add(h: SalHost, ...locs: Locator[]): SalHost {
    for (const l of locs) this.hosts.set(key(l), h);
    if (!this.events.has(h)) this.events.set(h, []);
    return h;
  }

  #collect(): void {
    for (const h of new Set(this.hosts.values())) {
      for (let p = h.pollTransmit(); p; p = h.pollTransmit()) {
        if (this.loss(p)) {
          this.lost++;
          continue;
        }
        this.tamper(p);
        this.#wire.push({ at: this.now + this.oneWayUs, p, seq: this.#seq++ });
      }
      for (let e = h.pollEvent(); e; e = h.pollEvent()) this.events.get(h)!.push(e);
    }
  }

  /**
   * Runs until nothing is in flight and no timer is due before `until`
   * (then time stops at `until`). Throws if still busy after `maxSteps`.
   */
  run(until = Infinity, maxSteps = 200_000): void {
    for (let i = 0; i < maxSteps; i++) {
      this.#collect();
      let next = Infinity;
      for (const w of this.#wire) next = Math.min(next, w.at);
      for (const h of new Set(this.hosts.values())) next = Math.min(next, h.pollTimeout() ?? Infinity);
      if (next === Infinity || next > until) {
        if (until !== Infinity) this.now = until;
        return;
      }
      this.now = next;
      const due = this.#wire.filter((w) => w.at <= this.now).sort((a, b) => a.seq - b.seq);
      this.#wire = this.#wire.filter((w) => w.at > this.now);
      for (const { p } of due) {
        const h = this.hosts.get(key(p.dst));
        if (!h || this.down.has(key(p.dst))) {
          this.lost++;
          continue;
        }
        this.delivered++;
        h.handlePacket(this.now, { bytes: p.bytes, off: 0, len: p.bytes.length, src: p.src ?? p.dst, dst: p.dst });
      }
      for (const h of new Set(this.hosts.values())) {
        if ((h.pollTimeout() ?? Infinity) <= this.now) h.handleTimeout(this.now);
      }
    }
    throw new Error("net never went idle");
  }

  /** Packets on the wire. */
  get inFlight(): number {
    return this.#wire.length;
  }
}

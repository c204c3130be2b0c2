/**
 * {@linkcode NodeAddresses}: which of a node's local addresses are usable
 * now, kept up to date from the datapath's address and link events — what
 * {@linkcode ServalNode} needs to decide that a flow must migrate (its local
 * address went away, or the link under it went down) and where to.
 *
 * @module
 */

import type { DatapathEvent, LocalAddress } from "@serval/datapath";
import { formatIp, type Locator, locatorKey } from "@serval/wire";

interface Entry {
  readonly locator: Locator;
  readonly ifindex: number;
  readonly ifname: string;
}

/** What an event changed. */
export interface AddressChange {
  /** Locators usable before and not any more. */
  readonly removed: readonly Locator[];
  /** Locators usable now and not before. */
  readonly added: readonly Locator[];
}

const isLoopback = (l: Locator): boolean => l.address.length === 4 ? l.address[0] === 127 : l.address.every((b, i) => b === (i === 15 ? 1 : 0));

/**
 * A node's local addresses and the links they sit on.
 *
 * @example An address is added, then the old one removed
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { NodeAddresses } from "@serval/runtime";
 * const la = (d: number) => ({ ifindex: 2, ifname: "eth0", address: new Uint8Array([198, 18, 0, d]), prefixLen: 24, port: 0 });
 * const a = new NodeAddresses([la(1)]);
 * a.apply({ type: "address-added", address: la(2) });
 * const c = a.apply({ type: "address-removed", address: la(1) });
 * assertEquals(c.removed.length, 1);
 * assertEquals(a.usable().map((l) => l.address[3]), [2]);
 * ```
 */
export class NodeAddresses {
  readonly #entries = new Map<string, Entry>();
  readonly #down = new Set<number>();

  /**
   * @param initial The datapath's addresses (or the node's configured locators with what is known of their interfaces).
   */
  constructor(initial: readonly (Locator & Partial<Pick<LocalAddress, "ifindex" | "ifname">>)[]) {
    for (const l of initial) this.#add({ address: l.address, port: l.port }, l.ifindex ?? 0, l.ifname ?? "");
  }

  /** Usable locators, in the order they were learnt (the first is the default source). */
  usable(): Locator[] {
    const out: Locator[] = [];
    for (const e of this.#entries.values()) if (!this.#down.has(e.ifindex) || e.ifindex === 0) out.push(e.locator);
    return out;
  }

  /** Whether `l` is a usable locator of ours. */
  isUsable(l: Locator): boolean {
    const e = this.#entries.get(locatorKey(l));
    return e !== undefined && (e.ifindex === 0 || !this.#down.has(e.ifindex));
  }

  /** Our known locator with this address (and port, when `l` names one), usable or not. */
  find(l: Locator): Locator | undefined {
    const exact = this.#entries.get(locatorKey(l));
    if (exact || l.port !== 0) return exact?.locator;
    const a = formatIp(l.address);
    for (const e of this.#entries.values()) if (formatIp(e.locator.address) === a) return e.locator;
    return undefined;
  }

  /**
   * Whether `l` is what `what` names: an interface name, an address
   * (`198.18.0.7`) or an address with its port (`127.0.0.1:54325`).
   */
  matches(l: Locator, what: string): boolean {
    if (what === locatorKey(l) || what === formatIp(l.address)) return true;
    return this.#entries.get(locatorKey(l))?.ifname === what;
  }

  /**
   * The usable locator a flow leaving `from` should move to: same address
   * family first, loopback only for a loopback one, never `from` itself.
   */
  replacement(from: Locator, avoid?: (l: Locator) => boolean): Locator | undefined {
    const k = locatorKey(from);
    const all = this.usable().filter((l) => locatorKey(l) !== k && !(avoid?.(l) ?? false));
    const fam = all.filter((l) => l.address.length === from.address.length);
    return fam.find((l) => isLoopback(l) === isLoopback(from)) ?? fam[0] ?? all[0];
  }

  /** Learns a datapath event; returns which usable locators came and went. */
  apply(e: DatapathEvent): AddressChange {
    const before = new Map(this.usable().map((l) => [locatorKey(l), l]));
    switch (e.type) {
      case "address-added":
        this.#add({ address: e.address.address, port: e.address.port }, e.address.ifindex, e.address.ifname);
        break;
      case "address-removed":
        this.#entries.delete(locatorKey(e.address));
        break;
      case "link-down":
        this.#down.add(e.ifindex);
        break;
      case "link-up":
        this.#down.delete(e.ifindex);
        break;
    }
    const after = new Map(this.usable().map((l) => [locatorKey(l), l]));
    return {
      removed: [...before].filter(([k]) => !after.has(k)).map(([, l]) => l),
      added: [...after].filter(([k]) => !before.has(k)).map(([, l]) => l),
    };
  }

  #add(l: Locator, ifindex: number, ifname: string): void {
    const k = locatorKey(l);
    if (!this.#entries.has(k)) this.#entries.set(k, { locator: l, ifindex, ifname });
  }
}

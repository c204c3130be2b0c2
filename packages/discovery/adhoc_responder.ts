/**
 * {@linkcode AdhocResponder}: with no router at all, a node answers the
 * `service-solicit` broadcasts of its neighbours for the services it serves,
 * so that their DELAY rules learn where to send.
 *
 * @module
 */

import type { ControlMessage, Locator, ServiceEntry, ServicePrefix } from "@serval/wire";
import type { ControlTransmit } from "./control_transmit.ts";

/** Options of an {@linkcode AdhocResponder}. */
export interface AdhocResponderOptions {
  /** How long answers may be believed, ms (default 10 000). */
  readonly lifetimeMs?: number;
}

/**
 * The answering side of ad hoc service discovery.
 *
 * @example Answer for what we serve, stay silent otherwise
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { AdhocResponder } from "@serval/discovery";
 * import { ServiceId, ServicePrefix } from "@serval/wire";
 * const r = new AdhocResponder();
 * r.setLocators([{ address: new Uint8Array([198, 18, 0, 4]), port: 0 }]);
 * r.bind({ prefix: ServicePrefix.parse("web.example/64"), priority: 0, weight: 1 });
 * const asker = { address: new Uint8Array([198, 18, 0, 9]), port: 0 };
 * r.handleMessage(0, { type: "service-solicit", seq: 5, serviceId: ServiceId.fromName("mail.example") }, asker);
 * assertEquals(r.pollTransmit(), undefined);
 * r.handleMessage(0, { type: "service-solicit", seq: 6, serviceId: ServiceId.fromName("web.example") }, asker);
 * const a = r.pollTransmit()!;
 * assertEquals([a.to, a.message.type, a.message.seq], [asker, "service-advertise", 6]);
 * ```
 */
export class AdhocResponder {
  readonly #lifetimeMs: number;
  readonly #services = new Map<string, ServiceEntry>();
  #locators: readonly Locator[] = [];
  #out: ControlTransmit[] = [];

  /** @param opts Answer lifetime. */
  constructor(opts: AdhocResponderOptions = {}) {
    this.#lifetimeMs = opts.lifetimeMs ?? 10_000;
  }

  /** Our locators, sent in answers (empty: the asker uses the packet's source). */
  setLocators(locators: readonly Locator[]): void {
    this.#locators = locators;
  }

  /** A service we now serve. */
  bind(entry: ServiceEntry): void {
    this.#services.set(entry.prefix.toString(), entry);
  }

  /** A service we no longer serve. */
  unbind(prefix: ServicePrefix): void {
    this.#services.delete(prefix.toString());
  }

  /** A control message for us: solicitations for our services are answered. */
  handleMessage(_now: number, msg: ControlMessage, from: Locator): void {
    if (msg.type !== "service-solicit") return;
    const hits = [...this.#services.values()].filter((s) => s.prefix.contains(msg.serviceId));
    if (hits.length === 0) return;
    this.#out.push({
      to: from,
      message: { type: "service-advertise", seq: msg.seq, lifetimeMs: this.#lifetimeMs, services: hits, locators: this.#locators },
    });
  }

  /** Next message to send. */
  pollTransmit(): ControlTransmit | undefined {
    return this.#out.shift();
  }
}

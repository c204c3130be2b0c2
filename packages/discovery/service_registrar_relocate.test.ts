/**
 * A host whose address changes: the registrar unregisters the lease of the
 * address it lost and registers again from the new one, so the router's
 * lease moves at once instead of pointing at a dead address until it expires.
 */
import { describe, expect, test } from "bun:test";
import { SeededRandom, ServiceTable } from "@serval/sal";
import { type Locator, locatorKey, ServicePrefix } from "@serval/wire";
import { LeaseTable } from "./lease_table.ts";
import { ServiceRegistrar } from "./service_registrar.ts";

const v4 = (d: number): Locator => ({ address: new Uint8Array([198, 18, 0, d]), port: 0 });
const ROUTER = v4(1);
const OLD = v4(7);
const NEW = v4(8);

/** Delivers what the registrar sends to the lease table, as if from `from`. */
function deliver(reg: ServiceRegistrar, leases: LeaseTable, now: number, from: Locator): void {
  for (let t = reg.pollTransmit(); t; t = reg.pollTransmit()) {
    if (t.to !== "broadcast") leases.handleMessage(now, t.message, from);
  }
}

describe("ServiceRegistrar: locator change", () => {
  test("the old address's lease is withdrawn at once and the new one registered", () => {
    const table = new ServiceTable({ random: new SeededRandom(1) });
    const leases = new LeaseTable(table);
    const reg = new ServiceRegistrar();
    reg.addRouter(0, ROUTER);
    reg.bind(0, { prefix: ServicePrefix.parse("web.example"), priority: 0, weight: 2 });
    deliver(reg, leases, 0, OLD);
    expect(leases.leases().map((l) => locatorKey(l.locator))).toEqual([locatorKey(OLD)]);

    // The host now sends from NEW (its registrations name no locator).
    reg.setLocators(10, [], [OLD]);
    deliver(reg, leases, 10, NEW);
    expect(leases.leases().map((l) => [locatorKey(l.locator), l.weight])).toEqual([[locatorKey(NEW), 2]]);
    const ev: string[] = [];
    for (let e = leases.pollEvent(); e; e = leases.pollEvent()) ev.push(`${e.type}:${locatorKey(e.lease.locator)}${e.type === "lease-removed" ? `:${e.reason}` : ""}`);
    expect(ev).toEqual([`lease-added:${locatorKey(OLD)}`, `lease-removed:${locatorKey(OLD)}:unregistered`, `lease-added:${locatorKey(NEW)}`]);
  });

  test("without withdrawn locators nothing is unregistered", () => {
    const reg = new ServiceRegistrar();
    reg.addRouter(0, ROUTER);
    reg.bind(0, { prefix: ServicePrefix.parse("web.example"), priority: 0, weight: 1 });
    reg.pollTransmit();
    reg.setLocators(1, [NEW]);
    const types: string[] = [];
    for (let t = reg.pollTransmit(); t; t = reg.pollTransmit()) types.push(t.message.type);
    expect(types).toEqual(["register"]);
  });
});

import { describe, expect, test } from "bun:test";
import { SalHost, SeededRandom, ServiceTable } from "@serval/sal";
import { type Locator, ServiceId, ServicePrefix } from "@serval/wire";
import { ControlAgent, LeaseTable, RouterAnnouncer, RouterDiscovery, ServiceRegistrar, ServiceResolver } from "./mod.ts";

const loc = (d: number): Locator => ({ address: new Uint8Array([198, 18, 0, d]), port: 0 });
const entry = (name: string, weight = 1) => ({ prefix: ServicePrefix.parse(name), priority: 0, weight });
const drain = <T>(m: { pollTransmit(): T | undefined }): T[] => {
  const out: T[] = [];
  for (let t = m.pollTransmit(); t; t = m.pollTransmit()) out.push(t);
  return out;
};

describe("RouterDiscovery", () => {
  test("solicits with back-off until a router answers, then stops; solicits again when the last one expires", () => {
    const d = new RouterDiscovery({ solicitIntervalUs: 100, maxSolicitIntervalUs: 400 });
    d.start(0);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = d.pollTimeout()!;
      times.push(t);
      d.handleTimeout(t);
    }
    expect(times).toEqual([100, 300, 700, 1100, 1500]);
    expect(drain(d).length).toBe(6);
    d.handleMessage(1600, { type: "router-announce", seq: 1, lifetimeMs: 1, bootId: 1, priority: 0, locators: [] }, loc(1));
    expect(d.pollTimeout()).toBe(2600); // only the expiry
    d.handleTimeout(2600);
    expect(d.pollEvent()?.type).toBe("router-up");
    expect(d.pollEvent()?.type).toBe("router-down");
    expect(drain(d).map((t) => t.message.type)).toEqual(["router-solicit"]);
  });

  test("prefers the higher priority, then the longest known", () => {
    const d = new RouterDiscovery();
    const ann = (priority: number) => ({ type: "router-announce" as const, seq: 1, lifetimeMs: 3000, bootId: 1, priority, locators: [] });
    d.handleMessage(0, ann(0), loc(1));
    d.handleMessage(1, ann(0), loc(2));
    expect(d.primary()?.key).toBe("198.18.0.1");
    d.handleMessage(2, ann(5), loc(3));
    expect(d.routers().map((r) => r.key)).toEqual(["198.18.0.3", "198.18.0.1", "198.18.0.2"]);
  });
});

describe("RouterDiscovery limits", () => {
  test("announced lifetimes are capped and at most maxRouters routers are kept", () => {
    const d = new RouterDiscovery({ maxRouters: 3, maxLifetimeMs: 5000 });
    const ann = { type: "router-announce" as const, seq: 1, lifetimeMs: 0xffffffff, bootId: 1, priority: 0, locators: [] };
    for (let i = 1; i <= 10; i++) d.handleMessage(0, ann, loc(i));
    expect(d.routers().length).toBe(3);
    expect(d.pollTimeout()).toBe(5_000_000);
  });
});

describe("RouterAnnouncer", () => {
  test("a solicitation flood is answered up to the per-interval budget", () => {
    const a = new RouterAnnouncer({ bootId: 1, maxAnswersPerInterval: 3 });
    a.start(0);
    drain(a);
    for (let i = 0; i < 10; i++) a.handleMessage(1, { type: "router-solicit", seq: i }, loc(9));
    expect(drain(a).length).toBe(3);
    expect(a.ignoredSolicitations).toBe(7);
    a.handleTimeout(1_000_000);
    a.handleMessage(1_000_001, { type: "router-solicit", seq: 99 }, loc(9));
    expect(drain(a).length).toBe(2); // the periodic one and the answer
  });
});

describe("ServiceRegistrar", () => {
  test("many services go in several messages; refresh only while there is something to refresh", () => {
    const r = new ServiceRegistrar({ servicesPerMessage: 2 });
    for (let i = 0; i < 5; i++) r.bind(0, entry(`s${i}.example/64`));
    expect(drain(r)).toEqual([]); // no router yet
    expect(r.pollTimeout()).toBeUndefined();
    r.addRouter(0, loc(1));
    const msgs = drain(r).map((t) => t.message);
    expect(msgs.map((m) => (m.type === "register" ? m.services.length : -1))).toEqual([2, 2, 1]);
    r.handleTimeout(1_000_000);
    expect(drain(r).length).toBe(3);
    r.removeRouter(1_000_001, loc(1));
    expect(r.pollTimeout()).toBeUndefined();
  });

  test("acks from strangers are ignored; refusals become events", () => {
    const r = new ServiceRegistrar();
    r.addRouter(0, loc(1));
    r.handleMessage(0, { type: "register-ack", seq: 1, lifetimeMs: 0, ok: false }, loc(2));
    expect(r.pollEvent()).toBeUndefined();
    r.handleMessage(0, { type: "register-ack", seq: 1, lifetimeMs: 0, ok: false }, loc(1));
    expect(r.pollEvent()?.type).toBe("refused");
  });

  test("bad options are refused", () => {
    expect(() => new ServiceRegistrar({ lifetimeMs: 0 })).toThrow(RangeError);
    expect(() => new ServiceRegistrar({ servicesPerMessage: 256 })).toThrow(RangeError);
  });
});

describe("LeaseTable", () => {
  const table = () => new ServiceTable({ random: new SeededRandom(1) });
  const register = (services: ReturnType<typeof entry>[], lifetimeMs = 3000, locators: Locator[] = []) =>
    ({ type: "register" as const, seq: 1, lifetimeMs, services, locators });

  test("refresh extends, weight changes reach the rule, unregister removes at once", () => {
    const t = table();
    const l = new LeaseTable(t);
    const p = ServicePrefix.parse("web.example/64");
    l.handleMessage(0, register([entry("web.example/64", 1)]), loc(5));
    l.handleMessage(2_000_000, register([entry("web.example/64", 4)]), loc(5));
    expect(l.pollTimeout()).toBe(5_000_000);
    expect(t.get(p)?.sets[0]?.targets[0]?.weight).toBe(4);
    l.handleMessage(2_100_000, { ...register([entry("web.example/64")], 0), type: "unregister" }, loc(5));
    expect(t.get(p)).toBeUndefined();
    expect(drain(l).map((x) => x.message.type)).toEqual(["register-ack", "register-ack", "register-ack"]);
    const events: string[] = [];
    for (let e = l.pollEvent(); e; e = l.pollEvent()) events.push(e.type === "lease-removed" ? e.reason : e.type);
    expect(events).toEqual(["lease-added", "unregistered"]);
  });

  test("lifetimes are capped; a conflicting operator rule and a full table refuse", () => {
    const t = table();
    const p = ServicePrefix.parse("db.example/64");
    t.addTarget(p, { type: "forward", locator: loc(6) }); // the operator's own rule
    const l = new LeaseTable(t, { maxLifetimeMs: 1000, maxLeases: 1 });
    l.handleMessage(0, register([entry("db.example/64")], 99_000), loc(6));
    const ack = drain(l)[0]!.message;
    expect(ack.type === "register-ack" && ack.ok).toBe(false);
    l.handleMessage(0, register([entry("a.example/64")], 99_000), loc(7));
    expect(l.pollTimeout()).toBe(1_000_000);
    l.handleMessage(0, register([entry("b.example/64")]), loc(7));
    expect(l.refused).toBe(2);
    expect(l.size).toBe(1);
    l.clear();
    expect(l.size).toBe(0);
    expect(t.get(ServicePrefix.parse("a.example/64"))).toBeUndefined();
    expect(t.get(p)?.sets[0]?.targets.length).toBe(1); // the operator's rule stays
  });

  test("resolve answers with at most 128 locators (one datagram), however many replicas", () => {
    const l = new LeaseTable(table());
    for (let i = 0; i < 300; i++) {
      l.handleMessage(0, register([entry("web.example/64")], 3000, [{ address: new Uint8Array([198, 18, 1 + (i >> 8), i & 255]), port: 0 }]), loc(1));
    }
    drain(l);
    l.handleMessage(0, { type: "resolve", seq: 4, serviceId: ServiceId.fromName("web.example") }, loc(9));
    const m = drain(l)[0]!.message;
    expect(m.type === "resolve-reply" ? m.locators.length : -1).toBe(128);
  });

  test("resolve answers the longest registered prefix, or an empty record", () => {
    const l = new LeaseTable(table());
    l.handleMessage(0, register([entry("example/32"), entry("web.example/64")]), loc(8));
    drain(l);
    l.handleMessage(0, { type: "resolve", seq: 4, serviceId: ServiceId.fromName("web.example") }, loc(9));
    const m = drain(l)[0]!.message;
    expect(m.type === "resolve-reply" ? [m.seq, m.services[0]!.prefix.bits, m.locators.length] : []).toEqual([4, 64, 1]);
    l.handleMessage(0, { type: "resolve", seq: 5, serviceId: ServiceId.fromName("other.org") }, loc(9));
    const none = drain(l)[0]!.message;
    expect(none.type === "resolve-reply" ? [none.lifetimeMs, none.locators.length] : []).toEqual([0, 0]);
  });
});

describe("ServiceResolver", () => {
  test("retries each router, then drops; with no router the packet is dropped at once", () => {
    const r = new ServiceResolver(new ServiceTable({ random: new SeededRandom(1) }), { attempts: 2, timeoutUs: 10 });
    r.request(0, 1, ServiceId.fromName("x.example"), [loc(1), loc(2)]);
    expect(drain(r).map((t) => t.to)).toEqual([loc(1), loc(2)]);
    r.handleTimeout(10);
    expect(drain(r).length).toBe(2);
    r.handleTimeout(20);
    expect(r.pollVerdict()).toEqual({ id: 1, verdict: "drop" });
    r.request(30, 2, ServiceId.fromName("x.example"), []);
    expect(r.pollVerdict()).toEqual({ id: 2, verdict: "drop" });
    expect(r.pendingCount).toBe(0);
  });

  test("learned rules expire; an empty answer releases nothing", () => {
    const t = new ServiceTable({ random: new SeededRandom(1) });
    const r = new ServiceResolver(t, { maxRuleLifetimeMs: 5 });
    const id = ServiceId.fromName("x.example");
    r.request(0, 1, id, "broadcast");
    r.handleMessage(1, { type: "resolve-reply", seq: 1, lifetimeMs: 0, services: [], locators: [] }, loc(1));
    expect(r.pollVerdict()).toBeUndefined();
    r.handleMessage(2, { type: "service-advertise", seq: 1, lifetimeMs: 60_000, services: [entry("x.example/64")], locators: [] }, loc(3));
    expect(r.pollVerdict()).toEqual({ id: 1, verdict: "release" });
    expect(t.get(ServicePrefix.parse("x.example/64"))?.sets[0]?.targets[0]?.locator).toEqual(loc(3));
    expect(r.pollTimeout()).toBe(5002);
    r.handleTimeout(5002);
    expect(t.get(ServicePrefix.parse("x.example/64"))).toBeUndefined();
  });

  test("answers are learned only for our own pending questions: unsolicited, stale, from strangers or off-topic are ignored", () => {
    const t = new ServiceTable({ random: new SeededRandom(1) });
    const r = new ServiceResolver(t);
    const adv = (seq: number, prefix: string, locs: Locator[] = []) =>
      ({ type: "resolve-reply" as const, seq, lifetimeMs: 60_000, services: [entry(prefix)], locators: locs });
    // Unsolicited: nothing pending.
    r.handleMessage(0, adv(1, "default", [loc(66)]), loc(66));
    expect(t.get(ServicePrefix.DEFAULT)).toBeUndefined();
    const id = ServiceId.fromName("x.example");
    r.request(0, 1, id, [loc(1)]);
    const seq = drain(r)[0]!.message.seq;
    r.handleMessage(1, adv(seq, "x.example/64", [loc(66)]), loc(66)); // a router we did not ask
    r.handleMessage(1, adv(seq + 1, "x.example/64", [loc(66)]), loc(1)); // a stale or forged seq
    r.handleMessage(1, adv(seq, "other.example/64", [loc(66)]), loc(1)); // does not cover the question
    expect(r.learnedCount).toBe(0);
    expect(r.pollVerdict()).toBeUndefined();
    r.handleMessage(2, adv(seq, "x.example/64", [loc(5)]), loc(1));
    expect(r.learnedCount).toBe(1);
    expect(r.pollVerdict()).toEqual({ id: 1, verdict: "release" });
  });

  test("learned rules are capped", () => {
    const t = new ServiceTable({ random: new SeededRandom(1) });
    const r = new ServiceResolver(t, { maxRules: 3 });
    r.request(0, 1, ServiceId.fromName("x.example"), "broadcast");
    const seq = drain(r)[0]!.message.seq;
    const many = Array.from({ length: 10 }, (_, i) => loc(10 + i));
    r.handleMessage(1, { type: "service-advertise", seq, lifetimeMs: 60_000, services: [entry("x.example/64")], locators: many }, loc(10));
    expect(r.learnedCount).toBe(3);
  });
});

describe("ControlAgent router changes", () => {
  const ann = (priority: number, lifetimeMs = 3000) => ({ type: "router-announce" as const, seq: 1, lifetimeMs, bootId: 7, priority, locators: [] });
  const setup = (routers: Locator[]) => {
    const host = new SalHost({ random: new SeededRandom(3), locals: [loc(9)] });
    const agent = new ControlAgent(host, { role: "host", routers, discover: true });
    agent.start(0);
    return { host, agent };
  };
  const defaultTargets = (host: SalHost) =>
    (host.serviceTable.get(ServicePrefix.DEFAULT)?.sets ?? []).flatMap((s) => s.targets.map((t) => ({ priority: s.priority, locator: t.locator && [...t.locator.address].join(".") })));

  test("a configured router stays in use when discovery stops hearing it; a discovered one goes", () => {
    const { host, agent } = setup([loc(1)]);
    agent.discovery!.handleMessage(1, ann(0, 1), loc(1));
    agent.discovery!.handleMessage(1, ann(0, 1), loc(2));
    agent.pump(1);
    expect(agent.routers().length).toBe(2);
    agent.handleTimeout(5_000);
    expect(agent.routers().map((r) => r.address[3])).toEqual([1]);
    expect(defaultTargets(host)).toEqual([{ priority: 0, locator: "198.18.0.1" }]);
    agent.stop(6_000);
  });

  test("a discovered router's new priority moves its default rule", () => {
    const { host, agent } = setup([]);
    agent.discovery!.handleMessage(1, ann(0), loc(2));
    agent.pump(1);
    expect(defaultTargets(host)).toEqual([{ priority: 0, locator: "198.18.0.2" }]);
    agent.discovery!.handleMessage(2, ann(5), loc(2));
    agent.pump(2);
    expect(defaultTargets(host)).toEqual([{ priority: 5, locator: "198.18.0.2" }]);
    agent.stop(3);
    expect(host.serviceTable.get(ServicePrefix.DEFAULT)).toBeUndefined();
  });
});

describe("ControlAgent options", () => {
  test("a weight or priority the control messages cannot carry is refused at construction", () => {
    const host = new SalHost({ random: new SeededRandom(3), locals: [loc(9)] });
    for (const bad of [{ weight: 0 }, { weight: 65536 }, { weight: 1.5 }, { priority: -1 }, { priority: 70000 }]) {
      expect(() => new ControlAgent(host, { role: "host", routers: [loc(1)], ...bad })).toThrow(RangeError);
    }
    expect(() => new ControlAgent(host, { role: "host", routers: [loc(1)], weight: 65535, priority: 65535 })).not.toThrow();
  });
});

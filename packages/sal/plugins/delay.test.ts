import { describe, expect, test } from "bun:test";
import { ServiceId, ServicePrefix } from "@serval/wire";
import { SeededRandom } from "../random_source.ts";
import { ServiceTable } from "../service_table.ts";
import { delay } from "./delay.ts";

const P = ServicePrefix.parse("web.example/16");
const KEY = ServiceId.parse("web.example").bytes;

function setup(init: { capacity?: number; timeout?: number } = {}) {
  const t = new ServiceTable({ random: new SeededRandom(1), plugins: [delay(init)] });
  t.addTarget(P, { type: "delay", priority: 10 });
  t.addTarget(P, { type: "demux", listener: 5, priority: 1 });
  return t;
}

const hold = (t: ServiceTable, now: number, bytes = [1, 2, 3]) =>
  t.resolve(now, KEY, 0, { flowKey: 9, packetLen: bytes.length, packet: new Uint8Array(bytes) }, "any");

describe("DELAY", () => {
  test("queues, emits a resolve-request, and releases on verdict", () => {
    const t = setup();
    const pkt = new Uint8Array([1, 2, 3]);
    const v = t.resolve(100, KEY, 0, { flowKey: 9, packetLen: 3, packet: pkt }, "any");
    expect(v.kind).toBe("delay");
    const id = v.kind === "delay" ? v.id : -1;
    pkt[0] = 99; // the plugin copied the bytes
    const ev = t.pollEvent()!;
    expect(ev.type).toBe("resolve-request");
    expect(ev.id).toBe(id);
    expect(ev.now).toBe(100);
    expect(ev.prefix.equals(P)).toBe(true);
    expect(ev.serviceId).toEqual(KEY);
    expect(t.pollEvent()).toBeUndefined();
    expect(t.pollReleased()).toBeUndefined();
    expect(t.delayVerdict(200, id, "release")).toBe(true);
    const r = t.pollReleased()!;
    expect(r).toEqual({ id, packet: new Uint8Array([1, 2, 3]), delayed: 1 });
    expect(t.pollTimeout()).toBeUndefined();
    // The same id twice is ignored.
    expect(t.delayVerdict(200, id, "release")).toBe(false);
    expect(t.pollReleased()).toBeUndefined();
  });

  test("a released packet that hits DELAY again is dropped as delay-loop", () => {
    const t = setup();
    hold(t, 0);
    t.delayVerdict(1, t.pollEvent()!.id, "release");
    const r = t.pollReleased()!;
    const v = t.resolve(2, KEY, 0, { flowKey: 9, packetLen: r.packet.length, packet: r.packet, delayed: r.delayed }, "any");
    expect(v).toEqual({ kind: "drop", reason: "delay-loop" });
    const delayTarget = t.get(P)!.sets[0]!.targets[0]!;
    expect(delayTarget.counters).toEqual({ packetsResolved: 1, bytesResolved: 3, packetsDropped: 1, bytesDropped: 3 });
  });

  test("a released packet re-resolves to the rule below once the controller removes DELAY", () => {
    const t = setup();
    hold(t, 0);
    const ev = t.pollEvent()!;
    t.removeTarget(P, { type: "delay" });
    t.delayVerdict(1, ev.id, "release");
    const r = t.pollReleased()!;
    const v = t.resolve(2, KEY, 0, { flowKey: 9, packetLen: 3, packet: r.packet, delayed: r.delayed }, "any");
    expect(v.kind === "demux" && v.target.listener).toBe(5);
  });

  test("drop verdict frees the packet and counts it", () => {
    const t = setup();
    hold(t, 0, [1, 2, 3, 4]);
    expect(t.delayVerdict(1, t.pollEvent()!.id, "drop")).toBe(true);
    expect(t.pollReleased()).toBeUndefined();
    expect(t.get(P)!.counters.packetsDropped).toBe(1);
    expect(t.counters.bytesDropped).toBe(4);
    expect(t.pollTimeout()).toBeUndefined();
  });

  test("unknown ids are ignored", () => {
    const t = setup();
    expect(t.delayVerdict(0, 12345, "release")).toBe(false);
    expect(t.delayVerdict(0, -1, "drop")).toBe(false);
  });

  test("times out after the configured timeout and counts the drop", () => {
    const t = setup({ timeout: 500 });
    hold(t, 1000);
    hold(t, 1200);
    expect(t.pollTimeout()).toBe(1500);
    t.handleTimeout(1499);
    expect(t.pollTimeout()).toBe(1500);
    t.handleTimeout(1500);
    expect(t.pollTimeout()).toBe(1700);
    t.handleTimeout(10_000);
    expect(t.pollTimeout()).toBeUndefined();
    const delayTarget = t.get(P)!.sets[0]!.targets[0]!;
    expect(delayTarget.counters.packetsDropped).toBe(2);
    // Late verdicts for timed-out packets are ignored.
    expect(t.delayVerdict(10_001, t.pollEvent()!.id, "release")).toBe(false);
    expect(t.pollReleased()).toBeUndefined();
  });

  test("default timeout is 1 s", () => {
    const t = setup();
    hold(t, 0);
    expect(t.pollTimeout()).toBe(1_000_000);
  });

  test("a full queue drops as delay-full", () => {
    const t = setup({ capacity: 2 });
    expect(hold(t, 0).kind).toBe("delay");
    expect(hold(t, 0).kind).toBe("delay");
    expect(hold(t, 0)).toEqual({ kind: "drop", reason: "delay-full" });
    t.delayVerdict(1, t.pollEvent()!.id, "drop");
    expect(hold(t, 2).kind).toBe("delay");
  });

  test("default capacity is 1024", () => {
    const t = setup();
    for (let i = 0; i < 1024; i++) expect(hold(t, i).kind).toBe("delay");
    expect(hold(t, 2000)).toEqual({ kind: "drop", reason: "delay-full" });
  });

  test("a request without packet bytes is held with an empty copy", () => {
    const t = setup();
    t.resolve(0, KEY, 0, { flowKey: 1, packetLen: 60 }, "any");
    t.delayVerdict(1, t.pollEvent()!.id, "release");
    expect(t.pollReleased()!.packet.length).toBe(0);
  });

  test("bad options are RangeErrors", () => {
    expect(() => delay({ capacity: 0 })).toThrow(RangeError);
    expect(() => delay({ timeout: 1.5 })).toThrow("Cannot create delay plugin: timeout is 1.5, must be an integer >= 1 (µs)");
  });
});

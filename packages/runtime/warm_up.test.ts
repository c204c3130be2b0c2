import { describe, expect, test } from "bun:test";
import { warmUp } from "./warm_up.ts";

describe("warmUp", () => {
  test("runs connects through an in-memory router, stops at its count, and leaves nothing running", async () => {
    const before = process.getActiveResourcesInfo?.() ?? [];
    const r = await warmUp({ connects: 200, maxMs: 10_000 });
    expect(r.connects).toBe(200);
    expect(r.failed).toBe(0);
    // Every connect's SYN went through the router (plus the replica's registration).
    expect(r.routerPackets).toBeGreaterThanOrEqual(200);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.closed).toBe(true);
    expect(process.getActiveResourcesInfo?.() ?? []).toEqual(before);
  });

  test("stops when its time is up", async () => {
    const r = await warmUp({ connects: 1_000_000, maxMs: 50 });
    expect(r.failed).toBe(0);
    expect(r.connects).toBeGreaterThan(0);
    expect(r.connects).toBeLessThan(1_000_000);
    // Time is checked between connects; closing the nodes comes after.
    expect(r.ms).toBeLessThan(1000);
    expect(r.closed).toBe(true);
  });

  test("once: a second warm-up in a warm process does nothing", async () => {
    await warmUp({ connects: 10, maxMs: 5000 });
    const r = await warmUp({ connects: 10, maxMs: 5000, once: true });
    expect(r).toEqual({ connects: 0, failed: 0, ms: 0, routerPackets: 0, flowsAtClose: 0, closed: true });
  });

  test("the default warm-up is bounded in time", async () => {
    const r = await warmUp();
    expect(r.failed).toBe(0);
    expect(r.connects).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(2000);
    expect(r.closed).toBe(true);
  });
});

import { afterEach, describe, expect, test } from "bun:test";
import type { DemoWorld } from "./demo_world.ts";
import { runDemoScenario } from "./demo_scenario.ts";
import { udpDemoWorld } from "./demo_udp.ts";

const worlds: DemoWorld[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

async function world(): Promise<DemoWorld> {
  const w = await udpDemoWorld();
  worlds.push(w);
  return w;
}

const small = { connects: 30, transferBytes: 1 << 20 };

describe("runDemoScenario: the migration check", () => {
  test("passes when the replica's end of the flow really sends to the client's new address", async () => {
    const lines: string[] = [];
    const r = await runDemoScenario(await world(), { ...small, out: (l) => lines.push(l) });
    expect(r.failures).toEqual([]);
    expect(lines.join("\n")).toMatch(/replica-\d {2}now sends to \S+ ✓/);
  }, 60_000);

  test("fails when the replica never sent to the address the client moved to (it is not enough that the flow ended)", async () => {
    const w = await world();
    // The move happens, but reports an address nobody used: the replica cannot have sent there.
    const real = w.moveClient.bind(w);
    const lying: DemoWorld = Object.assign(Object.create(w) as DemoWorld, {
      moveClient: async () => ({ ...(await real()), to: "198.18.9.9:9" }),
    });
    const lines: string[] = [];
    const r = await runDemoScenario(lying, { ...small, out: (l) => lines.push(l) });
    expect(r.ok).toBe(false);
    expect(r.failures.some((f) => /^replica-\d did not learn the new address$/.test(f))).toBe(true);
  }, 60_000);
});

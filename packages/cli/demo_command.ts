/**
 * `serval demo`: a small live topology — a service router, three replicas
 * of `echo.demo` (weights 1, 2, 3) and a client — showing late binding,
 * weighted load balancing, failover and migration in readable lines.
 *
 * As root on Linux the nodes live in network namespaces on the packet
 * datapath; otherwise (or with `--udp`) they run in-process over UDP on
 * loopback. Either way everything is removed when the demo ends, fails, or
 * is interrupted (SIGINT/SIGTERM interrupt the command; the topology is a
 * scoped resource whose release closes the nodes and deletes the
 * namespaces by exact name). Exit code 0 when every check held, 1 when one
 * failed, 130 when interrupted.
 *
 * @module
 */

import { Console, Effect } from "effect";
import { Command, Flag } from "effect/cli";
import { netnsDemoWorld, netnsUnavailable } from "./demo_netns.ts";
import { DemoAborted, runDemoScenario } from "./demo_scenario.ts";
import { udpDemoWorld } from "./demo_udp.ts";
import type { DemoWorld } from "./demo_world.ts";
import { PresetExit } from "./preset_command.ts";

const flags = {
  udp: Flag.Boolean("udp").pipe(Flag.withDescription("use in-process nodes over UDP loopback even as root (no namespaces)"), Flag.withDefault(false)),
};

/** Opens the namespace topology when it can, else the UDP one, saying why. */
async function openWorld(forceUdp: boolean, note: (line: string) => void): Promise<DemoWorld> {
  if (!forceUdp) {
    const why = netnsUnavailable();
    if (why === undefined) {
      try {
        return await netnsDemoWorld();
      } catch (e) {
        note(`serval demo: network namespaces failed (${(e as Error).message}); using UDP on loopback instead`);
      }
    } else {
      note(`serval demo: ${why}, so no network namespaces: the nodes run in this process over UDP on loopback`);
    }
  }
  return await udpDemoWorld();
}

/** The `serval demo` command. */
export const demoCommand = Command.make("demo", flags, (f) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => openWorld(f.udp, (line) => console.log(line)),
      catch: (e) => new PresetExit(1, `serval demo: cannot build the topology: ${(e as Error).message}`),
    }),
    (world) =>
      Effect.tryPromise({
        try: (signal) => runDemoScenario(world, { out: (line) => console.log(line), color: process.stdout.isTTY === true, signal }),
        catch: (e) => e instanceof DemoAborted ? new PresetExit(130, e.message) : new PresetExit(1, `serval demo: ${(e as Error).message}`),
      }).pipe(
        Effect.flatMap((r) => (r.ok ? Effect.void : Effect.fail(new PresetExit(1, `serval demo: ${r.failures.length} check(s) failed`)))),
      ),
    (world) =>
      Effect.promise(async () => {
        await world.close();
        const what = world.namespaces.length > 0 ? `${world.namespaces.length} namespaces deleted, ` : "";
        console.log(`cleaned up: ${what}${world.replicas.length + 2} nodes stopped, their sockets closed`);
      }),
  ).pipe(
    Effect.catchIf((e): e is PresetExit => e instanceof PresetExit, (e) => Console.error(e.message).pipe(Effect.andThen(Effect.fail(e)))),
  )).pipe(
    Command.withDescription("Show Serval at work: late binding, load balancing, failover and migration on a small live topology"),
  );

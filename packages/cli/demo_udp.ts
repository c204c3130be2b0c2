/**
 * The unprivileged demo topology: five in-process nodes over UDP on
 * loopback. Each replica and the client run on a {@linkcode MultiDatapath}:
 * the client's "address change" is a second socket (127.0.0.2 where the
 * system allows binding it, else another port) added before the first one
 * is closed, and a replica "dies" when its only socket vanishes without a
 * goodbye.
 *
 * @module
 */

import { MultiDatapath, openUdpDatapath, ServalNode, type UdpDatapath } from "@serval/runtime";
import type { Locator } from "@serval/wire";
import { DEMO_WEIGHTS, type DemoReplica, type DemoWorld, locatorLabel, within } from "./demo_world.ts";

const LOOP = new Uint8Array([127, 0, 0, 1]);

type Datapath = ServalNode["datapath"];

const udp = (address = "127.0.0.1") => openUdpDatapath({ address, port: 0, broadcast: false });

/** A second loopback address when the system has one (Linux: all of 127/8), else 127.0.0.1. */
async function secondSocket(): Promise<UdpDatapath> {
  try {
    return await udp("127.0.0.2");
  } catch {
    return await udp();
  }
}

/**
 * Starts the UDP topology. On failure halfway, what was started is closed.
 *
 * @example
 * ```ts
 * import { udpDemoWorld } from "@serval/cli";
 * const w = await udpDemoWorld();
 * console.assert(w.replicas.length === 3);
 * await w.close();
 * ```
 */
export async function udpDemoWorld(): Promise<DemoWorld> {
  const nodes: ServalNode[] = [];
  const datapaths: Datapath[] = [];
  const open = async <D extends Datapath>(p: Promise<D>): Promise<D> => {
    const d = await p;
    datapaths.push(d);
    return d;
  };
  const start = async (role: "host" | "router", datapath: Datapath, routers: Locator[] = [], weight = 1) => {
    const n = await ServalNode.start({ role, datapath, control: { routers, weight } });
    nodes.push(n);
    return n;
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await within(Promise.allSettled(nodes.map((n) => n.close())), 3000);
    // Datapaths whose node never started.
    await within(Promise.allSettled(datapaths.map((d) => d.close())), 1000);
  };
  try {
    const rdp = await open(udp());
    const router = await start("router", rdp);
    const r: Locator = { address: LOOP, port: rdp.port };
    const replicaDps: MultiDatapath[] = [];
    const replicas: DemoReplica[] = [];
    for (const [i, weight] of DEMO_WEIGHTS.entries()) {
      const dp = new MultiDatapath([await open(udp())]);
      replicaDps.push(dp);
      replicas.push({ name: `replica-${i + 1}`, weight, node: await start("host", dp, [r], weight) });
    }
    const first = await open(udp());
    const cdp = new MultiDatapath([first]);
    const client = await start("host", cdp, [r]);
    const description = [
      `router     ${locatorLabel(router.locals[0]!)}`,
      ...replicas.map((x) => `${x.name.padEnd(10)} ${locatorLabel(x.node.locals[0]!)}  weight ${x.weight}`),
      `client     ${locatorLabel(client.locals[0]!)}`,
    ];
    return {
      variant: "udp",
      description,
      router,
      replicas,
      client,
      namespaces: [],
      async moveClient() {
        const from = locatorLabel(client.locals[0]!);
        const next = await open(secondSocket());
        cdp.add(next);
        const removedAt = performance.now();
        await cdp.remove(first);
        const to = locatorLabel(next.localAddresses()[0] ?? { address: LOOP, port: next.port });
        return { from, to, how: `new UDP socket ${to} opened, socket ${from} closed`, removedAt };
      },
      async crash(i) {
        const dp = replicaDps[i]!;
        const was = locatorLabel(replicas[i]!.node.locals[0]!);
        for (const m of [...dp.members]) await dp.remove(m);
        return `its socket ${was} closed without a goodbye`;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

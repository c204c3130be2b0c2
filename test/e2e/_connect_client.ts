/**
 * A Serval client process for the end-to-end tests: run inside a network
 * namespace (`ip netns exec NS bun test/e2e/_connect_client.ts ...`), it
 * starts a host node over the UDP datapath, waits for a router, then opens
 * `--count` connections to `--service` (`--parallel` at a time), sends
 * `--bytes` pseudo-random bytes on each, checks the echo byte for byte and
 * closes. It prints one JSON line: connections per replica (by the peer's
 * address), failures, timing, and connect latency (call → usable) percentiles.
 *
 * ```text
 * bun test/e2e/_connect_client.ts --service echo.example --count 3000 [--bytes 64] [--parallel 32]
 *     [--router 198.18.0.1] [--bind 0.0.0.0] [--port 54325] [--timeout-ms 60000] [--adhoc] [--packet] [--warmup N]
 *     [--no-warm-up]
 *
 * `--adhoc`: no router; services are found by broadcast solicitation.
 * `--warmup N`: N real connects first, not counted. Before the node starts,
 * the process runs `warmUp()` (in memory, ~0.2 s) as the daemons do, unless `--no-warm-up`.
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatIpv4, parseIpv4 } from "@serval/wire";
import { openUdpDatapath, ServalApi, ServalNode, warmUp } from "@serval/runtime";

const { values } = parseArgs({
  options: {
    service: { type: "string" },
    count: { type: "string", default: "1" },
    bytes: { type: "string", default: "64" },
    parallel: { type: "string", default: "32" },
    router: { type: "string", multiple: true },
    bind: { type: "string", default: "0.0.0.0" },
    port: { type: "string", default: "54325" },
    "timeout-ms": { type: "string", default: "60000" },
    adhoc: { type: "boolean", default: false },
    packet: { type: "boolean", default: false },
    warmup: { type: "string", default: "0" },
    "no-warm-up": { type: "boolean", default: false },
  },
});
if (!values.service) {
  console.error("usage: _connect_client.ts --service NAME [--count N] [--bytes N] [--parallel N] [--router IP[:PORT]]");
  process.exit(2);
}
const count = Number(values.count), size = Number(values.bytes), parallel = Number(values.parallel);
const routers = (values.router ?? []).map((r) => {
  const [ip, port] = r.split(":");
  return { address: parseIpv4(ip!), port: port ? Number(port) : 0 };
});

// A fresh process: its first connects would run on cold code (issue 6).
const warm = values["no-warm-up"] ? undefined : await warmUp();

// --packet: the AF_PACKET datapath in this process's namespace (root), TPACKET_V2 for per-packet wake-ups.
const dp = values.packet
  ? await (await import("@serval/datapath-ffi")).openPacketDatapath({ ringVersion: 2 })
  : await openUdpDatapath({ address: values.bind, port: Number(values.port) });
const node = await ServalNode.start({ role: values.adhoc ? "adhoc" : "host", datapath: dp, control: routers.length ? { routers } : {} });
const api = new ServalApi(node);
const deadline = performance.now() + Number(values["timeout-ms"]);
const t0 = performance.now();
while (!values.adhoc && node.agent.routers().length === 0) {
  if (performance.now() > deadline) {
    console.log(JSON.stringify({ error: "no router found" }));
    await node.close();
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 5));
}
const routerMs = performance.now() - t0;

const perReplica: Record<string, number> = {};
const errors: Record<string, number> = {};
let ok = 0, mismatched = 0;
const connectUs: number[] = [];
let seed = 1;

async function one(): Promise<void> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 24;
  try {
    const tc = performance.now();
    const c = await api.connect(values.service!);
    connectUs.push((performance.now() - tc) * 1000);
    const peer = node.host.flowState(c.flow)?.peer;
    const key = peer ? formatIpv4(peer.address) + (peer.port ? `:${peer.port}` : "") : "?";
    const reading = (async () => {
      const back = new Uint8Array(size);
      let n = 0;
      for await (const chunk of c.readable) {
        back.set(chunk.subarray(0, Math.max(0, size - n)), n);
        n += chunk.length;
      }
      return n === size && back.every((b, i) => b === data[i]);
    })();
    const w = c.writable.getWriter();
    await w.write(data);
    await w.close();
    if (await reading) {
      ok++;
      perReplica[key] = (perReplica[key] ?? 0) + 1;
    } else {
      mismatched++;
    }
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    errors[m] = (errors[m] ?? 0) + 1;
  }
}

// Warm-up connects (JIT, neighbour entries, the router's tables), not counted.
for (let i = 0; i < Number(values.warmup); i++) {
  try {
    (await api.connect(values.service!)).abort();
  } catch { /* counted below if it persists */ }
}
const t1 = performance.now();
let started = 0;
await Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
  while (started < count && performance.now() < deadline) {
    started++;
    await one();
  }
}));
const ms = performance.now() - t1;
connectUs.sort((a, b) => a - b);
const q = (f: number) => Math.round(connectUs[Math.min(connectUs.length - 1, Math.floor(f * connectUs.length))] ?? -1);
console.log(JSON.stringify({
  ok,
  mismatched,
  errors,
  perReplica,
  routerMs: Math.round(routerMs),
  warmUp: warm ? { connects: warm.connects, ms: Math.round(warm.ms) } : null,
  ms: Math.round(ms),
  connectsPerSecond: Math.round((ok / ms) * 1000),
  connectUs: { min: q(0), p50: q(0.5), p90: q(0.9) },
}));
api.close();
await node.close();
process.exit(ok === count ? 0 : 1);

/**
 * Tests of the network-namespace harness itself (test/e2e/netns.ts): the
 * topologies forward what they should, impairments do what they say,
 * captures see traffic, and nothing is left behind, even after a crash.
 * Needs root; skipped with a notice otherwise. About 10 s.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import {
  capture,
  clearImpairments,
  closeAll,
  iperf3,
  lan,
  leftovers,
  lossDrops,
  type Netns,
  pair,
  ping,
  python3,
  randomLoss,
  rateLimit,
  routed,
  runPrefix,
  skipUnlessRoot,
  withTopology,
} from "./netns.ts";

const SUITE = "netns harness";

/** Namespace names currently in `ip netns list`. */
function netnsList(ns0: Netns): string[] {
  // Any Netns can run `ip netns list`: the list is global (a file per name in /run/netns).
  return ns0.exec(["ip", "netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0]!).filter((x) => x !== "");
}

// A UDP receiver: prints "ready", then "<payload> <source>" per datagram until `secs` pass.
const UDP_RECV_PY = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while True:
    left = end - time.monotonic()
    if left <= 0: break
    s.settimeout(left)
    try: d, a = s.recvfrom(2048)
    except socket.timeout: break
    print(d.decode(), a[0], flush=True)
`;

// Sends argv[2] to each address in argv[3:] (port argv[1]) with SO_BROADCAST on.
const UDP_SEND_PY = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for a in sys.argv[3:]: s.sendto(sys.argv[2].encode(), (a, int(sys.argv[1])))
`;

const PY = python3();

/** Runs the harness in a child Bun process that builds a pair and then throws or waits for a signal. */
function child(mode: "throw" | "wait"): { proc: ReturnType<typeof spawn>; ready: Promise<string[]>; exited: Promise<number | null> } {
  const code = [
    `import { pair } from ${JSON.stringify(new URL("./netns.ts", import.meta.url).pathname)};`,
    "const t = pair();",
    'console.log("READY " + t.namespaces.join(" "));',
    mode === "throw" ? 'throw new Error("test body failed");' : "setInterval(() => {}, 1000);",
  ].join("\n");
  const proc = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const ready = new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("child did not build its topology within 10 s")), 10_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /READY (.*)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!.split(" "));
      }
    });
    proc.once("close", () => reject(new Error(`child ended before READY: ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => proc.once("close", (c) => resolve(c)));
  return { proc, ready, exited };
}

afterAll(closeAll); // a failed test may have left a topology open (no-op when none is)

describe.skipIf(skipUnlessRoot(SUITE))(SUITE, () => {

  test("pair(): a and b ping each other; names, addresses, ifindex and mac are consistent", () => {
    const t = pair();
    try {
      const { a, b } = t.hosts;
      expect(a.ifname.length).toBeLessThanOrEqual(15);
      expect(a.ifname.startsWith(runPrefix())).toBe(true);
      expect(a.address).toMatch(/^198\.1[89]\.\d+\.1$/);
      expect(b.subnet).toBe(a.subnet);
      const ab = ping(a, b.address);
      const ba = ping(b, a.address);
      expect([ab.received, ab.ttl, ba.received, ba.ttl]).toEqual([1, 64, 1, 64]);
      expect(ping(a, "198.18.255.254", { timeoutMs: 200 }).received).toBe(0); // nobody there (a can fail)
      expect(a.ns.addresses().filter((x) => x.ifname === a.ifname)).toEqual([
        { ifname: a.ifname, ifindex: a.ifindex, family: 4, address: a.address, prefixLen: 24 },
      ]);
      expect(a.ns.ifindex(a.ifname)).toBe(a.ifindex);
      expect(b.ns.mac(b.ifname)).toBe(b.mac);
      // IPv6 is off by default: no fe80:: address that would chatter on the link.
      expect(a.ns.addresses().some((x) => x.family === 6 && x.ifname !== "lo")).toBe(false);
    } finally {
      t.close();
    }
  });

  test("routed(): a reaches b through r, TTL decremented, r counts the forwards; without forwarding it fails", async () => {
    await withTopology(routed, async (t) => {
      const { a, b } = t.hosts;
      const r = t.routers.r;
      expect(a.subnet).not.toBe(b.subnet);
      const before = r.ns.snmp().ForwDatagrams!;
      const seenAtB = await capture(b, `icmp and src host ${a.address}`, () => {
        const p = ping(a, b.address);
        expect([p.received, p.ttl]).toEqual([1, 63]); // b answers with 64, r decrements
      }, { args: ["-v"] });
      expect(seenAtB.join("\n")).toMatch(/ttl 63,.*\n.*echo request/);
      expect(r.ns.snmp().ForwDatagrams! - before).toBe(2); // request and reply
      expect(b.ns.snmp("Icmp").OutEchoReps).toBe(1);
      expect(ping(a, r.ifaces[1].address).ttl).toBe(64); // the router's far address, not forwarded
      r.ns.setForwarding(false);
      expect(ping(a, b.address, { timeoutMs: 300 }).received).toBe(0);
    });
  });

  test("lan(3): every host pings every other", async () => {
    await withTopology(() => lan(3), (t) => {
      expect(t.members.map((h) => h.name)).toEqual(["h0", "h1", "h2"]);
      for (const x of t.members) {
        for (const y of t.members) {
          if (x === y) continue;
          const p = ping(x, y.address);
          expect(`${x.name}→${y.name} ${p.received} ttl ${p.ttl}`).toBe(`${x.name}→${y.name} 1 ttl 64`);
        }
      }
      expect(t.bridge.addresses().filter((x) => x.ifname !== "lo")).toEqual([]); // the bridge namespace has no addresses
    });
  });

  test("lan(3, behindRouter): a UDP broadcast reaches the LAN hosts, not the host behind the router", async () => {
    await withTopology(() => lan(3, { behindRouter: true }), async (t) => {
      const [h0, h1, h2] = t.members as [typeof t.members[0], typeof t.members[0], typeof t.members[0]];
      const far = t.far!;
      const port = "4791";
      const rx = [h1, h2, far].map((h) => h.ns.spawn([PY, "-c", UDP_RECV_PY, port, "10"]));
      await Promise.all(rx.map((p) => p.waitFor("ready")));
      h0.ns.exec([PY, "-c", UDP_SEND_PY, port, "bcast", h0.broadcast, "255.255.255.255"]);
      // Then a unicast to far along the same path: once it is there, a leaked broadcast would be too.
      h0.ns.exec([PY, "-c", UDP_SEND_PY, port, "unicast", far.address]);
      await Promise.all([rx[0]!.waitFor(/bcast[^]*bcast/), rx[1]!.waitFor(/bcast[^]*bcast/), rx[2]!.waitFor("unicast")]);
      await Promise.all(rx.map((p) => p.stop()));
      expect(rx[0]!.stdout.split("\n").filter((l) => l.startsWith("bcast"))).toEqual([`bcast ${h0.address}`, `bcast ${h0.address}`]);
      expect(rx[2]!.stdout.trim().split("\n")).toEqual(["ready", `unicast ${h0.address}`]);
      expect(ping(h1, far.address).ttl).toBe(63);
    });
  });

  test("rateLimit(): tbf holds iperf3 TCP near the configured rate (±30 %); clearImpairments removes it", async () => {
    await withTopology(pair, async (t) => {
      const { a, b } = t.hosts;
      rateLimit(a, a.ifname, { rateMbit: 50, burstKb: 32, latencyMs: 50 });
      expect(a.ns.exec(["tc", "qdisc", "show", "dev", a.ifname]).stdout).toContain("tbf");
      const r = await iperf3(a, b, { seconds: 2 });
      const mbit = r.receivedBps / 1e6;
      console.log(`[e2e] tbf 50 Mbit/s → iperf3 TCP ${mbit.toFixed(1)} Mbit/s`);
      expect(mbit).toBeGreaterThan(35);
      expect(mbit).toBeLessThan(65);
      clearImpairments(a);
      expect(a.ns.exec(["tc", "qdisc", "show", "dev", a.ifname]).stdout).not.toContain("tbf");
    });
  });

  test("randomLoss(): 20 % of UDP shows up as ~20 % loss in iperf3 UDP (±8 points), counted by the rule", async () => {
    await withTopology(pair, async (t) => {
      const { a, b } = t.hosts;
      randomLoss(b, { percent: 20, protocol: "udp", match: "meta length > 200" });
      const r = await iperf3(a, b, { udp: true, bitrate: "20M", length: 1000, seconds: 2 });
      console.log(`[e2e] nft 20 % UDP loss → iperf3 ${r.lostPercent!.toFixed(1)} % of ${r.packets} datagrams`);
      expect(r.packets!).toBeGreaterThan(3000);
      expect(r.lostPercent!).toBeGreaterThan(12);
      expect(r.lostPercent!).toBeLessThan(28);
      expect(Math.abs(lossDrops(b) - r.lostPackets!)).toBeLessThanOrEqual(5); // the loss is ours, not the kernel's
      clearImpairments(b);
      expect(lossDrops(b)).toBe(0);
      expect(ping(a, b.address).received).toBe(1);
    });
  });

  test("capture(): returns the packets of the traffic, and nothing when there is none", async () => {
    await withTopology(pair, async (t) => {
      const { a, b } = t.hosts;
      const quiet = await capture(b, "icmp", () => {});
      expect(quiet).toEqual([]);
      const lines = await capture(b, "icmp", () => ping(a, b.address, { count: 2 }));
      expect(lines.length).toBe(4);
      expect(lines.filter((l) => l.includes("echo request")).length).toBe(2);
      expect(lines.filter((l) => l.includes(`${b.address} > ${a.address}: ICMP echo reply`)).length).toBe(2);
      // The pattern for "no ICMP in answer to our traffic": UDP to a closed port draws a port-unreachable.
      const icmpFromB = await capture(b, `icmp and src host ${b.address}`, () => {
        a.ns.exec([PY, "-c", UDP_SEND_PY, "9", "x", b.address]);
      });
      expect(icmpFromB.join("\n")).toContain("udp port 9 unreachable");
    });
  });

  test("close(): no leftovers, also when the body throws; spawned processes die; idempotent", async () => {
    let names: readonly string[] = [];
    let sleeper: Promise<number | null> | undefined;
    const body = withTopology(routed, (t) => {
      names = t.namespaces;
      sleeper = t.hosts.a.ns.spawn(["sleep", "30"]).exited;
      expect(netnsList(t.hosts.a.ns)).toEqual(expect.arrayContaining([...names]));
      throw new Error("test body failed");
    });
    await expect(body).rejects.toThrow("test body failed");
    expect(names.length).toBe(3);
    expect(await sleeper).toBeNull(); // killed by a signal
    expect(leftovers()).toEqual([]);

    const t = pair();
    t.hosts.b.ns.exec(["iperf3", "-s", "-D", "-p", "5299"]); // a daemon the harness did not spawn itself
    t.close();
    t.close();
    expect(t.closed).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  test("exit hook: a process that crashes or gets SIGTERM still removes its namespaces", async () => {
    const crash = child("throw");
    const crashNames = await crash.ready;
    expect(await crash.exited).not.toBe(0);
    expect(leftovers(runPrefix(crash.proc.pid!))).toEqual([]);

    const term = child("wait");
    try {
      const termNames = await term.ready;
      expect(crashNames.length).toBe(2);
      expect(termNames.length).toBe(2);
      expect(leftovers(runPrefix(term.proc.pid!))).toEqual([...termNames].sort()); // they do exist while it runs
      term.proc.kill("SIGTERM");
      expect(await term.exited).toBe(143);
      expect(leftovers(runPrefix(term.proc.pid!))).toEqual([]);
    } finally {
      // Never leave the child running (it would keep its namespaces) if an assertion failed.
      if (term.proc.exitCode === null && term.proc.signalCode === null) term.proc.kill("SIGTERM");
    }
  });

  test("two topologies at once do not clash", () => {
    const t1 = pair();
    const t2 = pair();
    try {
      expect(t1.id).not.toBe(t2.id);
      expect(t1.hosts.a.subnet).not.toBe(t2.hosts.a.subnet);
      expect(new Set([...t1.namespaces, ...t2.namespaces]).size).toBe(4);
      expect(ping(t1.hosts.a, t1.hosts.b.address).received).toBe(1);
      expect(ping(t2.hosts.a, t2.hosts.b.address).received).toBe(1);
      // t1's a cannot see t2's b: separate namespaces, separate links.
      expect(ping(t1.hosts.a, t2.hosts.b.address, { timeoutMs: 200 }).received).toBe(0);
      t1.close();
      expect(ping(t2.hosts.a, t2.hosts.b.address).received).toBe(1);
    } finally {
      t1.close();
      t2.close();
    }
  });

  test("the suite left no namespaces or links behind", () => {
    expect(leftovers()).toEqual([]);
  });
});

/**
 * Network-namespace harness for end-to-end tests and kernel benchmarks.
 *
 * Builds small topologies of Linux network namespaces joined by veth pairs
 * (and a bridge), runs commands inside them, impairs links (tbf rate limits,
 * nftables random loss), captures traffic with tcpdump, and removes
 * everything it created **by exact name** when the topology is closed, when
 * the process exits, or on SIGINT/SIGTERM.
 *
 * Rules it keeps (DESIGN.md §9): addresses only from 198.18.0.0/15, only
 * inside namespaces it created itself; names unique per run
 * (`sv<pid base36>-<topology, 2 base-36 digits><role>`, e.g. `sv78c-01ae0`;
 * every interface name ≤ 15 characters); every wait is bounded. It needs
 * root: call {@linkcode skipUnlessRoot} and skip the suite otherwise.
 *
 * Tools it runs: `ip` (iproute2), `tc`, `nft`, `tcpdump`, `iperf3`, `sysctl`
 * and `python3` (for {@linkcode ping}: this machine kind has no `ping`
 * binary, so ICMP echo is sent from a raw socket by a few lines of Python).
 *
 * @example A routed topology, a ping through the router, no leftovers
 * ```ts
 * import { describe, expect, test } from "bun:test";
 * import { leftovers, ping, routed, skipUnlessRoot } from "./netns.ts";
 *
 * describe.skipIf(skipUnlessRoot("my suite"))("my suite", () => {
 *   test("a reaches b through r", () => {
 *     const t = routed();
 *     try {
 *       const r = ping(t.hosts.a, t.hosts.b.address);
 *       expect(r.received).toBe(1);
 *       expect(r.ttl).toBe(63); // b answers with TTL 64, r decrements it
 *     } finally {
 *       t.close();
 *     }
 *     expect(leftovers()).toEqual([]);
 *   });
 * });
 * ```
 *
 * @module
 */

import { type ChildProcess, spawn as spawnChild, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

// ---------------------------------------------------------------------------
// Root check and skip notice

/**
 * Whether this process runs as root (network namespaces need it).
 *
 * @returns `true` when the effective user id is 0
 * @example
 * ```ts
 * if (!isRoot()) console.log("namespace tests will be skipped");
 * ```
 */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Returns `true` when a suite must be skipped because this process is not
 * root, and then prints one notice line
 * `[e2e] skipped <suite>: needs root (network namespaces)`.
 *
 * @param suite the suite's name, as shown in the notice
 * @returns `true` to skip (not root), `false` to run
 * @example Skip a whole describe block with a visible notice
 * ```ts
 * import { describe } from "bun:test";
 * describe.skipIf(skipUnlessRoot("forwarding"))("forwarding", () => {
 *   // tests that build topologies
 * });
 * ```
 */
export function skipUnlessRoot(suite: string): boolean {
  if (isRoot()) return false;
  console.log(`[e2e] skipped ${suite}: needs root (network namespaces)`);
  return true;
}

// ---------------------------------------------------------------------------
// Running commands

/** What a finished command left behind. */
export interface ExecResult {
  /** Exit code; -1 when it could not start, timed out or died by a signal. */
  readonly code: number;
  /** Standard output (UTF-8). */
  readonly stdout: string;
  /** Standard error (UTF-8); carries the reason when `code` is -1. */
  readonly stderr: string;
}

/** Options of {@linkcode Netns.exec}. */
export interface ExecOptions {
  /** Throw on a non-zero exit (default `true`). With `false` the result is returned whatever the code. */
  readonly check?: boolean;
  /** Text written to the command's standard input. */
  readonly input?: string;
  /** Kill the command (SIGKILL) after this many milliseconds (default 30 000). */
  readonly timeoutMs?: number;
}

const DEFAULT_EXEC_TIMEOUT_MS = 30_000;

/** Runs `cmd` synchronously in this process's namespace. @private */
function run(cmd: readonly string[], opts: ExecOptions = {}): ExecResult {
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    input: opts.input,
    timeout: opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
    killSignal: "SIGKILL",
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  let res: ExecResult;
  if (r.error) {
    res = { code: -1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error.message}` };
  } else if (r.status === null) {
    res = { code: -1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}killed by ${r.signal}` };
  } else {
    res = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  if (res.code !== 0 && opts.check !== false) {
    throw new Error(`Cannot run "${cmd.join(" ")}": exit code ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

// ---------------------------------------------------------------------------
// Long-running processes

/** Options of {@linkcode Netns.spawn}. */
export interface SpawnOptions {
  /** Keep standard output and error in {@linkcode NsProcess.stdout}/`stderr` (default `true`); `false` discards them. */
  readonly collect?: boolean;
  /** Environment (default: this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Bytes of output kept per stream; more is dropped (bounded memory for chatty tools). */
const MAX_COLLECT = 8 << 20;

/**
 * A process running inside a namespace, started by {@linkcode Netns.spawn}.
 * Its topology kills it on close if it still runs.
 */
export class NsProcess {
  /** The Node child process (its `pid` is the command's own: `ip netns exec` execs in place). */
  readonly child: ChildProcess;
  /** Resolves with the exit code, or `null` when a signal ended it; never rejects. */
  readonly exited: Promise<number | null>;
  #stdout = "";
  #stderr = "";
  #done = false;
  #waiters = new Set<() => void>();

  /** @private Built by {@linkcode Netns.spawn}. */
  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (s: string) => {
      if (this.#stdout.length < MAX_COLLECT) this.#stdout += s;
      this.#wake();
    });
    child.stderr?.on("data", (s: string) => {
      if (this.#stderr.length < MAX_COLLECT) this.#stderr += s;
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      child.once("error", (e) => {
        this.#stderr += e.message;
        this.#done = true;
        this.#wake();
        resolve(null);
      });
      child.once("close", (code) => {
        this.#done = true;
        this.#wake();
        resolve(code);
      });
    });
  }

  /** Process id (undefined if it failed to start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process has ended. */
  get done(): boolean {
    return this.#done;
  }

  /** Standard output so far (UTF-8). */
  get stdout(): string {
    return this.#stdout;
  }

  /** Standard error so far (UTF-8). */
  get stderr(): string {
    return this.#stderr;
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /**
   * Waits until `stdout + stderr` matches `pattern` (an output line such as
   * "Server listening"), bounded by `timeoutMs`.
   *
   * @param pattern text or regular expression to look for
   * @param timeoutMs upper bound (default 5000)
   * @returns resolves once matched; rejects on timeout or if the process ends first
   * @example
   * ```ts
   * const srv = host.ns.spawn(["iperf3", "-s", "-1", "--forceflush"]);
   * await srv.waitFor("Server listening");
   * ```
   */
  waitFor(pattern: string | RegExp, timeoutMs = 5000): Promise<void> {
    const matches = () => {
      const text = this.#stdout + this.#stderr;
      return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    };
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (matches()) finish();
        else if (this.#done) {
          finish(new Error(`Cannot find "${String(pattern)}" in the output of pid ${this.pid}: the process ended (${this.#stderr.trim().slice(-300)})`));
        }
      };
      const timer = setTimeout(
        () => finish(new Error(`Cannot find "${String(pattern)}" in the output of pid ${this.pid}: timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Stops the process: sends `signal` (default SIGTERM), waits up to
   * `timeoutMs` (default 2000) for it to end, then sends SIGKILL.
   *
   * @returns the exit code, or `null` when a signal ended it
   * @example
   * ```ts
   * const p = host.ns.spawn(["sleep", "60"]);
   * await p.stop();
   * ```
   */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 2000): Promise<number | null> {
    if (this.#done) return this.exited;
    this.child.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!this.#done) this.child.kill("SIGKILL");
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }

  /** Sends SIGKILL if still running (synchronous; used by topology close). */
  kill(): void {
    if (!this.#done && this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------------------
// One namespace

/** An address configured in a namespace (from `ip -j addr`). */
export interface NsAddress {
  /** Interface name. */
  readonly ifname: string;
  /** Interface index inside the namespace. */
  readonly ifindex: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Text form (`198.18.3.1`, `fe80::1`). */
  readonly address: string;
  /** Prefix length. */
  readonly prefixLen: number;
}

/**
 * One network namespace, named {@linkcode Netns.name}. Topology builders
 * create them; `new Netns(name)` only wraps an existing one.
 *
 * @example
 * ```ts
 * const t = pair();
 * const r = t.hosts.a.ns.exec(["ip", "-br", "addr"]);
 * console.log(r.stdout); // lo, and sv…a0 with its 198.18.x.1/24
 * t.close();
 * ```
 */
export class Netns {
  /** The namespace's name (as in `ip netns list`). */
  readonly name: string;
  readonly #procs = new Set<NsProcess>();

  /**
   * Wraps the existing namespace `name` (creates nothing).
   *
   * @param name namespace name
   */
  constructor(name: string) {
    this.name = name;
  }

  /**
   * Runs `cmd` inside the namespace (`ip netns exec NAME ...cmd`) and waits
   * for it (bounded by `timeoutMs`, default 30 s).
   *
   * @param cmd program and arguments
   * @param opts `check: false` returns failures instead of throwing
   * @returns exit code and output
   * @throws Error naming the command, exit code and stderr when it fails (unless `check: false`)
   * @example
   * ```ts
   * const { stdout } = host.ns.exec(["ip", "route"]);
   * const probe = host.ns.exec(["false"], { check: false }); // probe.code === 1
   * ```
   */
  exec(cmd: readonly string[], opts?: ExecOptions): ExecResult {
    return run(["ip", "netns", "exec", this.name, ...cmd], opts);
  }

  /**
   * Starts a long-running `cmd` inside the namespace. The process is
   * tracked: closing its topology kills it if it still runs.
   *
   * @param cmd program and arguments
   * @param opts output collection and environment
   * @returns a handle to wait on output, stop it or await its exit
   * @example
   * ```ts
   * const srv = t.hosts.b.ns.spawn(["iperf3", "-s", "-1", "--forceflush"]);
   * await srv.waitFor("Server listening");
   * // ... run a client in a ...
   * await srv.stop();
   * ```
   */
  spawn(cmd: readonly string[], opts: SpawnOptions = {}): NsProcess {
    const collect = opts.collect ?? true;
    const child = spawnChild("ip", ["netns", "exec", this.name, ...cmd], {
      stdio: ["ignore", collect ? "pipe" : "ignore", collect ? "pipe" : "ignore"],
      env: (opts.env ?? process.env) as NodeJS.ProcessEnv,
    });
    const p = new NsProcess(child);
    this.#procs.add(p);
    void p.exited.then(() => this.#procs.delete(p));
    return p;
  }

  /**
   * Kills (SIGKILL) every process this handle spawned that still runs, and
   * every other process inside the namespace (`ip netns pids`: they can only
   * come from commands run in it, such as `iperf3 -D`). Synchronous.
   *
   * @example
   * ```ts
   * host.ns.killAll();
   * ```
   */
  killAll(): void {
    for (const p of this.#procs) p.kill();
    const r = run(["ip", "netns", "pids", this.name], { check: false, timeoutMs: 5000 });
    for (const tok of r.stdout.split(/\s+/)) {
      const pid = Number(tok);
      if (tok === "" || !Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  /**
   * Every address configured in the namespace, loopback included.
   *
   * @returns addresses with interface, family and prefix length
   * @example
   * ```ts
   * const v4 = host.ns.addresses().filter((a) => a.family === 4 && a.ifname !== "lo");
   * // [{ ifname: "sv1k2-1a0", ifindex: 2, family: 4, address: "198.18.9.1", prefixLen: 24 }]
   * ```
   */
  addresses(): NsAddress[] {
    const links = JSON.parse(this.ip(["-j", "addr", "show"]).stdout || "[]") as {
      ifname: string;
      ifindex: number;
      addr_info?: { family: string; local: string; prefixlen: number }[];
    }[];
    return links.flatMap((l) =>
      (l.addr_info ?? []).map((a) => ({
        ifname: l.ifname,
        ifindex: l.ifindex,
        family: a.family === "inet6" ? (6 as const) : (4 as const),
        address: a.local,
        prefixLen: a.prefixlen,
      })),
    );
  }

  /**
   * Turns IP forwarding on or off in the namespace (`net.ipv4.ip_forward`
   * and `net.ipv6.conf.all.forwarding`).
   *
   * @param on `true` to route between interfaces
   * @example
   * ```ts
   * t.routers.r.ns.setForwarding(false); // now a cannot reach b
   * ```
   */
  setForwarding(on: boolean): void {
    const v = on ? "1" : "0";
    this.sysctl({ "net.ipv4.ip_forward": v, "net.ipv6.conf.all.forwarding": v });
  }

  /**
   * Sets sysctl keys inside the namespace (one `sysctl -w` call).
   *
   * @param values key → value, e.g. `{ "net.ipv4.conf.all.rp_filter": "0" }`
   * @example
   * ```ts
   * host.ns.sysctl({ "net.core.rmem_max": "8388608" });
   * ```
   */
  sysctl(values: Readonly<Record<string, string>>): void {
    this.exec(["sysctl", "-q", "-w", ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
  }

  /**
   * The namespace's kernel counters for one protocol, from
   * `/proc/net/snmp` (e.g. `Ip.ForwDatagrams`, `Icmp.OutDestUnreachs`,
   * `Udp.RcvbufErrors`).
   *
   * @param protocol the `/proc/net/snmp` section (default `"Ip"`)
   * @returns counter name → value
   * @throws Error when the section does not exist
   * @example Count what a router forwarded
   * ```ts
   * const before = t.routers.r.ns.snmp().ForwDatagrams!;
   * ping(t.hosts.a, t.hosts.b.address);
   * t.routers.r.ns.snmp().ForwDatagrams! - before; // 2: request and reply
   * ```
   */
  snmp(protocol = "Ip"): Record<string, number> {
    const rows = this.exec(["cat", "/proc/net/snmp"])
      .stdout.split("\n")
      .filter((l) => l.startsWith(`${protocol}: `));
    if (rows.length < 2) throw new Error(`Cannot read counters "${protocol}" in namespace "${this.name}": no such section in /proc/net/snmp`);
    const keys = rows[0]!.split(/\s+/).slice(1);
    const vals = rows[1]!.split(/\s+/).slice(1);
    return Object.fromEntries(keys.map((k, i) => [k, Number(vals[i])]));
  }

  /**
   * The index of interface `ifname` inside the namespace.
   *
   * @param ifname interface name
   * @returns the ifindex (what `if_nametoindex` returns inside the namespace)
   * @throws Error when there is no such interface
   * @example
   * ```ts
   * const idx = host.ns.ifindex(host.ifname); // equals host.ifindex
   * ```
   */
  ifindex(ifname: string): number {
    return this.#link(ifname).ifindex;
  }

  /**
   * The MAC address of interface `ifname`, as `aa:bb:cc:dd:ee:ff`.
   *
   * @param ifname interface name
   * @returns lower-case colon-separated MAC
   * @example
   * ```ts
   * const mac = host.ns.mac(host.ifname); // equals host.mac
   * ```
   */
  mac(ifname: string): string {
    return this.#link(ifname).address;
  }

  /**
   * Runs `ip -n NAME ...args` (faster than `exec(["ip", ...])`: no mount
   * namespace is set up).
   *
   * @param args arguments after `ip -n NAME`
   * @param opts as for {@linkcode Netns.exec}
   * @returns exit code and output
   * @example
   * ```ts
   * host.ns.ip(["route", "add", "198.18.200.0/24", "via", "198.18.9.254"]);
   * ```
   */
  ip(args: readonly string[], opts?: ExecOptions): ExecResult {
    return run(["ip", "-n", this.name, ...args], opts);
  }

  #link(ifname: string): { ifindex: number; address: string } {
    const [l] = JSON.parse(this.ip(["-j", "link", "show", "dev", ifname]).stdout) as { ifindex: number; address: string }[];
    if (!l) throw new Error(`Cannot find interface "${ifname}" in namespace "${this.name}"`);
    return l;
  }
}

// ---------------------------------------------------------------------------
// Topologies

/** One configured interface of a host or router. */
export interface Iface {
  /** Interface name inside the namespace (unique per run, ≤ 15 characters). */
  readonly ifname: string;
  /** Interface index inside the namespace. */
  readonly ifindex: number;
  /** MAC address, `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** IPv4 address (in 198.18.0.0/15). */
  readonly address: string;
  /** Prefix length of the subnet (24). */
  readonly prefixLen: number;
  /** The subnet, `198.18.x.0/24`. */
  readonly subnet: string;
  /** The subnet's directed broadcast address, `198.18.x.255`. */
  readonly broadcast: string;
}

/** An end host: one namespace with one interface. */
export interface Host extends Iface {
  /** Role name in the topology (`a`, `b`, `h0`, `far`). */
  readonly name: string;
  /** Its namespace. */
  readonly ns: Netns;
}

/** A router: one namespace with forwarding on and two interfaces. */
export interface Router {
  /** Role name (`r`). */
  readonly name: string;
  /** Its namespace. */
  readonly ns: Netns;
  /** `ifaces[0]` faces the first subnet (host a, or the LAN), `ifaces[1]` the second (host b, or the far host). */
  readonly ifaces: readonly [Iface, Iface];
}

/** Options shared by the builders. */
export interface TopologyOptions {
  /**
   * Keep IPv6 on (default `false`). Off by default so that router
   * solicitations, MLD and DAD frames do not show up in captures and in
   * packet-datapath receive counts; the tests address IPv4 only.
   */
  readonly ipv6?: boolean;
}

/** What a topology created, for cleanup by exact name. @private */
class Build {
  readonly id: string;
  readonly namespaces: Netns[] = [];
  readonly links: string[] = [];
  closed = false;
  readonly ipv6: boolean;

  constructor(opts: TopologyOptions) {
    this.ipv6 = opts.ipv6 ?? false;
    this.id = nextTopologyId();
    open.add(this);
    installHooks();
  }

  /** Checks an interface name and remembers it. */
  name(role: string): string {
    const n = this.id + role;
    if (n.length > 15) throw new RangeError(`Cannot name interface "${n}": ${n.length} characters, must be <= 15`);
    return n;
  }

  addNs(role: string): Netns {
    const ns = new Netns(this.id + role);
    run(["ip", "netns", "add", ns.name]);
    this.namespaces.push(ns);
    ns.ip(["link", "set", "lo", "up"]);
    if (!this.ipv6) ns.sysctl({ "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1" });
    return ns;
  }

  /** A veth pair created directly inside the two namespaces (never in ours). */
  veth(nsA: Netns, nameA: string, nsB: Netns, nameB: string): void {
    this.links.push(nameA, nameB);
    run(["ip", "link", "add", nameA, "netns", nsA.name, "type", "veth", "peer", "name", nameB, "netns", nsB.name]);
  }

  /** Adds an address and brings the interface up; returns its description. */
  configure(ns: Netns, ifname: string, subnet: Subnet, hostPart: number): Iface {
    const address = subnet.host(hostPart);
    ns.ip(["addr", "add", `${address}/24`, "brd", "+", "dev", ifname]);
    ns.ip(["link", "set", ifname, "up"]);
    const [l] = JSON.parse(ns.ip(["-j", "link", "show", "dev", ifname]).stdout) as { ifindex: number; address: string }[];
    return { ifname, ifindex: l!.ifindex, mac: l!.address, address, prefixLen: 24, subnet: subnet.cidr, broadcast: subnet.host(255) };
  }

  host(role: string, peerNs: Netns, peerIf: string, subnet: Subnet, hostPart: number): Host {
    const ns = this.addNs(role);
    const ifname = this.name(`${role}e0`);
    this.veth(ns, ifname, peerNs, peerIf);
    return { name: role, ns, ...this.configure(ns, ifname, subnet, hostPart) };
  }

  /** Removes everything; never throws; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    open.delete(this);
    const problems: string[] = [];
    for (const ns of this.namespaces) {
      try {
        ns.killAll();
      } catch (e) {
        problems.push(String(e));
      }
    }
    for (const ns of [...this.namespaces].reverse()) {
      const r = run(["ip", "netns", "del", ns.name], { check: false, timeoutMs: 10_000 });
      if (r.code !== 0 && !/No such file|not found/i.test(r.stderr)) problems.push(`netns del ${ns.name}: ${r.stderr.trim()}`);
    }
    // Links were created inside the namespaces and died with them; one that
    // somehow sits in our namespace is removed by its exact name.
    if (this.links.length > 0) {
      const here = new Set(rootLinks());
      for (const l of this.links) {
        if (!here.has(l)) continue;
        const r = run(["ip", "link", "del", l], { check: false, timeoutMs: 10_000 });
        if (r.code !== 0) problems.push(`link del ${l}: ${r.stderr.trim()}`);
      }
    }
    if (problems.length > 0) console.error(`[e2e] cleanup of ${this.id}: ${problems.join("; ")}`);
  }
}

/**
 * A set of namespaces joined by links, with named hosts (and routers).
 * Close it in a `finally` (or use {@linkcode withTopology}); if the process
 * exits or gets SIGINT/SIGTERM first, an exit hook closes it.
 *
 * @typeParam H host names (`"a" | "b"` for {@linkcode pair})
 * @typeParam R router names (`"r"` for {@linkcode routed})
 * @example
 * ```ts
 * const t = pair();
 * try {
 *   expect(ping(t.hosts.a, t.hosts.b.address).received).toBe(1);
 * } finally {
 *   t.close();
 * }
 * ```
 */
export class Topology<H extends string = string, R extends string = never> {
  /** Hosts by role name. */
  readonly hosts: Readonly<Record<H, Host>>;
  /** Routers by role name. */
  readonly routers: Readonly<Record<R, Router>>;
  readonly #build: Build;

  /** @private Built by {@linkcode pair}, {@linkcode routed}, {@linkcode lan}. */
  constructor(build: Build, hosts: Record<H, Host>, routers: Record<R, Router>) {
    this.#build = build;
    this.hosts = hosts;
    this.routers = routers;
  }

  /** This topology's name prefix (`sv<pid>-<nn>`, e.g. `sv78c-01`): every namespace and interface it made starts with it. */
  get id(): string {
    return this.#build.id;
  }

  /** Names of the namespaces it created. */
  get namespaces(): readonly string[] {
    return this.#build.namespaces.map((n) => n.name);
  }

  /** Whether {@linkcode Topology.close} ran. */
  get closed(): boolean {
    return this.#build.closed;
  }

  /**
   * Kills the processes spawned in its namespaces, then deletes every
   * namespace and link it created, by exact name. Idempotent; never throws
   * (problems are printed to stderr).
   *
   * @example
   * ```ts
   * t.close();
   * t.close(); // no-op
   * ```
   */
  close(): void {
    this.#build.close();
  }
}

/** A LAN: hosts `h0`…`h{n-1}` on one bridge, optionally a router `r` and a host `far` behind it. */
export class LanTopology extends Topology<string, string> {
  /** The LAN hosts in order (`members[i]` is `hosts["h" + i]`). */
  readonly members: readonly Host[];
  /** The namespace that holds the bridge (no addresses in it). */
  readonly bridge: Netns;
  /** The bridge device's name inside {@linkcode LanTopology.bridge}. */
  readonly bridgeIf: string;
  /** The host behind the router (with `behindRouter`). */
  readonly far: Host | undefined;
  /** The router between the LAN and `far` (with `behindRouter`). */
  readonly router: Router | undefined;

  /** @private Built by {@linkcode lan}. */
  constructor(build: Build, members: Host[], bridge: Netns, bridgeIf: string, far?: Host, router?: Router) {
    const hosts: Record<string, Host> = {};
    for (const h of members) hosts[h.name] = h;
    if (far) hosts[far.name] = far;
    super(build, hosts, router ? { [router.name]: router } : {});
    this.members = members;
    this.bridge = bridge;
    this.bridgeIf = bridgeIf;
    this.far = far;
    this.router = router;
  }
}

/** Runs a builder, closing what it made if it fails halfway. @private */
function build<T>(opts: TopologyOptions, make: (b: Build) => T): T {
  const b = new Build(opts);
  try {
    return make(b);
  } catch (e) {
    b.close();
    throw e;
  }
}

/**
 * Two hosts `a` (.1) and `b` (.2) on one veth pair, in a /24 of
 * 198.18.0.0/15 unique to this run.
 *
 * @param opts builder options
 * @returns the topology; close it when done
 * @example
 * ```ts
 * const t = pair();
 * ping(t.hosts.a, t.hosts.b.address); // { sent: 1, received: 1, ttl: 64, … }
 * t.close();
 * ```
 */
export function pair(opts: TopologyOptions = {}): Topology<"a" | "b"> {
  return build(opts, (b) => {
    const net = nextSubnet();
    const nsA = b.addNs("a");
    const nsB = b.addNs("b");
    const ifA = b.name("ae0");
    const ifB = b.name("be0");
    b.veth(nsA, ifA, nsB, ifB);
    const a: Host = { name: "a", ns: nsA, ...b.configure(nsA, ifA, net, 1) };
    const h: Host = { name: "b", ns: nsB, ...b.configure(nsB, ifB, net, 2) };
    return new Topology(b, { a, b: h }, {});
  });
}

/**
 * `a — r — b`: two /24 subnets, router `r` (.1 on both) with forwarding
 * on, `a` and `b` (.2 each) with a default route via `r`.
 *
 * @param opts builder options
 * @returns the topology; `routers.r.ifaces[0]` faces `a`, `ifaces[1]` faces `b`
 * @example
 * ```ts
 * const t = routed();
 * ping(t.hosts.a, t.hosts.b.address).ttl; // 63
 * t.close();
 * ```
 */
export function routed(opts: TopologyOptions = {}): Topology<"a" | "b", "r"> {
  return build(opts, (b) => {
    const netA = nextSubnet();
    const netB = nextSubnet();
    const nsR = b.addNs("r");
    nsR.setForwarding(true);
    const rA = b.name("re0");
    const rB = b.name("re1");
    const a = b.host("a", nsR, rA, netA, 2);
    const h = b.host("b", nsR, rB, netB, 2);
    const r: Router = { name: "r", ns: nsR, ifaces: [b.configure(nsR, rA, netA, 1), b.configure(nsR, rB, netB, 1)] };
    a.ns.ip(["route", "add", "default", "via", r.ifaces[0].address]);
    h.ns.ip(["route", "add", "default", "via", r.ifaces[1].address]);
    return new Topology(b, { a, b: h }, { r });
  });
}

/** Options of {@linkcode lan}. */
export interface LanOptions extends TopologyOptions {
  /**
   * Add router `r` on the LAN (.254) and host `far` behind it in a second
   * subnet (router .1, far .2). LAN hosts then get a default route via `r`
   * (so 255.255.255.255 has a route too) and `far` one via `r`. Used to
   * check that broadcasts stay on the LAN.
   */
  readonly behindRouter?: boolean;
}

/**
 * `n` hosts `h0`…`h{n-1}` (.1….n) on one Linux bridge.
 *
 * The bridge lives in its own namespace rather than in a host's: every host
 * then has exactly one interface and nothing else (no bridge device that
 * would itself receive and answer LAN broadcasts, no extra address), so all
 * hosts are alike, and captures inside a host show only its own traffic.
 *
 * @param n number of LAN hosts, 1..99
 * @param opts `behindRouter` adds router `r` and host `far`
 * @returns the topology; close it when done
 * @example
 * ```ts
 * const t = lan(3, { behindRouter: true });
 * ping(t.members[0], t.members[2].address).received; // 1
 * ping(t.members[0], t.far!.address).ttl; // 63
 * t.close();
 * ```
 */
export function lan(n: number, opts: LanOptions = {}): LanTopology {
  if (!Number.isInteger(n) || n < 1 || n > 99) throw new RangeError(`Cannot build a LAN of ${n} hosts: must be 1..99`);
  return build(opts, (b) => {
    const net = nextSubnet();
    const nsBr = b.addNs("br");
    const brIf = b.name("br0");
    nsBr.ip(["link", "add", brIf, "type", "bridge"]);
    nsBr.ip(["link", "set", brIf, "up"]);
    const port = (name: string) => {
      const p = b.name(name);
      return {
        p,
        attach: () => {
          nsBr.ip(["link", "set", p, "master", brIf]);
          nsBr.ip(["link", "set", p, "up"]);
        },
      };
    };
    const members: Host[] = [];
    for (let i = 0; i < n; i++) {
      const pt = port(`p${i}`);
      members.push(b.host(`h${i}`, nsBr, pt.p, net, i + 1));
      pt.attach();
    }
    if (!opts.behindRouter) return new LanTopology(b, members, nsBr, brIf);
    const farNet = nextSubnet();
    const nsR = b.addNs("r");
    nsR.setForwarding(true);
    const rLan = b.name("re0");
    const rFar = b.name("re1");
    const pr = port("pr");
    b.veth(nsR, rLan, nsBr, pr.p);
    pr.attach();
    const far = b.host("far", nsR, rFar, farNet, 2);
    const router: Router = { name: "r", ns: nsR, ifaces: [b.configure(nsR, rLan, net, 254), b.configure(nsR, rFar, farNet, 1)] };
    for (const h of members) h.ns.ip(["route", "add", "default", "via", router.ifaces[0].address]);
    far.ns.ip(["route", "add", "default", "via", router.ifaces[1].address]);
    return new LanTopology(b, members, nsBr, brIf, far, router);
  });
}

/**
 * Builds a topology, runs `fn` with it, and closes it whatever happens
 * (also when `fn` throws or rejects).
 *
 * @param make a builder call, e.g. `() => routed()`
 * @param fn the test body
 * @returns what `fn` returns
 * @example
 * ```ts
 * await withTopology(() => pair(), (t) => {
 *   expect(ping(t.hosts.a, t.hosts.b.address).received).toBe(1);
 * });
 * ```
 */
export async function withTopology<T extends Topology<string, string>, U>(make: () => T, fn: (t: T) => U | Promise<U>): Promise<U> {
  const t = make();
  try {
    return await fn(t);
  } finally {
    t.close();
  }
}

// ---------------------------------------------------------------------------
// Names, subnets, leftovers, exit hooks

const RUN_PREFIX = runPrefix();
const ID_SPACE = 36 * 36;
let topologySeq = 0;
let subnetSeq = 0;
const open = new Set<Build>();
let hooked = false;

/**
 * The name prefix of one run's namespaces and links: `sv<pid base36>-`.
 *
 * @param pid process id (default: this process)
 * @returns the prefix, e.g. `sv1k2-` for pid 1802
 * @example
 * ```ts
 * runPrefix(1802); // "sv1k2-"
 * ```
 */
export function runPrefix(pid: number = process.pid): string {
  return `sv${pid.toString(36)}-`;
}

/**
 * Next topology id: the run prefix and two base-36 digits. The fixed width
 * keeps ids prefix-free (topology `01` + role `br` can never read as
 * topology `1b` + role `r`), and the interface budget holds: `sv` + pid (at
 * most 5 digits) + `-` + 2 + role (at most 5, `h98e0`) = 15. Skips ids in
 * use: still open here, or left by a killed earlier run with our pid (never
 * touched).
 */
function nextTopologyId(): string {
  const taken = [...namespaceNames(), ...rootLinks()];
  for (let i = 0; i < ID_SPACE; i++) {
    topologySeq = (topologySeq + 1) % ID_SPACE;
    const id = RUN_PREFIX + topologySeq.toString(36).padStart(2, "0");
    if (!taken.some((x) => x.startsWith(id))) return id;
  }
  throw new RangeError(`Cannot name a new topology: all ${ID_SPACE} ids of "${RUN_PREFIX}" are in use`);
}

/** A /24 inside 198.18.0.0/15. @private */
interface Subnet {
  readonly cidr: string;
  host(n: number): string;
}

/**
 * The next /24 of 198.18.0.0/15 (512 of them): runs start at a pid-derived
 * offset and step by one per subnet, so parallel runs and topologies use
 * different subnets (the namespaces isolate them anyway; distinct subnets
 * keep logs and captures unambiguous).
 */
function nextSubnet(): Subnet {
  const idx = (process.pid * 37 + subnetSeq++) % 512;
  const base = `198.${18 + (idx >> 8)}.${idx & 255}`;
  return { cidr: `${base}.0/24`, host: (n) => `${base}.${n}` };
}

function namespaceNames(): string[] {
  const r = run(["ip", "netns", "list"], { check: false, timeoutMs: 5000 });
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((x) => x !== "");
}

function rootLinks(): string[] {
  const r = run(["ip", "-o", "link", "show"], { check: false, timeoutMs: 5000 });
  // "7: name@peer: <...>" → "name"
  return r.stdout
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? "")
    .filter((x) => x !== "");
}

/**
 * Namespaces and links (in this process's namespace) whose names carry a
 * run's prefix: after every topology is closed this must be empty.
 *
 * @param prefix name prefix (default: this run's, {@linkcode runPrefix})
 * @returns names, namespaces first, each group sorted; empty when nothing leaked
 * @example
 * ```ts
 * const t = pair();
 * t.close();
 * expect(leftovers()).toEqual([]);
 * ```
 */
export function leftovers(prefix: string = RUN_PREFIX): string[] {
  const mine = (names: string[]) => names.filter((n) => n.startsWith(prefix)).sort();
  return [...mine(namespaceNames()), ...mine(rootLinks())];
}

/**
 * Closes every topology of this process that is still open (the exit hook
 * does the same). Handy in `afterAll`.
 *
 * @example
 * ```ts
 * import { afterAll } from "bun:test";
 * afterAll(closeAll);
 * ```
 */
export function closeAll(): void {
  for (const b of [...open]) b.close();
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", closeAll);
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const onSignal = () => {
      closeAll();
      // Only take over the exit if nobody else listens for this signal.
      if (process.listenerCount(sig) <= 1) process.exit(code);
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------
// Impairments

/** Something that lives in a namespace: a {@linkcode Host}, a {@linkcode Router} or a {@linkcode Netns}. */
export type Target = Netns | { readonly ns: Netns };

function nsOf(t: Target): Netns {
  return t instanceof Netns ? t : t.ns;
}

/** Options of {@linkcode rateLimit}. */
export interface RateLimitOptions {
  /** Rate in Mbit/s. */
  readonly rateMbit: number;
  /** Bucket size in KiB (default 32). Must hold at least one MTU. */
  readonly burstKb?: number;
  /** Longest time a packet may wait in the queue, in ms (default 50); sets the queue length. */
  readonly latencyMs?: number;
}

/**
 * Limits the rate of packets **leaving** `ifname` in the target's namespace
 * with a token bucket (`tc qdisc replace dev IF root tbf ...`). Replaces any
 * earlier limit on that interface. (The kernel has no netem: delay,
 * reordering and corruption need the simulator or a userspace node.)
 *
 * @param target host, router or namespace
 * @param ifname interface to shape (egress)
 * @param opts rate, burst and queue latency
 * @example
 * ```ts
 * rateLimit(t.hosts.a, t.hosts.a.ifname, { rateMbit: 50 }); // a → b at 50 Mbit/s
 * ```
 */
export function rateLimit(target: Target, ifname: string, opts: RateLimitOptions): void {
  if (!(opts.rateMbit > 0)) throw new RangeError(`Cannot limit rate to ${opts.rateMbit} Mbit/s: must be > 0`);
  const burst = opts.burstKb ?? 32;
  const latency = opts.latencyMs ?? 50;
  nsOf(target).exec(["tc", "qdisc", "replace", "dev", ifname, "root", "tbf", "rate", `${opts.rateMbit}mbit`, "burst", `${burst}kb`, "latency", `${latency}ms`]);
}

/** Options of {@linkcode randomLoss}. */
export interface RandomLossOptions {
  /** Share of matching packets to drop, 0..100 (0.01 steps). */
  readonly percent: number;
  /** Only this IP protocol: `"udp"`, `"tcp"`, `"icmp"` or a number (144 for SAL over IP). Default: every protocol. */
  readonly protocol?: number | "udp" | "tcp" | "icmp";
  /**
   * Netfilter hook (default `"input"`: packets arriving for this host).
   * `"forward"` on a router drops forwarded packets. `"output"` makes the
   * sender's `send()` fail with EPERM for dropped packets, which some tools
   * (iperf3) treat as fatal.
   */
  readonly hook?: "input" | "output" | "forward";
  /**
   * Extra nft match expression, e.g. `"meta length > 200"` to spare the
   * small datagram iperf3 uses to set up a UDP test (losing it aborts the
   * test), or `"udp dport 5201"`.
   */
  readonly match?: string;
}

const IMPAIR_TABLE = "serval_impair";

/**
 * Drops a random share of packets in the target's namespace with nftables
 * (`numgen random mod 10000 < P*100 counter drop`, in table `inet
 * serval_impair`, one chain per hook). Replaces an earlier loss rule on the
 * same hook.
 *
 * **Gotcha:** AF_PACKET sockets receive frames before any netfilter hook,
 * and frames sent on AF_PACKET skip the inet hooks too. To make the packet
 * datapath lose frames, drop them on a kernel router between the hosts
 * (`hook: "forward"`), not on the hosts themselves.
 *
 * @param target host, router or namespace
 * @param opts share, protocol, hook and extra match
 * @example 20 % of UDP datagrams arriving at b (but not iperf3's setup datagram)
 * ```ts
 * randomLoss(t.hosts.b, { percent: 20, protocol: "udp", match: "meta length > 200" });
 * lossDrops(t.hosts.b); // packets dropped so far
 * ```
 */
export function randomLoss(target: Target, opts: RandomLossOptions): void {
  if (!(opts.percent >= 0 && opts.percent <= 100)) throw new RangeError(`Cannot drop ${opts.percent} % of packets: must be 0..100`);
  const hook = opts.hook ?? "input";
  const proto = opts.protocol === undefined ? "" : `meta l4proto ${opts.protocol} `;
  const match = opts.match ? `${opts.match} ` : "";
  const threshold = Math.round(opts.percent * 100);
  const script = [
    `add table inet ${IMPAIR_TABLE}`,
    `add chain inet ${IMPAIR_TABLE} ${hook} { type filter hook ${hook} priority -10; policy accept; }`,
    `flush chain inet ${IMPAIR_TABLE} ${hook}`,
    `add rule inet ${IMPAIR_TABLE} ${hook} ${proto}${match}numgen random mod 10000 < ${threshold} counter drop`,
    "",
  ].join("\n");
  nsOf(target).exec(["nft", "-f", "-"], { input: script });
}

/**
 * Packets dropped so far by {@linkcode randomLoss} rules in the target's
 * namespace (all hooks together).
 *
 * @param target host, router or namespace
 * @returns the sum of the rules' counters; 0 when there are none
 * @example
 * ```ts
 * const dropped = lossDrops(t.hosts.b);
 * ```
 */
export function lossDrops(target: Target): number {
  const r = nsOf(target).exec(["nft", "-j", "list", "table", "inet", IMPAIR_TABLE], { check: false });
  if (r.code !== 0) return 0;
  let sum = 0;
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === "object") {
      const o = x as Record<string, unknown>;
      const c = o.counter as { packets?: number } | undefined;
      if (c && typeof c.packets === "number") sum += c.packets;
      for (const v of Object.values(o)) if (v && typeof v === "object" && v !== c) walk(v);
    }
  };
  walk(JSON.parse(r.stdout));
  return sum;
}

/**
 * Removes every impairment in the target's namespace: root qdiscs on all
 * interfaces and the `serval_impair` nftables table.
 *
 * @param target host, router or namespace
 * @example
 * ```ts
 * clearImpairments(t.hosts.a);
 * ```
 */
export function clearImpairments(target: Target): void {
  const ns = nsOf(target);
  const links = JSON.parse(ns.ip(["-j", "link", "show"]).stdout) as { ifname: string }[];
  for (const l of links) if (l.ifname !== "lo") ns.exec(["tc", "qdisc", "del", "dev", l.ifname, "root"], { check: false });
  ns.exec(["nft", "delete", "table", "inet", IMPAIR_TABLE], { check: false });
}

// ---------------------------------------------------------------------------
// Capture

/** Options of {@linkcode capture}. */
export interface CaptureOptions {
  /** Extra tcpdump arguments, e.g. `["-v"]` (TTL and lengths; two lines per packet). */
  readonly args?: readonly string[];
  /** Upper bound for tcpdump to start listening, in ms (default 5000). */
  readonly startTimeoutMs?: number;
  /**
   * After `fn`, wait until no new line arrived for this long, up to ten
   * times as long in total (default 40 ms), so that replies triggered by
   * the last packets (an ICMP error, say) are captured before stopping.
   */
  readonly quietMs?: number;
}

/**
 * Captures traffic in the target's namespace while `fn` runs:
 * `tcpdump -i any -n -l --immediate-mode <filter>`, started and listening
 * before `fn` is called, stopped with SIGINT afterwards (SIGKILL after 2 s).
 *
 * @param target host, router or namespace
 * @param filter a pcap filter, e.g. `"icmp"` or `"udp port 5201"` (`""` for all)
 * @param fn the traffic to observe
 * @param opts extra tcpdump arguments and timing bounds
 * @returns tcpdump's output lines (one per packet without `-v`)
 * @example Prove that b sends no ICMP in answer to our traffic
 * ```ts
 * const lines = await capture(t.hosts.b, "icmp and src host " + t.hosts.b.address, async () => {
 *   await sendOurTraffic();
 * });
 * expect(lines).toEqual([]);
 * ```
 */
export async function capture(target: Target, filter: string, fn: () => unknown, opts: CaptureOptions = {}): Promise<string[]> {
  const ns = nsOf(target);
  const args = ["tcpdump", "-i", "any", "-n", "-l", "--immediate-mode", ...(opts.args ?? [])];
  if (filter.trim() !== "") args.push(filter);
  const p = ns.spawn(args);
  try {
    await p.waitFor("listening on", opts.startTimeoutMs ?? 5000);
    await fn();
    await quiet(p, opts.quietMs ?? 40);
  } finally {
    await p.stop("SIGINT", 2000);
  }
  return p.stdout.split("\n").filter((l) => l !== "");
}

/** Resolves once `p.stdout` has not grown for `ms` (at most 10 × `ms` in all). */
async function quiet(p: NsProcess, ms: number): Promise<void> {
  const deadline = performance.now() + 10 * ms;
  let len = -1;
  while (p.stdout.length !== len && performance.now() < deadline) {
    len = p.stdout.length;
    await new Promise((r) => setTimeout(r, ms));
  }
}

// ---------------------------------------------------------------------------
// Traffic tools

/** Result of {@linkcode ping}. */
export interface PingResult {
  /** Echo requests sent. */
  readonly sent: number;
  /** Echo replies received. */
  readonly received: number;
  /** TTL of the first reply (64 from a direct neighbour, 63 through one router). */
  readonly ttl: number | undefined;
  /** Round-trip times of the replies, in ms. */
  readonly rttMs: readonly number[];
  /** Why a request could not be sent (e.g. "Network is unreachable"), if so. */
  readonly error?: string;
}

/** Options of {@linkcode ping}. */
export interface PingOptions {
  /** Echo requests to send, one after the other (default 1). */
  readonly count?: number;
  /** Wait for each reply at most this long, in ms (default 1000). */
  readonly timeoutMs?: number;
}

// ICMP echo from a raw socket (this machine kind has no ping binary). Prints
// JSON: [{ttl, rttMs} | null per request] or {error}.
const PING_PY = `
import socket, struct, os, sys, time, json
dst, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\\0"
    x = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    x = (x >> 16) + (x & 0xffff); x += x >> 16
    return ~x & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
out = []
try:
    for seq in range(1, count + 1):
        p = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"serval-e2e-ping!"
        p = p[:2] + struct.pack("!H", csum(p)) + p[4:]
        t0 = time.monotonic(); end = t0 + timeout; got = None
        s.sendto(p, (dst, 0))
        while got is None:
            left = end - time.monotonic()
            if left <= 0: break
            s.settimeout(left)
            try: d, a = s.recvfrom(65535)
            except socket.timeout: break
            ihl = (d[0] & 15) * 4
            if a[0] == dst and d[ihl] == 0 and struct.unpack("!HH", d[ihl + 4:ihl + 8]) == (ident, seq):
                got = {"ttl": d[8], "rttMs": (time.monotonic() - t0) * 1000}
        out.append(got)
    print(json.dumps(out))
except OSError as e:
    print(json.dumps({"error": e.strerror or str(e), "done": out}))
`;

let python: string | undefined;
/**
 * The python3 to run inside namespaces: `/usr/bin/python3` when present
 * (no version-manager shims, which may look at the caller's directory),
 * else the one on PATH.
 *
 * @returns a path or command name for `exec`/`spawn`
 * @example
 * ```ts
 * host.ns.exec([python3(), "-c", "print('hi')"]).stdout; // "hi\n"
 * ```
 */
export function python3(): string {
  return (python ??= existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
}

/**
 * Sends ICMP echo requests from the target's namespace to `to`, one at a
 * time, each waiting at most `timeoutMs` for its reply.
 *
 * @param from host, router or namespace that sends
 * @param to IPv4 address
 * @param opts count and per-request timeout
 * @returns requests sent, replies, the first reply's TTL and the RTTs
 * @example
 * ```ts
 * const r = ping(t.hosts.a, t.hosts.b.address, { count: 3 });
 * expect(r.received).toBe(3);
 * ```
 */
export function ping(from: Target, to: string, opts: PingOptions = {}): PingResult {
  const count = opts.count ?? 1;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const r = nsOf(from).exec([python3(), "-c", PING_PY, to, String(count), String(timeoutMs / 1000)], {
    timeoutMs: count * timeoutMs + 10_000,
  });
  const out = JSON.parse(r.stdout) as ({ ttl: number; rttMs: number } | null)[] | { error: string; done: ({ ttl: number; rttMs: number } | null)[] };
  const replies = Array.isArray(out) ? out : out.done;
  const got = replies.filter((x) => x !== null);
  return {
    sent: Array.isArray(out) ? replies.length : replies.length + 1,
    received: got.length,
    ttl: got[0]?.ttl,
    rttMs: got.map((x) => x.rttMs),
    ...(Array.isArray(out) ? {} : { error: out.error }),
  };
}

/** Options of {@linkcode iperf3}. */
export interface Iperf3Options {
  /** UDP instead of TCP. */
  readonly udp?: boolean;
  /** Whole seconds to send (default 2). */
  readonly seconds?: number;
  /** Target bitrate, iperf3 syntax: `"0"` (unlimited), `"20M"`. Default: iperf3's (1 Mbit/s for UDP, unlimited for TCP). */
  readonly bitrate?: string;
  /** Payload bytes per write/datagram (`-l`). `18` makes 64-byte Ethernet frames (14 + 20 + 8 + 18 + 4 FCS). */
  readonly length?: number;
  /** Parallel streams inside one iperf3 (`-P`; iperf3 3.12 runs them on one thread). */
  readonly parallel?: number;
  /** Control/data port (default 5201). Use different ports to run several at once. */
  readonly port?: number;
  /** Extra client arguments. */
  readonly extraArgs?: readonly string[];
}

/** Result of {@linkcode iperf3}, from the client's JSON report. */
export interface Iperf3Result {
  /** Bits per second received (goodput at the server). */
  readonly receivedBps: number;
  /** Bits per second sent. */
  readonly sentBps: number;
  /** Measured interval, seconds (receiver side). */
  readonly seconds: number;
  /** UDP: datagrams the server expected (by sequence number). */
  readonly packets?: number;
  /** UDP: datagrams that never arrived. */
  readonly lostPackets?: number;
  /** UDP: `lostPackets / packets × 100`. */
  readonly lostPercent?: number;
  /** UDP: datagrams delivered per second. */
  readonly deliveredPps?: number;
  /** The whole JSON report. */
  readonly json: unknown;
}

interface IperfSum {
  seconds: number;
  bytes: number;
  bits_per_second: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
}

/**
 * Runs one iperf3 test from `client` to `server.address`: starts
 * `iperf3 -s -1` in the server's namespace, waits until it listens, runs
 * the client with `-J` and returns the parsed report. Bounded: the client
 * is killed after `seconds + 15` s.
 *
 * @param client host, router or namespace that sends
 * @param server where the server runs and the address it is reached at
 * @param opts protocol, duration, rate, length, streams, port
 * @returns throughput (and UDP loss) as seen by the receiver
 * @throws Error with iperf3's message when the test fails
 * @example
 * ```ts
 * const r = await iperf3(t.hosts.a, t.hosts.b, { udp: true, bitrate: "20M", length: 1000, seconds: 1 });
 * console.log(r.receivedBps, r.lostPercent);
 * ```
 */
export async function iperf3(client: Target, server: { readonly ns: Netns; readonly address: string }, opts: Iperf3Options = {}): Promise<Iperf3Result> {
  const port = String(opts.port ?? 5201);
  const seconds = opts.seconds ?? 2;
  const srv = server.ns.spawn(["iperf3", "-s", "-1", "-p", port, "--forceflush"]);
  try {
    await srv.waitFor("Server listening", 5000);
    const args = ["iperf3", "-c", server.address, "-p", port, "-J", "-t", String(seconds)];
    if (opts.udp) args.push("-u");
    if (opts.bitrate !== undefined) args.push("-b", opts.bitrate);
    if (opts.length !== undefined) args.push("-l", String(opts.length));
    if (opts.parallel !== undefined) args.push("-P", String(opts.parallel));
    args.push(...(opts.extraArgs ?? []));
    const cli = nsOf(client).spawn(args);
    const timer = setTimeout(() => cli.kill(), (seconds + 15) * 1000);
    await cli.exited;
    clearTimeout(timer);
    let json: { error?: string; end?: { sum?: IperfSum; sum_sent?: IperfSum; sum_received?: IperfSum } };
    try {
      json = JSON.parse(cli.stdout);
    } catch {
      throw new Error(`Cannot run "${args.join(" ")}": no JSON report (${cli.stderr.trim().slice(-300)})`);
    }
    if (json.error) throw new Error(`Cannot run "${args.join(" ")}": ${json.error}`);
    const end = json.end ?? {};
    const rx = end.sum_received ?? end.sum;
    const tx = end.sum_sent ?? end.sum;
    if (!rx || !tx) throw new Error(`Cannot run "${args.join(" ")}": the report has no summary`);
    const base = { receivedBps: rx.bits_per_second, sentBps: tx.bits_per_second, seconds: rx.seconds, json };
    if (!opts.udp || rx.packets === undefined) return base;
    const lost = rx.lost_packets ?? 0;
    return {
      ...base,
      packets: rx.packets,
      lostPackets: lost,
      lostPercent: rx.lost_percent ?? (rx.packets > 0 ? (100 * lost) / rx.packets : 0),
      deliveredPps: (rx.packets - lost) / rx.seconds,
    };
  } finally {
    await srv.stop("SIGTERM", 2000);
  }
}

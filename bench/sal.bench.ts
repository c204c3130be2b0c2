/**
 * SAL benchmark, pure CPU, fixed seeds:
 *
 * 1. Resolution per SYN: a {@linkcode ServiceTable} of 10 k and 1 M FORWARD
 *    rules (random serviceID prefixes, lengths uniform over 8..256, 1–3
 *    weighted targets each, plus a default rule), `resolve(…, "any")` of keys
 *    under stored prefixes and of random keys, against a raw
 *    {@linkcode LpmTrie}`.longestMatch` over the same prefixes and keys (the
 *    difference is target selection, counters and the call). Also "local"
 *    mode over 10 k DEMUX rules. Lookups loop over 4096 pre-generated keys.
 * 2. SAL handshakes/s: two {@linkcode SalHost}s back to back in-process
 *    (client with a default FORWARD rule to the server; server listening with
 *    {@linkcode EchoTransport}); one op = connect + SYN / SYN-ACK / ACK +
 *    accept + teardown (abort, or close + FIN exchange + TIME-WAIT expiry by
 *    advancing a virtual clock), CPU of both ends (and of the router in the
 *    3-node variant). Packets move straight from `pollTransmit` to
 *    `handlePacket`; the flow tables stay empty between ops.
 * 3. Data path: one established flow, a pre-built data packet of 64 or 1400
 *    payload bytes handed to the receiver's `handlePacket` again and again
 *    (receive only, into a counting sink transport; or into the echo server,
 *    which also emits the reply), and the sender's write + flush + pollTransmit.
 *
 * Run: `npx bun bench/sal.bench.ts` (about 45 s on 2 cores, 20 s of it
 * building the 1 M table; peak RSS about 2.3 GB). `SAL_BENCH_SIZES=10000`
 * skips the 1 M table (about 15 s). Progress goes to stderr.
 *
 * @module
 */

import { type BenchRow, measure, mulberry32, report } from "./harness.ts";
import { LpmTrie } from "../packages/lpm/mod.ts";
import { KEY, makePrefixes, type Prefixes, randomBytes, underKeys } from "./_prefixes.ts";
import { EchoTransport, SalHost, SeededRandom, ServiceTable } from "../packages/sal/mod.ts";
import type { FlowTransport, HandshakeKind, HostEvent, ResolveRequest } from "../packages/sal/mod.ts";
import { readU16, SAL_PROTO_UDP, ServiceId, ServicePrefix, UDP_HEADER_LEN, writeU16 } from "../packages/wire/mod.ts";
import type { Locator } from "../packages/wire/mod.ts";

const LOOKUP_KEYS = 4096;

let sink = 0;
const rows: BenchRow[] = [];
const T0 = performance.now();
/** Progress on stderr (the table goes to stdout). */
const progress = (what: string) => console.error(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}`);

function gc(): void {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
}

// --- 1. resolution -------------------------------------------------------------

/** 256 next-hop locators 198.18.x.1 (never contacted: the table is only resolved). */
const HOPS: Locator[] = Array.from({ length: 256 }, (_, i) => ({ address: new Uint8Array([198, 18, i, 1]), port: 0 }));

/** Adds every prefix (duplicates skipped) with 1–3 weighted FORWARD targets, or one DEMUX target. */
function fillTable(t: ServiceTable, p: Prefixes, seed: number, type: "forward" | "demux"): number {
  const rnd = mulberry32(seed);
  let unique = 0;
  for (let i = 0; i < p.n; i++) {
    const prefix = ServicePrefix.of(ServiceId.fromBytes(p.keys, i * KEY), p.bits[i]!);
    if (t.get(prefix) !== undefined) continue;
    unique++;
    if (type === "demux") {
      t.addTarget(prefix, { type: "demux", listener: i + 1 });
      continue;
    }
    const k = 1 + (rnd() % 3);
    const first = rnd() & 255;
    for (let j = 0; j < k; j++) {
      t.addTarget(prefix, { type: "forward", locator: HOPS[(first + j) & 255]!, weight: 1 + (rnd() % 100) });
    }
  }
  return unique;
}

function rawTrie(p: Prefixes): LpmTrie<number> {
  const trie = new LpmTrie<number>();
  trie.insert(new Uint8Array(KEY), 0, -1); // the default rule
  for (let i = 0; i < p.n; i++) trie.insert(p.keys, p.bits[i]!, i, i * KEY);
  return trie;
}

const req = { flowKey: 0, packetLen: 120 };

function resolveRow(name: string, t: ServiceTable, keys: Uint8Array, mode: "any" | "local", extra: Record<string, number | string>): BenchRow {
  return measure(name, () => {
    let s = 0;
    const r: ResolveRequest = req;
    for (let o = 0; o < LOOKUP_KEYS * KEY; o += KEY) {
      req.flowKey = o;
      const v = t.resolve(0, keys, o, r, mode);
      s += v.kind === "forward" || v.kind === "demux" ? 1 : 0;
    }
    sink += s;
  }, { opsPerCall: LOOKUP_KEYS, rounds: 5, extra });
}

function trieRow(name: string, trie: LpmTrie<number>, keys: Uint8Array, extra: Record<string, number | string>): BenchRow {
  return measure(name, () => {
    let s = 0;
    for (let o = 0; o < LOOKUP_KEYS * KEY; o += KEY) s += trie.longestMatch(keys, o) ?? 0;
    sink += s;
  }, { opsPerCall: LOOKUP_KEYS, rounds: 5, extra });
}

/** Share of keys whose verdict is not the default rule's (sanity / context). */
function hitShare(t: ServiceTable, keys: Uint8Array, mode: "any" | "local"): number {
  let hits = 0;
  for (let o = 0; o < LOOKUP_KEYS * KEY; o += KEY) {
    const v = t.resolve(0, keys, o, req, mode);
    if (mode === "local" ? v.kind === "demux" : v.kind === "forward" && v.target.locator!.address[1] === 18) hits++;
  }
  return Math.round((100 * hits) / LOOKUP_KEYS);
}

const DEFAULT_HOP: Locator = { address: new Uint8Array([198, 19, 0, 1]), port: 0 };

/** Table sizes; `SAL_BENCH_SIZES=10000` skips the 1 M table (a quick run). */
const SIZES = (process.env.SAL_BENCH_SIZES ?? "10000,1000000").split(",").map(Number);

for (const n of SIZES) {
  const p = makePrefixes(n, 0x5a1 + n, 8, 256);
  const rand = randomBytes(mulberry32(0xa11ce + n), new Uint8Array(LOOKUP_KEYS * KEY));
  const under = underKeys(p, LOOKUP_KEYS, 0xb0b + n);

  gc();
  const t0 = performance.now();
  const table = new ServiceTable({ random: new SeededRandom(1) });
  table.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: DEFAULT_HOP });
  const unique = fillTable(table, p, 0xf00 + n, "forward");
  const buildMs = performance.now() - t0;
  rows.push({
    name: `table build (addTarget) ${n}`,
    nsPerOp: (buildMs * 1e6) / unique,
    opsPerSec: (unique * 1e3) / buildMs,
    extra: { rules: unique + 1, "hit %": "" },
  });
  const trie = rawTrie(p);
  gc();
  progress(`built ${n} rules in ${buildMs.toFixed(0)} ms`);

  const ex = (keys: Uint8Array) => ({ rules: unique + 1, "hit %": hitShare(table, keys, "any") });
  rows.push(trieRow(`raw LpmTrie.longestMatch under-prefix ${n}`, trie, under, ex(under)));
  rows.push(resolveRow(`resolve any FORWARD under-prefix ${n}`, table, under, "any", ex(under)));
  // Hot: the same under-prefix keys, but only 64 distinct ones (their entries stay in cache).
  const hot = new Uint8Array(LOOKUP_KEYS * KEY);
  for (let j = 0; j < LOOKUP_KEYS; j++) hot.set(under.subarray((j & 63) * KEY, ((j & 63) + 1) * KEY), j * KEY);
  rows.push(trieRow(`raw LpmTrie.longestMatch under-prefix ${n} hot (64 keys)`, trie, hot, ex(hot)));
  rows.push(resolveRow(`resolve any FORWARD under-prefix ${n} hot (64 keys)`, table, hot, "any", ex(hot)));
  rows.push(trieRow(`raw LpmTrie.longestMatch random ${n}`, trie, rand, ex(rand)));
  rows.push(resolveRow(`resolve any FORWARD random ${n}`, table, rand, "any", ex(rand)));
  if (n >= 1_000_000) {
    // Cold: 256 k distinct under-prefix keys, whose trie paths and entries do not fit in cache.
    const COLD = 1 << 18;
    const cold = underKeys(p, COLD, 0xc01d);
    rows.push(measure(`raw LpmTrie.longestMatch under-prefix ${n} cold`, () => {
      let s = 0;
      for (let o = 0; o < COLD * KEY; o += KEY) s += trie.longestMatch(cold, o) ?? 0;
      sink += s;
    }, { opsPerCall: COLD, rounds: 3, roundMs: 100, extra: { rules: unique + 1 } }));
    rows.push(measure(`resolve any FORWARD under-prefix ${n} cold`, () => {
      let s = 0;
      for (let o = 0; o < COLD * KEY; o += KEY) s += table.resolve(0, cold, o, req, "any").kind === "forward" ? 1 : 0;
      sink += s;
    }, { opsPerCall: COLD, rounds: 3, roundMs: 100, extra: { rules: unique + 1 } }));
  }

  if (n === 10_000) {
    // "local" mode (an end host's SYN demux) over 10 k DEMUX rules; no default
    // rule, so random keys mostly end in no-match after walking every match.
    const dt = new ServiceTable({ random: new SeededRandom(2) });
    const du = fillTable(dt, p, 0, "demux");
    const exl = (keys: Uint8Array) => ({ rules: du, "hit %": hitShare(dt, keys, "local") });
    rows.push(resolveRow(`resolve local DEMUX under-prefix ${n}`, dt, under, "local", exl(under)));
    rows.push(resolveRow(`resolve any   DEMUX under-prefix ${n}`, dt, under, "any", exl(under)));
    rows.push(resolveRow(`resolve local DEMUX random ${n}`, dt, rand, "local", exl(rand)));
    // The FORWARD table in "local" mode: walks every matching entry, finds no DEMUX target.
    rows.push(resolveRow(`resolve local FORWARD-only under-prefix ${n}`, table, under, "local", { rules: unique + 1, "hit %": 0 }));
  }
}
gc();
progress("resolution done");

// --- 2 and 3. SalHost ----------------------------------------------------------

const loc = (d: number): Locator => ({ address: new Uint8Array([198, 18, 0, d]), port: 0 });
const ECHO = ServiceId.parse("echo.example");
const TIME_WAIT_US = 60_000_000;

/** Hosts by the last byte of their address; packets move with no delay. */
class Wire {
  now = 0;
  packets = 0;
  readonly byAddr: (SalHost | undefined)[] = [];
  readonly hosts: SalHost[] = [];
  /** Reacts to host events (the server application). */
  onEvent: (h: SalHost, e: HostEvent) => void = () => {};

  add(h: SalHost, l: Locator): SalHost {
    this.byAddr[l.address[3]!] = h;
    this.hosts.push(h);
    return h;
  }

  /** Moves packets and events until every host is quiet. */
  pump(): void {
    for (let busy = true; busy;) {
      busy = false;
      for (const h of this.hosts) {
        for (let p = h.pollTransmit(); p; p = h.pollTransmit()) {
          busy = true;
          this.packets++;
          const to = this.byAddr[p.dst.address[3]!]!;
          to.handlePacket(this.now, { bytes: p.bytes, off: 0, len: p.bytes.length, src: p.src ?? p.dst, dst: p.dst });
        }
        for (let e = h.pollEvent(); e; e = h.pollEvent()) {
          busy = true;
          this.onEvent(h, e);
        }
      }
    }
  }
}

function handshakeSetup(viaRouter: boolean) {
  const w = new Wire();
  const rnd = new SeededRandom(viaRouter ? 13 : 12);
  const c = loc(1), s = loc(2), r = loc(254);
  const client = w.add(new SalHost({ random: rnd, locals: [c] }), c);
  const server = w.add(new SalHost({ random: rnd, locals: [s] }), s);
  const listener = server.listen(ServicePrefix.of(ECHO), { transport: () => new EchoTransport("server") });
  if (viaRouter) {
    const router = w.add(new SalHost({ random: rnd, locals: [r], router: true }), r);
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: r });
    router.serviceTable.addTarget(ServicePrefix.of(ECHO), { type: "forward", locator: s });
  } else {
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: s });
  }
  // The server application closes when the client has closed.
  w.onEvent = (h, e) => {
    if (h === server && e.type === "peer-fin") server.close(w.now, e.flow);
  };
  w.pump();
  return { w, client, server, listener };
}

function handshakeRow(viaRouter: boolean, teardown: "abort" | "close"): BenchRow {
  const { w, client, server, listener } = handshakeSetup(viaRouter);
  let failures = 0;
  const one = () => {
    w.now += 10;
    const id = client.connect(w.now, ECHO, new EchoTransport("client"));
    w.pump();
    const sid = server.accept(listener);
    if (sid === undefined) failures++;
    if (teardown === "abort") {
      client.abort(w.now, id);
      w.pump();
    } else {
      client.close(w.now, id);
      w.pump(); // FIN, peer-fin → server FIN, ACK: the client is in TIME-WAIT
      w.now += TIME_WAIT_US + 1;
      const due = client.pollTimeout();
      if (due !== undefined && due <= w.now) client.handleTimeout(w.now);
      w.pump();
    }
  };
  // Sanity: one op leaves both flow tables empty.
  const pk0 = w.packets;
  one();
  const pkts = w.packets - pk0;
  if (client.flowCount + server.flowCount !== 0 || failures !== 0) {
    throw new Error(`handshake ${teardown}: flows left ${client.flowCount}+${server.flowCount}, failures ${failures}`);
  }
  const name = `handshake ${viaRouter ? "client→router→server" : "client→server"} + ${teardown === "abort" ? "abort (RST)" : "close + TIME-WAIT"}`;
  const row = measure(name, () => {
    for (let i = 0; i < 16; i++) one();
  }, { opsPerCall: 16, rounds: 5, roundMs: 200 });
  if (failures !== 0 || client.flowCount + server.flowCount !== 0) {
    throw new Error(`${name}: ${failures} failed accepts, flows left ${client.flowCount}+${server.flowCount}`);
  }
  return { ...row, extra: { "µs/op": row.nsPerOp / 1000, "pkts/op": pkts } };
}

rows.push(handshakeRow(false, "abort"));
rows.push(handshakeRow(false, "close"));
rows.push(handshakeRow(true, "abort"));
rows.push(handshakeRow(true, "close"));

/** A receive-only transport (UDP layout): counts datagrams, sends nothing. */
class SinkTransport implements FlowTransport {
  readonly protocol = SAL_PROTO_UDP;
  datagrams = 0;
  bytes = 0;
  writeHandshake(_now: number, _kind: HandshakeKind, buf: Uint8Array, off: number, max: number): number {
    if (max < UDP_HEADER_LEN) return 0;
    buf.fill(0, off, off + UDP_HEADER_LEN);
    writeU16(buf, off + 4, UDP_HEADER_LEN);
    return UDP_HEADER_LEN;
  }
  handleHandshake(): void {}
  connected(): void {}
  handleSegment(_now: number, buf: Uint8Array, off: number, len: number): void {
    if (len < UDP_HEADER_LEN || readU16(buf, off + 4) !== len) return;
    this.datagrams++;
    this.bytes += len - UDP_HEADER_LEN;
  }
  pollSegment(): number {
    return 0;
  }
  freeze(): void {}
  resume(): void {}
  peerClosed(): void {}
  shutdown(): void {}
  get finished(): boolean {
    return true;
  }
  closed(): void {}
  pollTimeout(): number | undefined {
    return undefined;
  }
  handleTimeout(): void {}
}

function dataRows(payload: number): BenchRow[] {
  const out: BenchRow[] = [];
  for (const rx of ["sink", "echo"] as const) {
    const w = new Wire();
    const rnd = new SeededRandom(21);
    const c = loc(1), s = loc(2);
    const client = w.add(new SalHost({ random: rnd, locals: [c] }), c);
    const server = w.add(new SalHost({ random: rnd, locals: [s] }), s);
    const sinks: SinkTransport[] = [];
    const echoes: EchoTransport[] = [];
    const listener = server.listen(ServicePrefix.of(ECHO), {
      transport: rx === "sink"
        ? () => {
          const t = new SinkTransport();
          sinks.push(t);
          return t;
        }
        : () => {
          const t = new EchoTransport("server");
          echoes.push(t);
          return t;
        },
    });
    client.serviceTable.addTarget(ServicePrefix.DEFAULT, { type: "forward", locator: s });
    const ct = new EchoTransport("client");
    const id = client.connect(0, ECHO, ct);
    w.pump();
    if (server.accept(listener) === undefined) throw new Error("data: no flow");
    // One data packet from the client, captured instead of delivered.
    const data = randomBytes(mulberry32(payload), new Uint8Array(payload));
    ct.write(data);
    client.flush(w.now, id);
    const p = client.pollTransmit()!;
    const pkt = { bytes: p.bytes, off: 0, len: p.bytes.length, src: c, dst: s };
    const extra = { "payload B": payload, "SAL pkt B": p.bytes.length };

    const rxRow = measure(`data rx ${payload} B → ${rx === "sink" ? "sink transport" : "echo server (rx + reply tx)"}`, () => {
      let bad = 0;
      for (let i = 0; i < 256; i++) {
        if (server.handlePacket(1, pkt) !== undefined) bad++;
        if (rx === "echo") while (server.pollTransmit() !== undefined) sink++;
      }
      // The echo end keeps every payload for tests: forget them (outside the per-packet work).
      for (const t of echoes) t.received.length = 0;
      if (bad !== 0) throw new Error(`data rx: ${bad} drops ${[...server.drops]}`);
    }, { opsPerCall: 256, rounds: 5, extra: { ...extra, "MB/s": 0 } });
    out.push({ ...rxRow, extra: { ...extra, "MB/s": (payload * rxRow.opsPerSec) / 1e6 } });
    if (rx === "sink" && sinks[sinks.length - 1]!.datagrams === 0) throw new Error("data rx: sink saw nothing");
    if (rx === "echo") {
      // The sender side: transport write, SAL emit + checksum, pollTransmit.
      const txRow = measure(`data tx ${payload} B (write + flush + pollTransmit)`, () => {
        for (let i = 0; i < 256; i++) {
          ct.write(data);
          client.flush(w.now, id);
          if (client.pollTransmit() === undefined) throw new Error("data tx: nothing sent");
        }
      }, { opsPerCall: 256, rounds: 5 });
      out.push({ ...txRow, extra: { ...extra, "MB/s": (payload * txRow.opsPerSec) / 1e6 } });
    }
  }
  return out;
}

progress("handshakes done");
rows.push(...dataRows(64));
rows.push(...dataRows(1400));

report("SAL: resolution per SYN, handshakes, data path (pure CPU)", rows);
if (sink === 0.5) console.log(sink);

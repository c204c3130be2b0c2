/**
 * The demo of what the foundation can do before the runtime exists: a
 * client's SYN for `web.example` is encoded, parsed back and resolved through
 * a service router's table by longest-prefix match; the router picks a
 * replica by weight, records itself in a SOURCE extension, and rewrites the
 * packet the way a Serval router does (facts §5).
 *
 * Pure computation that returns the lines to print, so it can be tested.
 *
 * @module
 */

import { LpmTrie } from "@serval/lpm";
import {
  emitSal,
  emitTcp,
  formatIpv4,
  parseIpv4,
  parseSal,
  parseTcp,
  SAL_SYN,
  ServiceId,
  ServicePrefix,
  TCP_SYN,
  toHex,
} from "@serval/wire";
import type { SalRepr, TcpRepr } from "@serval/wire";

/** One FORWARD target of a demo rule. */
interface Target {
  readonly address: string;
  readonly weight: number;
}

/** A demo service-table rule. */
interface Rule {
  readonly label: string;
  readonly prefix: ServicePrefix;
  readonly targets: readonly Target[];
}

/** A seeded PRNG (mulberry32), so the demo prints the same split every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Weighted random choice among targets (the 2012 ANYCAST policy, facts §4.4). */
function pick(targets: readonly Target[], r: number): Target {
  const total = targets.reduce((s, t) => s + t.weight, 0);
  let x = r * total;
  for (const t of targets) {
    x -= t.weight;
    if (x < 0) return t;
  }
  return targets[targets.length - 1]!;
}

/** Hex dump, 16 bytes a line, with an offset column. */
function hexdump(buf: Uint8Array, indent: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = toHex(buf, i, Math.min(16, buf.length - i)).replace(/(..)/g, "$1 ").trim();
    out.push(`${indent}${i.toString(16).padStart(4, "0")}  ${row}`);
  }
  return out;
}

/**
 * Runs the foundation demo.
 *
 * @returns The lines to print.
 *
 * @example
 * ```ts
 * const lines = foundationDemo();
 * // lines.some((l) => l.includes("web.example")) === true
 * ```
 */
export function foundationDemo(): string[] {
  const out: string[] = [];
  const say = (s = "") => out.push(s);
  const client = parseIpv4("198.18.0.1");
  const router = parseIpv4("198.18.0.254");

  say("Serval foundation demo: a SYN for web.example, encoded, parsed and resolved");
  say();
  say("1. Services are named by 256-bit serviceIDs; names map label by label");
  for (const name of ["web.example", "mail.example", "example/32", "16385", "default"]) {
    const p = ServicePrefix.parse(name);
    say(`   ${name.padEnd(13)} -> ${p.id.toString().slice(0, 24)}… /${p.bits}`);
  }
  say("   (bytes 0-3 hash the last label, 4-7 the one before: example/32 covers both names)");

  // 2. The client's SYN: SAL CONTROL + SERVICE, then a TCP SYN with options.
  const web = ServiceId.parse("web.example");
  const sal: SalRepr = {
    srcFlowId: 0x5e7a0001,
    dstFlowId: 0,
    protocol: 6,
    control: { flags: SAL_SYN, verno: 0x1000, ackno: 0, nonce: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
    services: [web],
  };
  const tcp: TcpRepr = {
    seq: 0xa0b0c0d0,
    ack: 0,
    flags: TCP_SYN,
    window: 65535,
    urgent: 0,
    options: { mss: 1448, windowScale: 7, sackPermitted: true, timestamps: { tsval: 1, tsecr: 0 } },
    payloadLen: 0,
  };
  // The client sends the SYN to its service router; the TCP checksum covers those addresses.
  const syn = new Uint8Array(256);
  const salLen = emitSal(sal, syn, 0);
  const synLen = salLen + emitTcp(tcp, syn, salLen, client, router);
  say();
  say(`2. The client's SYN: ${salLen} bytes of SAL + ${synLen - salLen} bytes of TCP (ports 0)`);
  say(`   SAL: src flowID ${sal.srcFlowId}, dst flowID 0, CONTROL SYN verno ${sal.control!.verno}, SERVICE web.example`);
  out.push(...hexdump(syn.subarray(0, synLen), "   "));

  const back = parseSal(syn, 0, synLen);
  const backTcp = parseTcp(syn, salLen, synLen - salLen, client, router);
  if (typeof back === "string" || typeof backTcp === "string") {
    throw new Error(`demo SYN does not parse: ${String(back)} ${String(backTcp)}`);
  }
  say();
  say("3. Parsed back, SAL and TCP checksums verified:");
  say(`   SAL  flags=SYN verno=${back.control!.verno} service=${back.services[0]!.toString().slice(0, 16)}…`);
  say(`   TCP  seq=${backTcp.seq} mss=${backTcp.options.mss} wscale=${backTcp.options.windowScale} sack=${backTcp.options.sackPermitted === true} ts=${backTcp.options.timestamps !== undefined}`);
  const corrupt = syn.slice(0, synLen);
  corrupt[20] ^= 0x01;
  say(`   one flipped bit in the SAL header -> dropped: "${String(parseSal(corrupt, 0, synLen))}"`);

  // 4. A service router's table: longest-prefix match over serviceIDs.
  const rules: Rule[] = [
    { label: "default", prefix: ServicePrefix.DEFAULT, targets: [{ address: "198.18.255.255", weight: 1 }] },
    { label: "example/32", prefix: ServicePrefix.parse("example/32"), targets: [{ address: "198.18.9.1", weight: 1 }] },
    {
      label: "web.example",
      prefix: ServicePrefix.parse("web.example"),
      targets: [
        { address: "198.18.1.10", weight: 3 },
        { address: "198.18.1.11", weight: 2 },
        { address: "198.18.1.12", weight: 1 },
      ],
    },
  ];
  const table = new LpmTrie<Rule>();
  for (const r of rules) table.insert(r.prefix.id.bytes, r.prefix.bits, r);
  say();
  say("4. The service router's table (longest-prefix match, 256-bit keys):");
  for (const r of rules) {
    say(`   ${r.label.padEnd(12)} FORWARD ${r.targets.map((t) => `${t.address} w${t.weight}`).join(", ")}`);
  }
  for (const name of ["web.example", "mail.example", "16385"]) {
    const id = ServiceId.parse(name);
    const r = table.longestMatch(id.bytes)!;
    say(`   resolve ${name.padEnd(12)} -> ${r.label} -> ${r.targets.map((t) => t.address).join(" | ")}`);
  }

  // 5. Late binding with weighted random selection among replicas.
  const rnd = prng(2012);
  const counts = new Map<string, number>();
  const N = 6000;
  const rule = table.longestMatch(syn, 12 + 20 + 4)!; // read the serviceID in place from the SYN
  for (let i = 0; i < N; i++) {
    const t = pick(rule.targets, rnd());
    counts.set(t.address, (counts.get(t.address) ?? 0) + 1);
  }
  say();
  say(`5. ${N} SYNs for web.example, each resolved on its own (weights 3:2:1):`);
  for (const t of rule.targets) {
    const c = counts.get(t.address) ?? 0;
    say(`   ${t.address.padEnd(12)} ${String(c).padStart(5)}  ${((100 * c) / N).toFixed(1).padStart(5)} %  (expected ${((100 * t.weight) / 6).toFixed(1)} %)`);
  }

  // 6. Forwarding: the router records [client, router] in a SOURCE extension,
  // rewrites only the IP destination, and recomputes both checksums (facts §5.2).
  const chosen = parseIpv4(pick(rule.targets, rnd()).address);
  const fwd = new Uint8Array(256);
  const fSal = emitSal({ ...back, source: [client, router] }, fwd, 0);
  const fLen = fSal + emitTcp(backTcp, fwd, fSal, client, chosen);
  const check = parseSal(fwd, 0, fLen);
  say();
  say(`6. Forwarded to ${formatIpv4(chosen)}: SAL grows to ${fSal} bytes with SOURCE [${formatIpv4(client)}, ${formatIpv4(router)}]`);
  out.push(...hexdump(fwd.subarray(0, fSal), "   "));
  say(`   the instance will answer ${typeof check === "string" ? check : formatIpv4(check.source![0]!)} directly; the router leaves the data path`);
  return out;
}

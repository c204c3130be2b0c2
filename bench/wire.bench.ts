/**
 * Wire codec costs per packet, pure CPU: parse and emit of the SAL header
 * (fast-path index and checked repr), of a whole SYN (SAL + TCP with
 * options) and of the datapath framing (Ethernet + IPv4).
 *
 * Run: `npx bun bench/wire.bench.ts` (or `npm run bench -- wire`).
 *
 * @module
 */

import {
  emitEthernet,
  emitIpv4Header,
  emitSal,
  emitTcp,
  ETHERTYPE_IPV4,
  IPPROTO_SERVAL,
  parseEthernet,
  parseIpv4Header,
  parseSal,
  parseTcp,
  SAL_SYN,
  SalIndex,
  ServiceId,
  TCP_SYN,
} from "../packages/wire/mod.ts";
import type { SalRepr, TcpRepr } from "../packages/wire/mod.ts";
import { measure, report } from "./harness.ts";

const N = 1024; // distinct packets, so the branch predictor cannot learn one
const src = new Uint8Array([198, 18, 0, 1]);
const dst = new Uint8Array([198, 18, 1, 2]);

const salReprs: SalRepr[] = [];
const salPkts: Uint8Array[] = [];
const synPkts: { buf: Uint8Array; salLen: number; len: number }[] = [];
const framePkts: Uint8Array[] = [];
for (let i = 0; i < N; i++) {
  const nonce = new Uint8Array(8).fill(i & 0xff);
  const repr: SalRepr = {
    srcFlowId: (i * 2654435761) >>> 0,
    dstFlowId: 0,
    protocol: 6,
    control: { flags: SAL_SYN, verno: (i * 40503) >>> 0, ackno: 0, nonce },
    services: [ServiceId.fromNumber(16385 + i)],
  };
  salReprs.push(repr);
  const b = new Uint8Array(128);
  const n = emitSal(repr, b, 0);
  salPkts.push(b.subarray(0, n));

  const tcp: TcpRepr = {
    seq: (i * 7919) >>> 0,
    ack: 0,
    flags: TCP_SYN,
    window: 65535,
    urgent: 0,
    options: { mss: 1448, windowScale: 7, sackPermitted: true, timestamps: { tsval: i, tsecr: 0 } },
    payloadLen: 0,
  };
  const sb = new Uint8Array(256);
  const sl = emitSal(repr, sb, 0);
  const tl = emitTcp(tcp, sb, sl, src, dst);
  synPkts.push({ buf: sb, salLen: sl, len: sl + tl });

  const fb = new Uint8Array(256);
  const e = emitEthernet({ dst: new Uint8Array(6).fill(2), src: new Uint8Array(6).fill(4), ethertype: ETHERTYPE_IPV4 }, fb, 0);
  const ipl = emitIpv4Header({ src, dst, protocol: IPPROTO_SERVAL, ttl: 64, payloadLen: sl + tl }, fb, e);
  fb.set(sb.subarray(0, sl + tl), e + ipl);
  framePkts.push(fb.subarray(0, e + ipl + sl + tl));
}

const ix = new SalIndex();
let sink = 0;
let k = 0;
const rows = [
  measure("SAL+SERVICE scan (SalIndex, checksum verified)", () => {
    const p = salPkts[k++ & (N - 1)]!;
    ix.scan(p, 0, p.length);
    sink += ix.serviceOff;
  }),
  measure("SAL+SERVICE scan (SalIndex, no checksum)", () => {
    const p = salPkts[k++ & (N - 1)]!;
    ix.scan(p, 0, p.length, false);
    sink += ix.serviceOff;
  }),
  measure("SAL+SERVICE parse to SalRepr", () => {
    const p = salPkts[k++ & (N - 1)]!;
    const r = parseSal(p, 0, p.length);
    if (typeof r !== "string") sink += r.srcFlowId;
  }),
  measure("SAL+SERVICE emit from SalRepr", () => {
    const i = k++ & (N - 1);
    sink += emitSal(salReprs[i]!, salPkts[i]!, 0);
  }),
  measure("SYN parse: SAL repr + TCP repr (checksum over pseudo-header)", () => {
    const p = synPkts[k++ & (N - 1)]!;
    const r = parseSal(p.buf, 0, p.len);
    const t = parseTcp(p.buf, p.salLen, p.len - p.salLen, src, dst);
    if (typeof r !== "string" && typeof t !== "string") sink += t.seq;
  }),
  measure("frame parse: Ethernet + IPv4 + SalIndex", () => {
    const f = framePkts[k++ & (N - 1)]!;
    const e = parseEthernet(f, 0, f.length);
    if (typeof e === "string") return;
    const ip = parseIpv4Header(f, 14, f.length - 14);
    if (typeof ip === "string") return;
    ix.scan(f, 34, f.length - 34);
    sink += ix.serviceOff;
  }),
];
report("wire: parse and emit per packet", rows);
if (sink === 42) console.log("");

/**
 * Classic BPF programs (`struct sock_filter` arrays) for the datapath's
 * sockets: {@linkcode servalFrameFilter} keeps only IPv4/IPv6 frames carrying
 * protocol 144 on the packet sockets (everything else never reaches the ring);
 * {@linkcode dropAllFilter} makes the raw protocol-144 sockets receive nothing.
 *
 * @module
 */

/** Bytes per `struct sock_filter` instruction: u16 code, u8 jt, u8 jf, u32 k. */
export const BPF_INSN_LEN = 8;

const BPF_LD_H_ABS = 0x28;
const BPF_LD_B_ABS = 0x30;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;

function program(insns: readonly (readonly [code: number, jt: number, jf: number, k: number])[]): Uint8Array {
  const out = new Uint8Array(insns.length * BPF_INSN_LEN);
  const dv = new DataView(out.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    // Host byte order (the kernel reads the struct as it is in memory); little-endian on x86-64 and arm64.
    dv.setUint16(i * BPF_INSN_LEN, code, true);
    out[i * BPF_INSN_LEN + 2] = jt;
    out[i * BPF_INSN_LEN + 3] = jf;
    dv.setUint32(i * BPF_INSN_LEN + 4, k >>> 0, true);
  });
  return out;
}

/**
 * `ret #0`: accept nothing. Attached to the raw protocol-144 sockets whose
 * only job is to exist (so the kernel counts the protocol as handled and sends
 * no ICMP protocol-unreachable).
 *
 * @returns One instruction (8 bytes).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dropAllFilter } from "@serval/datapath-ffi";
 * assertEquals([...dropAllFilter()], [6, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function dropAllFilter(): Uint8Array {
  return program([[BPF_RET_K, 0, 0, 0]]);
}

/**
 * Accepts Ethernet frames with EtherType IPv4 and protocol 144, or EtherType
 * IPv6 and next header 144; rejects everything else in the kernel:
 *
 * ```text
 * 0 ldh [12]          ; EtherType
 * 1 jeq #0x800  2 4
 * 2 ldb [23]          ; IPv4 protocol
 * 3 jeq #144    7 8
 * 4 jeq #0x86dd 5 8
 * 5 ldb [20]          ; IPv6 next header
 * 6 jeq #144    7 8
 * 7 ret #262144
 * 8 ret #0
 * ```
 *
 * @returns Nine instructions (72 bytes).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { servalFrameFilter } from "@serval/datapath-ffi";
 * assertEquals(servalFrameFilter().length, 72);
 * ```
 */
export function servalFrameFilter(): Uint8Array {
  return program([
    [BPF_LD_H_ABS, 0, 0, 12],
    [BPF_JEQ_K, 0, 2, 0x0800],
    [BPF_LD_B_ABS, 0, 0, 23],
    [BPF_JEQ_K, 3, 4, 144],
    [BPF_JEQ_K, 0, 3, 0x86dd],
    [BPF_LD_B_ABS, 0, 0, 20],
    [BPF_JEQ_K, 0, 1, 144],
    [BPF_RET_K, 0, 0, 0x40000],
    [BPF_RET_K, 0, 0, 0],
  ]);
}

/**
 * Runs a classic BPF program of the shapes above over a frame (a tiny
 * interpreter for tests: loads, `jeq`, `ret`).
 *
 * @returns The program's return value (bytes to keep; 0 = drop).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runBpf, servalFrameFilter } from "@serval/datapath-ffi";
 * const f = new Uint8Array(34);
 * f[12] = 0x08; f[23] = 144;
 * assertEquals(runBpf(servalFrameFilter(), f) > 0, true);
 * f[23] = 17;
 * assertEquals(runBpf(servalFrameFilter(), f), 0);
 * ```
 */
export function runBpf(prog: Uint8Array, frame: Uint8Array): number {
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  let a = 0;
  let pc = 0;
  const n = prog.length / BPF_INSN_LEN;
  while (pc < n) {
    const o = pc * BPF_INSN_LEN;
    const code = dv.getUint16(o, true);
    const jt = prog[o + 2]!;
    const jf = prog[o + 3]!;
    const k = dv.getUint32(o + 4, true);
    pc++;
    switch (code) {
      case BPF_LD_H_ABS:
        if (k + 2 > frame.length) return 0;
        a = (frame[k]! << 8) | frame[k + 1]!;
        break;
      case BPF_LD_B_ABS:
        if (k + 1 > frame.length) return 0;
        a = frame[k]!;
        break;
      case BPF_JEQ_K:
        pc += a === k ? jt : jf;
        break;
      case BPF_RET_K:
        return k;
      default:
        throw new RangeError(`Cannot run BPF program: opcode 0x${code.toString(16)} at ${pc - 1} is not supported`);
    }
  }
  return 0;
}

/**
 * A userspace delay node (the kernel here has no netem): bridges two
 * interfaces of the namespace it runs in, frame by frame, holding every frame
 * `--delay-ms` before sending it out of the other interface. Raw AF_PACKET
 * sockets through bun:ffi; one synchronous loop (this process does nothing
 * else). Frames are forwarded whole, so everything crosses: ARP, IPv4, SAL.
 *
 * ```text
 * ip netns exec NS bun test/e2e/_delay_bridge.ts --a IF --b IF --delay-ms 10 --seconds 60
 * ```
 *
 * Prints `ready` once both sockets are bound, and `{"forwarded":N}` at the end.
 *
 * @module
 */

import { ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AF_PACKET, errno, libc, PACKET_IGNORE_OUTGOING, SOCK_NONBLOCK, SOCK_RAW, SOL_PACKET } from "../../packages/datapath-ffi/_libc.ts";

const { values } = parseArgs({
  options: { a: { type: "string" }, b: { type: "string" }, "delay-ms": { type: "string", default: "10" }, seconds: { type: "string", default: "60" } },
});
const ETH_P_ALL_BE = 0x0300; // htons(0x0003)
const MSG_DONTWAIT = 0x40;
const POLLIN = 1;
const c = libc();

function open(ifname: string): number {
  const ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, "utf8"));
  const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, ETH_P_ALL_BE);
  if (fd < 0) throw new Error(`Cannot open a packet socket on ${ifname}: errno ${errno()} (needs root)`);
  const one = new Int32Array([1]);
  c.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, ptr(one), 4);
  const sll = new Uint8Array(20);
  const v = new DataView(sll.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, ETH_P_ALL_BE, true);
  v.setInt32(4, ifindex, true);
  if (c.bind(fd, ptr(sll), 20) !== 0) throw new Error(`Cannot bind to ${ifname}: errno ${errno()}`);
  return fd;
}

const fds = [open(values.a!), open(values.b!)];
const delayMs = Number(values["delay-ms"]);
const end = performance.now() + Number(values.seconds) * 1000;
const queue: { due: number; fd: number; frame: Uint8Array }[] = [];
const buf = new Uint8Array(65536);
const pfd = new Uint8Array(16);
const pv = new DataView(pfd.buffer);
for (let i = 0; i < 2; i++) {
  pv.setInt32(i * 8, fds[i]!, true);
  pv.setInt16(i * 8 + 4, POLLIN, true);
}
let forwarded = 0;
console.log("ready");
while (performance.now() < end) {
  const now = performance.now();
  // poll() counts whole milliseconds: sleep the whole ones, spin the rest,
  // so frames leave within microseconds of their due time.
  const wait = queue.length > 0 ? Math.max(0, Math.floor(queue[0]!.due - now) - 1) : 50;
  pv.setInt16(4 + 2, 0, true);
  pv.setInt16(8 + 4 + 2, 0, true);
  c.poll(ptr(pfd), 2, Math.min(wait, 50));
  for (let i = 0; i < 2; i++) {
    for (;;) {
      const n = Number(c.recv(fds[i]!, ptr(buf), buf.length, MSG_DONTWAIT));
      if (n <= 0) break;
      queue.push({ due: performance.now() + delayMs, fd: fds[1 - i]!, frame: buf.slice(0, n) });
    }
  }
  const t = performance.now();
  while (queue.length > 0 && queue[0]!.due <= t) {
    const q = queue.shift()!;
    c.send(q.fd, ptr(q.frame), q.frame.length, 0);
    forwarded++;
  }
}
console.log(JSON.stringify({ forwarded }));
for (const fd of fds) c.close(fd);

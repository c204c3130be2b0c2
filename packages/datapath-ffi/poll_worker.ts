/**
 * The poll Worker of the packet datapath: blocks in poll(2) on the packet
 * sockets, the netlink event socket and a shutdown eventfd, and tells the main
 * thread through a SharedArrayBuffer when one is readable. It then sleeps
 * (`Atomics.wait`) until the main thread has consumed and re-armed it, so it
 * never spins. The main thread walks the rings itself (same memory).
 *
 * Control words (Int32Array over the SharedArrayBuffer):
 * - `[0]` state: 0 = armed (poll), 1 = ready (main thread's turn), 2 = stopping;
 * - `[1]` stop: 1 = exit;
 * - `[2 + i]` revents of fd i after the last poll.
 *
 * @module
 */

import { dlopen, FFIType, ptr } from "bun:ffi";

/** Index of the state word. */
const STATE = 0;
/** Index of the stop word. */
const STOP = 1;
const ARMED = 0;
const READY = 1;
const POLLIN = 1;

declare const self: Worker;

self.onmessage = (ev: MessageEvent<{ ctl: SharedArrayBuffer; fds: number[] }>) => {
  const { ctl, fds } = ev.data;
  const c = new Int32Array(ctl);
  const lib = dlopen("libc.so.6", { poll: { args: [FFIType.ptr, FFIType.u64_fast, FFIType.i32], returns: FFIType.i32 } });
  // struct pollfd { int fd; short events; short revents; }: events | revents << 16 in one little-endian int32.
  const pfd = new Int32Array(fds.length * 2);
  const p = ptr(pfd);
  for (;;) {
    // Returns at once unless READY; close() stores STOPPING (2), so a stop is never missed.
    Atomics.wait(c, STATE, READY);
    if (Atomics.load(c, STOP) !== 0) break;
    if (Atomics.load(c, STATE) !== ARMED) continue;
    for (let i = 0; i < fds.length; i++) {
      pfd[2 * i] = fds[i]!;
      pfd[2 * i + 1] = POLLIN;
    }
    // 1 s timeout: a lost eventfd write still lets the worker see the stop word.
    const n = lib.symbols.poll(p, fds.length, 1000);
    if (Atomics.load(c, STOP) !== 0) break;
    if (n !== 0) {
      for (let i = 0; i < fds.length; i++) c[2 + i] = pfd[2 * i + 1]! >>> 16;
      Atomics.store(c, STATE, READY);
      Atomics.notify(c, STATE);
    }
  }
  lib.close();
  postMessage("stopped");
};

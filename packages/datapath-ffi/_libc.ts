/**
 * The libc functions the packet datapath calls through bun:ffi, opened once
 * per thread (the poll Worker opens its own copy). Private to the package.
 *
 * Every `ssize_t` return is declared `i64_fast` (a plain number for every
 * value we can see): a `u64`/`i64` return would go through BigInt.
 *
 * @module
 */

import { dlopen, FFIType, read } from "bun:ffi";
import type { Pointer } from "bun:ffi";

const { i32, u32, ptr, i64_fast, u64_fast, cstring } = FFIType;

/** The glibc shared object (Debian/Ubuntu name first, then the linker script name). */
function openLibc() {
  const symbols = {
    socket: { args: [i32, i32, i32], returns: i32 },
    bind: { args: [i32, ptr, u32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
    getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
    mmap: { args: [ptr, u64_fast, i32, i32, i32, i64_fast], returns: ptr },
    munmap: { args: [ptr, u64_fast], returns: i32 },
    close: { args: [i32], returns: i32 },
    sendmmsg: { args: [i32, ptr, u32, i32], returns: i32 },
    sendto: { args: [i32, ptr, u64_fast, i32, ptr, u32], returns: i64_fast },
    send: { args: [i32, ptr, u64_fast, i32], returns: i64_fast },
    recv: { args: [i32, ptr, u64_fast, i32], returns: i64_fast },
    poll: { args: [ptr, u64_fast, i32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    open: { args: [cstring, i32], returns: i32 },
    eventfd: { args: [u32, i32], returns: i32 },
    write: { args: [i32, ptr, u64_fast], returns: i64_fast },
    read: { args: [i32, ptr, u64_fast], returns: i64_fast },
    __errno_location: { args: [], returns: ptr },
  } as const;
  let last: unknown;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      return dlopen(name, symbols).symbols;
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** libc symbols (lazily opened: importing this module does no I/O). */
let cached: ReturnType<typeof openLibc> | undefined;

/** The libc bindings of this thread. */
export function libc(): ReturnType<typeof openLibc> {
  return (cached ??= openLibc());
}

/** errno of the last failed call on this thread; read it right after the call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

/** A NUL-terminated C string in a Buffer (for `cstring` arguments). */
export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

// Constants from <sys/socket.h>, <linux/if_packet.h>, <sys/mman.h>, <fcntl.h>.
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_RCVTIMEO = 20;
export const SO_ATTACH_FILTER = 26;
export const SO_RCVBUFFORCE = 33;
export const SOL_PACKET = 263;
export const PACKET_RX_RING = 5;
export const PACKET_STATISTICS = 6;
export const PACKET_VERSION = 10;
export const PACKET_QDISC_BYPASS = 20;
export const PACKET_IGNORE_OUTGOING = 23;
export const TPACKET_V2 = 1;
export const TPACKET_V3 = 2;
export const ETH_P_ALL = 0x0003;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
export const MAP_LOCKED = 0x2000;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 1;
export const SOL_NETLINK = 270;
export const NETLINK_ROUTE = 0;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const IPPROTO_SERVAL = 144;

/** `htons` for the protocol arguments of AF_PACKET calls. */
export function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

/** An anonymous private mapping that never moves (pointers into it may be stored in kernel structs). */
export function mapAnonymous(len: number): number {
  const p = libc().mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p === null ? -1 : Number(p);
}

/** `(void *)-1` as bun:ffi returns it. */
export function mapFailed(p: number | null): boolean {
  return p === null || p <= 0 || p >= 2 ** 52;
}

/** A raw address as the Pointer type bun:ffi calls take. */
export function asPtr(addr: number): Pointer {
  return addr as Pointer;
}

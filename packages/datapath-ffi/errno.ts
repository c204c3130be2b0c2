/**
 * errno numbers to their names (Linux, x86-64 and arm64 agree on these), for
 * error messages that say what failed.
 *
 * @module
 */

const NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  28: "ENOSPC",
  90: "EMSGSIZE",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  110: "ETIMEDOUT",
  113: "EHOSTUNREACH",
};

/**
 * The symbolic name of an errno value.
 *
 * @param e errno (positive; netlink's negative error codes are accepted too).
 * @returns `"EPERM"`, …, or `"errno N"` for numbers not in the table.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { errnoName } from "@serval/datapath-ffi";
 * assertEquals(errnoName(1), "EPERM");
 * assertEquals(errnoName(-101), "ENETUNREACH"); // netlink's negative codes
 * assertEquals(errnoName(4095), "errno 4095");
 * ```
 */
export function errnoName(e: number): string {
  const n = Math.abs(e);
  return NAMES[n] ?? `errno ${n}`;
}

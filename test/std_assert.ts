/**
 * A stand-in for `jsr:@std/assert` (JSR is unreachable from this project's
 * machines). `deno.json` maps `@std/assert` here, so JSDoc examples read as
 * they would with Deno std and `deno test --doc` runs them.
 *
 * @module
 */

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (a.constructor !== b.constructor || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Throws unless `actual` and `expected` are deeply equal. */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  if (!same(actual, expected)) {
    throw new Error(msg ?? `Values are not equal: ${String(actual)} !== ${String(expected)}`);
  }
}

/** Throws unless `expr` is truthy. */
export function assert(expr: unknown, msg = "Assertion failed"): asserts expr {
  if (!expr) throw new Error(msg);
}

/** Throws unless `fn` throws an instance of `cls`. */
export function assertThrows(fn: () => unknown, cls: new (...a: never[]) => Error = Error): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return;
    throw new Error(`Expected ${cls.name}, got ${String(e)}`);
  }
  throw new Error("Expected function to throw");
}

/**
 * A small benchmark harness: plain loops, fixed seeds, a warm-up, the median
 * of several timed rounds, a printed table and a JSON line for tools.
 *
 * Benchmarks are not tests: they print numbers, they never fail on speed.
 *
 * @module
 */

/** One measured row. */
export interface BenchRow {
  /** What was measured. */
  readonly name: string;
  /** Nanoseconds per operation (median over rounds). */
  readonly nsPerOp: number;
  /** Operations per second (from the median). */
  readonly opsPerSec: number;
  /** Extra columns (sizes, bytes per prefix, ratios). */
  readonly extra?: Readonly<Record<string, number | string>>;
}

/**
 * A seeded PRNG (mulberry32): deterministic inputs for every run.
 *
 * @example
 * ```ts
 * const r = mulberry32(7);
 * const x = r(); // 0 <= x < 2^32
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * Times `fn`, which performs `opsPerCall` operations per call, and returns
 * the median over `rounds` rounds of about `roundMs` milliseconds each.
 */
export function measure(
  name: string,
  fn: () => void,
  opts: { opsPerCall?: number; rounds?: number; roundMs?: number; extra?: Record<string, number | string> } = {},
): BenchRow {
  const opsPerCall = opts.opsPerCall ?? 1;
  const rounds = opts.rounds ?? 7;
  const roundMs = opts.roundMs ?? 200;
  // Warm-up: let the JIT settle and find how many calls fill a round.
  let calls = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) fn();
    const dt = performance.now() - t0;
    if (dt > roundMs / 4) {
      calls = Math.max(1, Math.round((calls * roundMs) / dt));
      break;
    }
    calls *= 2;
  }
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) fn();
    const dt = performance.now() - t0;
    samples.push((dt * 1e6) / (calls * opsPerCall));
  }
  samples.sort((x, y) => x - y);
  const ns = samples[samples.length >> 1]!;
  return { name, nsPerOp: ns, opsPerSec: 1e9 / ns, ...(opts.extra ? { extra: opts.extra } : {}) };
}

/** Formats a number with 3 significant digits and SI suffixes. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toPrecision(3)} G`;
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (abs >= 1e3) return `${(n / 1e3).toPrecision(3)} k`;
  return n.toPrecision(3);
}

/** Prints rows as an aligned table, then one `BENCH_JSON {...}` line. */
export function report(title: string, rows: readonly BenchRow[]): void {
  const extraKeys = [...new Set(rows.flatMap((r) => Object.keys(r.extra ?? {})))];
  const header = ["benchmark", "ns/op", "ops/s", ...extraKeys];
  const lines = rows.map((r) => [
    r.name,
    r.nsPerOp.toFixed(1),
    fmt(r.opsPerSec),
    ...extraKeys.map((k) => {
      const v = r.extra?.[k];
      return v === undefined ? "" : typeof v === "number" ? fmt(v) : v;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(`\n## ${title}  (${runtimeName()}, ${new Date().toISOString()})`);
  console.log(row(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(row(l));
  console.log(`BENCH_JSON ${JSON.stringify({ title, runtime: runtimeName(), rows })}`);
}

function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.version}`;
}

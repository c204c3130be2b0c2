/**
 * A benchmark's child process inside a network namespace: the script prints
 * `ready` once it can be measured against, and one JSON result line at the
 * end. Used by the goodput and connect benchmarks (each runs itself again
 * with `--role ...`).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { basename } from "node:path";

/** A running child. */
export interface NsChild {
  /** Resolves when the child printed `ready`. */
  readonly ready: Promise<void>;
  /** The child's JSON result line, once it exits (rejects when it printed none). */
  readonly result: Promise<Record<string, number>>;
  /** Asks it to stop (SIGTERM). */
  kill(): void;
}

/**
 * Runs `bun script ...args` inside namespace `ns`; it is killed after
 * `timeoutMs`. `runtimeArgs` go to the runtime before the script (e.g.
 * `--cpu-prof`).
 *
 * @example
 * ```ts
 * import { runInNetns } from "./_ns_child.ts";
 * const child = runInNetns("sv1-01b", import.meta.path, ["--role", "sink"], 30_000);
 * await child.ready;
 * ```
 */
export function runInNetns(ns: string, script: string, args: string[], timeoutMs: number, runtimeArgs: string[] = []): NsChild {
  const p = spawn("ip", ["netns", "exec", ns, process.execPath, ...runtimeArgs, script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  p.stdout.setEncoding("utf8");
  p.stdout.on("data", (s: string) => {
    out += s;
    if (out.includes("ready\n")) ready();
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line));
      else reject(new Error(`${basename(script)} child ${args.join(" ")} printed no result (exit ${code ?? signal}): ${out.slice(-300)}`));
    });
  });
  return { ready: readyP, result, kill: () => p.kill("SIGTERM") };
}

/**
 * `p`, or a rejection naming `what` after `ms`.
 *
 * @example
 * ```ts
 * import { within } from "./_ns_child.ts";
 * await within(Promise.resolve(1), 1000, "nothing"); // => 1
 * ```
 */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what} did not start`)), ms))]);
}

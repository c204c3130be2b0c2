/**
 * The purity rule of the design (DESIGN.md §2): the pure packages perform no
 * I/O, read no clock, start no timer, draw no randomness of their own, and
 * import nothing from `effect`, `bun:*`, `node:*` or `Deno`. This module finds
 * violations in source text; `scripts/check_purity.ts` runs it over the tree.
 *
 * @module
 */

/** Directories whose non-test sources must be pure. */
export const PURE_DIRS: readonly string[] = [
  "packages/wire",
  "packages/lpm",
  "packages/sal",
  "packages/transport",
  "packages/discovery",
  "packages/datapath",
  "plugins",
];

/** Workspace packages a pure package may import (themselves pure). */
export const PURE_PACKAGES: readonly string[] = [
  "@serval/wire",
  "@serval/lpm",
  "@serval/sal",
  "@serval/transport",
  "@serval/discovery",
  "@serval/datapath",
];

/** One broken rule at one line. */
export interface PurityViolation {
  readonly file: string;
  readonly line: number;
  readonly rule: string;
  readonly text: string;
}

const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDeno\s*\./, "uses the Deno namespace"],
  [/\bBun\s*\./, "uses the Bun namespace"],
  [/\bprocess\s*\./, "uses process"],
  [/\bDate\s*\.\s*now\b/, "reads the clock (Date.now)"],
  [/\bnew\s+Date\s*\(/, "reads the clock (new Date)"],
  [/\bperformance\s*\.\s*now\b/, "reads the clock (performance.now)"],
  [/\bMath\s*\.\s*random\b/, "draws its own randomness (Math.random)"],
  [/\bcrypto\s*\.\s*(getRandomValues|randomUUID)\b/, "draws its own randomness (crypto)"],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask|requestAnimationFrame)\s*\(/, "starts a timer"],
  [/\bfetch\s*\(/, "performs I/O (fetch)"],
  [/\brequire\s*\(/, "uses require"],
  [/\bimport\s*\(/, "uses dynamic import"],
  [/\b(WebSocket|XMLHttpRequest|Worker)\s*\(/, "performs I/O"],
];

/**
 * Replaces comments with spaces (keeping line breaks) so that JSDoc examples
 * do not count, while string and template literals stay as they are.
 */
export function stripComments(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === "/" && n === "/") {
      while (i < src.length && src[i] !== "\n") {
        out += " ";
        i++;
      }
    } else if (c === "/" && n === "*") {
      out += "  ";
      i += 2;
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) {
        out += src[i] === "\n" ? "\n" : " ";
        i++;
      }
      out += "  ";
      i += 2;
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\\") {
          out += src[i]!;
          i++;
        }
        if (i < src.length) out += src[i]!;
        i++;
      }
      if (i < src.length) out += src[i]!;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * Finds purity violations in one source file.
 *
 * @param src The file's text.
 * @param file Its path, for the report.
 * @returns The violations (empty when the file is pure).
 */
export function findPurityViolations(src: string, file: string): PurityViolation[] {
  const code = stripComments(src);
  const lines = code.split("\n");
  const original = src.split("\n");
  const out: PurityViolation[] = [];
  const specifier = /(?:\bfrom\s*|\bimport\s+|\bexport\s+\*\s+from\s*)["']([^"']+)["']/g;
  lines.forEach((line, i) => {
    for (const [re, rule] of FORBIDDEN) {
      if (re.test(line)) out.push({ file, line: i + 1, rule, text: original[i]!.trim() });
    }
    for (const m of line.matchAll(specifier)) {
      const spec = m[1]!;
      if (spec.startsWith("./") || spec.startsWith("../")) {
        const target = resolveRelative(file, spec);
        if (PURE_DIRS.some((d) => target.startsWith(`${d}/`))) continue;
        out.push({ file, line: i + 1, rule: `imports "${spec}", outside the pure packages`, text: original[i]!.trim() });
        continue;
      }
      if (PURE_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) continue;
      out.push({ file, line: i + 1, rule: `imports "${spec}" (only relative files and pure @serval packages)`, text: original[i]!.trim() });
    }
  });
  return out;
}

/** Resolves `spec` relative to the repository-relative path `file` (POSIX). */
function resolveRelative(file: string, spec: string): string {
  const parts = file.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== ".") parts.push(seg);
  }
  return parts.join("/");
}

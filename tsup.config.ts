/**
 * Build: one ESM bundle with declarations per package, into the package's own
 * `dist/` (the `import`/`types` targets of its package.json exports). Bun and
 * Deno run the TypeScript sources directly; the build is for Node consumers
 * and publishing. Workspace packages stay external to each other.
 */
import { existsSync, readdirSync } from "node:fs";
import { defineConfig, type Options } from "tsup";

const dirs = ["packages", "plugins"].flatMap((top) =>
  existsSync(top) ? readdirSync(top).map((d) => `${top}/${d}`) : []
).filter((d) => existsSync(`${d}/mod.ts`) && existsSync(`${d}/package.json`));

/** Entries besides `mod.ts`, per package: the subpath exports of its package.json. */
const extra: Readonly<Record<string, readonly string[]>> = {
  "packages/client": ["client"],
};

export default defineConfig(dirs.map((dir): Options => ({
  entry: Object.fromEntries([["mod", `${dir}/mod.ts`], ...(extra[dir] ?? []).map((e) => [e, `${dir}/${e}.ts`])]),
  outDir: `${dir}/dist`,
  format: ["esm"],
  dts: true,
  target: "es2022",
  platform: "neutral",
  sourcemap: true,
  clean: true,
  external: [/^@serval\//, /^effect/, /^@effect\//, /^bun:/, /^node:/],
})));

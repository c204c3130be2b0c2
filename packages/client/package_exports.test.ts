/**
 * The package's subpath exports outside Bun point at files the build makes:
 * each `./x` export's `import`/`types` are `dist/x.js`/`dist/x.d.ts`, and the
 * build config has an entry `x` for this package.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Options } from "tsup";
import config from "../../tsup.config.ts";

interface Conditions {
  readonly bun: string;
  readonly types: string;
  readonly import: string;
}

const dir = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8")) as { exports: Record<string, Conditions> };

describe("@serval/client exports", () => {
  const options = (config as Options[]).find((o) => o.outDir === "packages/client/dist");
  const entries = (options?.entry ?? {}) as Record<string, string>;

  for (const [sub, c] of Object.entries(pkg.exports)) {
    test(`${sub} maps to its own build output`, () => {
      const name = c.bun.replace(/^\.\//, "").replace(/\.ts$/, "");
      expect(c.import).toBe(`./dist/${name}.js`);
      expect(c.types).toBe(`./dist/${name}.d.ts`);
      expect(entries[name]).toBe(`packages/client/${name}.ts`);
    });
  }
});

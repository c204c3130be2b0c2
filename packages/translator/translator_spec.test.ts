import { describe, expect, test } from "bun:test";
import { parseExportSpec, parseMapSpec, parseSocksSpec } from "./translator_spec.ts";

describe("translator flag texts", () => {
  test("--map [ADDR:]PORT=SERVICE", () => {
    expect(parseMapSpec("8080=web.example")).toEqual({ address: "127.0.0.1", port: 8080, service: "web.example" });
    expect(parseMapSpec("0.0.0.0:8080=web.example")).toEqual({ address: "0.0.0.0", port: 8080, service: "web.example" });
    expect(parseMapSpec("localhost:0=16385")).toEqual({ address: "localhost", port: 0, service: "16385" });
    expect(() => parseMapSpec("8080")).toThrow(/expected \[ADDR:\]PORT=SERVICE/);
    expect(() => parseMapSpec("70000=web.example")).toThrow(/"70000=web.example".*0\.\.65535/);
    expect(() => parseMapSpec("8080=web..example")).toThrow(/--map "8080=web\.\.example"/);
    expect(() => parseMapSpec(":80=web.example")).toThrow(/address before ":" is empty/);
  });

  test("--socks [ADDR:]PORT", () => {
    expect(parseSocksSpec("1080")).toEqual({ address: "127.0.0.1", port: 1080 });
    expect(parseSocksSpec("0.0.0.0:1080")).toEqual({ address: "0.0.0.0", port: 1080 });
    expect(() => parseSocksSpec("socks")).toThrow(/--socks "socks"/);
  });

  test("--export SERVICE=HOST:PORT", () => {
    expect(parseExportSpec("web.example=127.0.0.1:8000")).toEqual({ service: "web.example", host: "127.0.0.1", port: 8000 });
    expect(parseExportSpec("example/32=localhost:6379")).toEqual({ service: "example/32", host: "localhost", port: 6379 });
    expect(() => parseExportSpec("web.example")).toThrow(/expected SERVICE=HOST:PORT/);
    expect(() => parseExportSpec("web.example=8000")).toThrow(/HOST:PORT/);
    expect(() => parseExportSpec("web.example=h:0")).toThrow(/1\.\.65535/);
    expect(() => parseExportSpec("web..x=h:1")).toThrow(/--export/);
  });
});

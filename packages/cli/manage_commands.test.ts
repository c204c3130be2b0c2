import { describe, expect, test } from "bun:test";
import { humanBytes, shortPrefix, table } from "./manage_common.ts";
import { parseServiceWords } from "./service_command.ts";

describe("parseServiceWords (serval service add|del|mod)", () => {
  test("iproute2-like words to the request's parameters", () => {
    expect(parseServiceWords("add", "web.example/16", ["via", "198.18.1.2", "weight", "10"])).toEqual({
      prefix: "web.example/16",
      target: { type: "forward", to: "198.18.1.2" },
      weight: 10,
    });
    expect(parseServiceWords("add", "default", ["drop", "priority", "3"])).toEqual({ prefix: "default", target: { type: "drop" }, priority: 3 });
    expect(parseServiceWords("mod", "a/8", ["via", "198.18.1.2:9", "plugin", "round-robin"])).toEqual({
      prefix: "a/8",
      target: { type: "forward", to: "198.18.1.2:9" },
      plugin: "round-robin",
    });
    expect(parseServiceWords("del", "a/8", ["demux", "4"])).toEqual({ prefix: "a/8", target: { type: "demux", listener: 4 } });
  });

  test("bad words: one line each", () => {
    const cases: [Parameters<typeof parseServiceWords>, string][] = [
      [["add", "web.example/16", []], "missing target: give via IP[:PORT], drop or delay"],
      [["add", "web.example/16", ["via"]], '"via" needs an address (IP or IP:PORT)'],
      [["add", "web.example/16", ["via", "198.18.1.2", "drop"]], "two targets: give one of via IP[:PORT], drop or delay"],
      [["add", "web.example/16", ["demux", "1"]], "demux rules belong to listening applications: add via, drop or delay"],
      [["del", "web.example/16", ["drop", "weight", "2"]], 'unknown word "weight": expected via IP[:PORT], drop, delay or demux N'],
      [["add", "web.example/16", ["via", "198.18.1.2", "weight", "ten"]], 'weight: expected an integer 1..65535, got "ten"'],
      [["add", "web.example/16", ["via", "198.18.1.2", "weight", "0"]], "weight: expected an integer 1..65535, got 0"],
      [["add", "web.example/300", ["drop"]], 'prefix: prefix length is 300, must be 0..256, got "web.example/300"'],
      [["add", "web.example/16", ["via", "300.1.1.1"]], 'target.to: expected IP or IP:PORT (port 0..65535), got "300.1.1.1"'],
      [["mod", "web.example/16", ["drop"]], "request: nothing to change: give weight, priority or plugin"],
    ];
    for (const [args, line] of cases) expect(parseServiceWords(...args)).toBe(line);
  });
});

describe("table helpers", () => {
  test("columns ignore colour codes; bytes and prefixes shortened", () => {
    expect(table(["A", "B"], [["\x1b[32mok\x1b[0m", "1"], ["longer", "2"]], false)).toEqual(["A       B", "\x1b[32mok\x1b[0m      1", "longer  2"]);
    expect([humanBytes(1023), humanBytes(1024), humanBytes(5 * 1024 * 1024)]).toEqual(["1023", "1.0K", "5.0M"]);
    expect(shortPrefix(`50d858e0092c79e8${"0".repeat(48)}/256`)).toBe("50d858e0092c79e8…/256");
    expect(shortPrefix(`${"0".repeat(63)}1/256`)).toBe(`${"0".repeat(63)}1/256`);
    expect(shortPrefix("1356333056/16")).toBe("1356333056/16");
  });
});

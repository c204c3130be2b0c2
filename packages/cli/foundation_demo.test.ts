import { describe, expect, test } from "bun:test";
import { foundationDemo } from "./foundation_demo.ts";

describe("foundationDemo()", () => {
  const lines = foundationDemo();
  const text = lines.join("\n");

  test("resolves each service by longest prefix", () => {
    expect(text).toContain("resolve web.example  -> web.example ->");
    expect(text).toContain("resolve mail.example -> example/32 -> 198.18.9.1");
    expect(text).toContain("resolve 16385        -> default -> 198.18.255.255");
  });

  test("the SAL checksum catches a flipped bit", () => {
    expect(text).toContain('dropped: "bad-checksum"');
  });

  test("the weighted split is within 2 points of 3:2:1", () => {
    const shares = [...text.matchAll(/(\d+\.\d) %  \(expected (\d+\.\d) %\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(shares.length).toBe(3);
    for (const [got, want] of shares) expect(Math.abs(got! - want!)).toBeLessThan(2);
  });

  test("the forwarded SYN carries the SOURCE extension", () => {
    expect(text).toContain("SOURCE [198.18.0.1, 198.18.0.254]");
    expect(text).toContain("will answer 198.18.0.1 directly");
  });
});

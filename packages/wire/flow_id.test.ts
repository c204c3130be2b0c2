import { describe, expect, test } from "bun:test";
import { FLOW_ID_NONE, formatFlowId, isFlowId, parseFlowId } from "./flow_id.ts";

describe("FlowId", () => {
  test("0 is reserved, u32 range otherwise", () => {
    expect(isFlowId(FLOW_ID_NONE)).toBe(false);
    expect(isFlowId(1)).toBe(true);
    expect(isFlowId(2 ** 32)).toBe(false);
    expect(isFlowId(1.5)).toBe(false);
  });

  test("parse and format", () => {
    expect(parseFlowId("4294967295")).toBe(0xffffffff);
    expect(parseFlowId("0xff")).toBe(255);
    expect(formatFlowId(0xffffffff)).toBe("4294967295");
    for (const bad of ["0", "", "-1", "4294967296", "0x", "12a"]) {
      expect(() => parseFlowId(bad)).toThrow(RangeError);
    }
  });
});

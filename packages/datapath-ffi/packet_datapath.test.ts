import { describe, expect, test } from "bun:test";
import { inNetns } from "./in_netns.ts";
import { openPacketDatapath } from "./packet_datapath.ts";
import { PacketDatapathError } from "./packet_datapath_error.ts";

describe("openPacketDatapath()", () => {
  test("refuses with a PacketDatapathError that says what to do when not root", async () => {
    const real = process.getuid;
    process.getuid = () => 1000;
    try {
      const p = openPacketDatapath();
      await expect(p).rejects.toBeInstanceOf(PacketDatapathError);
      await expect(p).rejects.toThrow(/not root.*run as root or use the UDP datapath/);
    } finally {
      process.getuid = real;
    }
  });

  test("checks the ring geometry before touching the kernel", async () => {
    const real = process.getuid;
    process.getuid = () => 0;
    try {
      await expect(openPacketDatapath({ ringBlockSize: 5000 })).rejects.toThrow(/multiple of 4096/);
    } finally {
      process.getuid = real;
    }
  });
});

describe("inNetns()", () => {
  test("rejects names that are not plain names in /run/netns", () => {
    for (const bad of ["", "..", "a/b"]) expect(() => inNetns(bad, () => 1)).toThrow(PacketDatapathError);
  });
});

describe("PacketDatapathError", () => {
  test("is a plain Error with a name and an errno code", () => {
    const e = new PacketDatapathError("Cannot open packet socket: EPERM", "EPERM");
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.message]).toEqual(["PacketDatapathError", "EPERM", "Cannot open packet socket: EPERM"]);
  });
});

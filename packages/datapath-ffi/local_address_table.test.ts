import { describe, expect, test } from "bun:test";
import { ipv4Broadcast, LocalAddressTable, MATCH_BROADCAST, MATCH_NONE, MATCH_UNICAST } from "./local_address_table.ts";

const v4 = (...b: number[]) => new Uint8Array(b);

describe("ipv4Broadcast()", () => {
  test("subnet broadcasts", () => {
    expect([...ipv4Broadcast(v4(198, 18, 1, 7), 24)]).toEqual([198, 18, 1, 255]);
    expect([...ipv4Broadcast(v4(198, 18, 1, 7), 15)]).toEqual([198, 19, 255, 255]);
    expect([...ipv4Broadcast(v4(198, 18, 1, 7), 31)]).toEqual([198, 18, 1, 7]);
    expect([...ipv4Broadcast(v4(198, 18, 1, 7), 0)]).toEqual([255, 255, 255, 255]);
  });
});

describe("LocalAddressTable", () => {
  test("matches unicast, subnet and limited broadcast; add/remove are idempotent", () => {
    const t = new LocalAddressTable();
    const a = { ifindex: 2, ifname: "a", address: v4(198, 18, 1, 2), prefixLen: 24, port: 0 };
    expect(t.add(a)).toBe(true);
    expect(t.add({ ...a, address: v4(198, 18, 1, 2) })).toBe(false);
    expect(t.match(v4(198, 18, 1, 2), 0, 4)).toBe(MATCH_UNICAST);
    expect(t.match(v4(198, 18, 1, 255), 0, 4)).toBe(MATCH_BROADCAST);
    expect(t.match(v4(198, 18, 2, 255), 0, 4)).toBe(MATCH_NONE);
    expect(t.match(v4(255, 255, 255, 255), 0, 4)).toBe(MATCH_BROADCAST);
    expect(t.remove({ ...a })?.ifname).toBe("a");
    expect(t.remove(a)).toBeUndefined();
    expect(t.match(v4(198, 18, 1, 2), 0, 4)).toBe(MATCH_NONE);
  });
  test("IPv6 unicast and all-nodes", () => {
    const t = new LocalAddressTable();
    const addr = new Uint8Array(16);
    addr[0] = 0x20;
    addr[1] = 0x01;
    addr[15] = 5;
    t.add({ ifindex: 2, ifname: "a", address: addr, prefixLen: 64, port: 0 });
    expect(t.match(addr, 0, 6)).toBe(MATCH_UNICAST);
    const all = new Uint8Array(16);
    all[0] = 0xff;
    all[1] = 0x02;
    all[15] = 1;
    expect(t.match(all, 0, 6)).toBe(MATCH_BROADCAST);
    const other = addr.slice();
    other[15] = 6;
    expect(t.match(other, 0, 6)).toBe(MATCH_NONE);
    expect(t.removeInterface(2).length).toBe(1);
    expect(t.list().length).toBe(0);
  });
});

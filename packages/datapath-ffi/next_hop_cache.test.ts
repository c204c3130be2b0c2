import { describe, expect, test } from "bun:test";
import type { NeighInfo, RouteInfo } from "./netlink.ts";
import { NUD_FAILED, NUD_REACHABLE, NUD_STALE } from "./netlink.ts";
import { NextHopCache, ROUTE_LOCAL, ROUTE_NONE, ROUTE_NOT_ATTACHED, ROUTE_OK } from "./next_hop_cache.ts";
import type { KernelTables } from "./next_hop_cache.ts";

const GW = new Uint8Array([198, 18, 1, 1]);
const MAC = new Uint8Array([2, 0, 0, 0, 0, 0x11]);

function fake(over: Partial<KernelTables> = {}) {
  const calls = { route: 0, neighbour: 0, resolve: 0 };
  const k: KernelTables = {
    route: (dst): RouteInfo | number => {
      calls.route++;
      if (dst[2] === 9) return -101;
      return { family: 2, type: dst[3] === 1 ? 2 : 1, dstLen: 32, table: 254, oif: dst[2] === 8 ? 99 : 3, dst, gateway: dst[2] === 2 ? GW : undefined, prefsrc: new Uint8Array([198, 18, 1, 2]) };
    },
    neighbour: (ifindex, addr): NeighInfo | undefined => {
      calls.neighbour++;
      return addr[3] === 1 ? { family: 2, ifindex, state: NUD_STALE, dst: addr, lladdr: MAC } : undefined;
    },
    resolve: () => {
      calls.resolve++;
      return 0;
    },
    link: (i) => (i === 3 ? { mac: new Uint8Array(6), mtu: 1500 } : undefined),
    source: () => undefined,
    ...over,
  };
  return { cache: new NextHopCache(k), calls };
}

describe("NextHopCache", () => {
  test("routes via a gateway use the gateway's MAC and are cached per generation", () => {
    const { cache, calls } = fake();
    const dst = new Uint8Array([198, 18, 2, 2]);
    const r = cache.lookup(dst, 0, 4);
    expect([r.status, r.ifindex, r.neighbour!.valid, [...r.neighbour!.addr]]).toEqual([ROUTE_OK, 3, true, [...GW]]);
    expect([...r.src.subarray(0, 4)]).toEqual([198, 18, 1, 2]);
    cache.lookup(dst, 0, 4);
    expect(calls.route).toBe(1);
    cache.invalidate();
    cache.lookup(dst, 0, 4);
    expect([calls.route, calls.neighbour]).toEqual([2, 1]); // neighbour object reused
  });

  test("status for no route, local, and interfaces we did not attach", () => {
    const { cache } = fake();
    expect(cache.lookup(new Uint8Array([198, 18, 9, 5]), 0, 4).status).toBe(ROUTE_NONE);
    expect(cache.lookup(new Uint8Array([198, 18, 1, 1]), 0, 4).status).toBe(ROUTE_LOCAL);
    expect(cache.lookup(new Uint8Array([198, 18, 8, 5]), 0, 4).status).toBe(ROUTE_NOT_ATTACHED);
  });

  test("an unknown neighbour is requested once and released by a notification", () => {
    const { cache, calls } = fake();
    const r = cache.lookup(new Uint8Array([198, 18, 1, 7]), 0, 4);
    const n = r.neighbour!;
    expect(n.valid).toBe(false);
    expect(cache.request(n)).toBe(true);
    expect(cache.request(n)).toBe(true);
    expect(calls.resolve).toBe(1);
    n.queue.push({ family: 4, data: new Uint8Array(1), src: new Uint8Array(16), dst: new Uint8Array(16) });
    const ev = cache.onNeighbour({ family: 2, ifindex: 3, state: NUD_REACHABLE, dst: n.addr, lladdr: MAC }, false);
    expect(ev?.neighbour).toBe(n);
    expect(ev?.failed).toBe(false);
    expect([n.valid, n.mac[5]]).toEqual([true, 0x11]);
  });

  test("a failed neighbour reports its queue; a deleted one is requested again", () => {
    const { cache, calls } = fake();
    const n = cache.lookup(new Uint8Array([198, 18, 1, 8]), 0, 4).neighbour!;
    cache.request(n);
    n.queue.push({ family: 4, data: new Uint8Array(1), src: new Uint8Array(16), dst: new Uint8Array(16) });
    expect(cache.onNeighbour({ family: 2, ifindex: 3, state: NUD_FAILED, dst: n.addr, lladdr: undefined }, false)?.failed).toBe(true);
    cache.onNeighbour({ family: 2, ifindex: 3, state: 0, dst: n.addr, lladdr: undefined }, true);
    cache.request(n);
    expect(calls.resolve).toBe(2);
    expect(cache.onNeighbour({ family: 2, ifindex: 4, state: NUD_REACHABLE, dst: n.addr, lladdr: MAC }, false)).toBeUndefined();
  });
});

/**
 * The Datapath compliance suite: every datapath (memory, udp, packet) runs
 * {@linkcode datapathCompliance} from a test file with a factory of
 * connected pairs.
 *
 * A pair is two open datapaths that can reach each other:
 *
 * ```ts
 * interface DatapathPair {
 *   readonly a: Datapath; readonly b: Datapath;
 *   readonly aLocator: Locator;  // where to send to reach a (IP, or IP:port for udp)
 *   readonly bLocator: Locator;  // where to send to reach b
 *   readonly broadcast: boolean; // a broadcast from a reaches b (false on loopback)
 *   readonly maxPacket: number;  // largest SAL packet both datapaths send and receive
 *   readonly lossless?: boolean; // no loss at 64-packet bursts (default true)
 *   close(): Promise<void>;      // closes a and b, tears down what the pair set up
 * }
 * ```
 *
 * Drop reasons the suite relies on: `too-big` for a packet longer than
 * `maxPacket` given to `send`.
 *
 * Each test makes a fresh pair and closes it in `finally`; every wait is
 * bounded ({@linkcode receiveUntil}). Payloads carry a test tag and an index
 * so a late packet from another test is never mistaken for ours.
 *
 * @example Run it on a datapath
 * ```ts
 * import { datapathCompliance } from "../compliance/datapath.ts";
 * datapathCompliance("udp", async () => makeUdpPair());
 * ```
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { BATCH_BROADCAST, PacketBatch } from "@serval/datapath";
import type { Datapath } from "@serval/datapath";
import type { Locator } from "@serval/wire";

/** Two connected datapaths, as a compliance suite needs them. */
export interface DatapathPair {
  /** First datapath. */
  readonly a: Datapath;
  /** Second datapath. */
  readonly b: Datapath;
  /** Where to send to reach `a`. */
  readonly aLocator: Locator;
  /** Where to send to reach `b`. */
  readonly bLocator: Locator;
  /** Whether a broadcast from `a` reaches `b`. */
  readonly broadcast: boolean;
  /** Largest SAL packet the datapaths carry. */
  readonly maxPacket: number;
  /** No loss for bursts of 64 packets (default true). */
  readonly lossless?: boolean;
  /** Closes both datapaths and tears down whatever the pair set up. */
  close(): Promise<void>;
}

/** Default bound of every wait in the suite. */
export const WAIT_MS = 2000;

/**
 * Receives into `batch` until it holds `n` packets or `timeoutMs` passed.
 *
 * @returns `batch.count` at the end.
 */
export async function receiveUntil(dp: Datapath, batch: PacketBatch, n: number, timeoutMs = WAIT_MS): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  dp.receive(batch);
  while (batch.count < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([dp.wait(), new Promise<void>((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
    dp.receive(batch);
  }
  return batch.count;
}

/** Resolves `true` if `p` settles within `ms`, else `false`. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([p.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return r;
}

let runTag = 0;

/** A payload of `len` bytes: tag, index, then a pattern derived from both. */
export function payload(tag: number, index: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  for (let j = 0; j < len; j++) p[j] = (j * 7 + index * 13 + tag) & 255;
  p[0] = tag & 255;
  if (len > 1) p[1] = index & 255;
  return p;
}

/** Sum of every drop counter. */
export function totalDrops(dp: Datapath): number {
  let n = 0;
  for (const v of dp.stats().drops.values()) n += v;
  return n;
}

/** Keeps only the packets of `batch` whose first byte is `tag` (late packets from other tests are dropped). */
function ours(batch: PacketBatch, tag: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < batch.count; i++) if (batch.data[batch.offset[i]!] === (tag & 255)) idx.push(i);
  return idx;
}

function sendOne(from: Datapath, to: Locator, bytes: Uint8Array, flags = 0): number {
  const tx = new PacketBatch(1, Math.max(bytes.length, 1));
  tx.push(bytes, 0, bytes.length, undefined, to, 0, flags);
  return from.send(tx);
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Registers the compliance tests for one datapath implementation.
 *
 * @param name Shown in the describe block.
 * @param makePair Makes a fresh, connected pair.
 */
export function datapathCompliance(name: string, makePair: () => Promise<DatapathPair>): void {
  const withPair = async (fn: (p: DatapathPair, tag: number) => Promise<void>): Promise<void> => {
    const p = await makePair();
    try {
      await fn(p, (++runTag * 37 + 11) & 255);
    } finally {
      await p.close();
    }
  };

  describe(`Datapath compliance: ${name}`, () => {
    test("unicast a→b and b→a: exact bytes and locators", async () => {
      await withPair(async (p, tag) => {
        for (const [from, to, fromLoc, toLoc] of [
          [p.a, p.b, p.aLocator, p.bLocator],
          [p.b, p.a, p.bLocator, p.aLocator],
        ] as const) {
          const bytes = payload(tag, 1, 100);
          expect(sendOne(from, toLoc, bytes)).toBe(1);
          const rx = new PacketBatch(8);
          expect(await receiveUntil(to, rx, 1)).toBe(1);
          expect(hex(rx.packet(0))).toBe(hex(bytes));
          expect(hex(rx.src(0).address)).toBe(hex(fromLoc.address));
          expect(rx.src(0).port).toBe(fromLoc.port);
          expect(hex(rx.dst(0).address)).toBe(hex(toLoc.address));
          expect(rx.dst(0).port).toBe(toLoc.port);
          expect(rx.family[0]).toBe(toLoc.address.length === 16 ? 6 : 4);
          expect(rx.flags[0]! & BATCH_BROADCAST).toBe(0);
        }
      });
    });

    test("a batch of 64 arrives complete and in order", async () => {
      await withPair(async (p, tag) => {
        const tx = new PacketBatch(64);
        for (let i = 0; i < 64; i++) tx.push(payload(tag, i, 64 + i), 0, 64 + i, undefined, p.bLocator);
        expect(p.a.send(tx)).toBe(64);
        const rx = new PacketBatch(64);
        const got = await receiveUntil(p.b, rx, 64);
        if (p.lossless === false) {
          expect(got).toBeGreaterThan(0);
          return;
        }
        expect(got).toBe(64);
        for (let i = 0; i < 64; i++) expect(hex(rx.packet(i))).toBe(hex(payload(tag, i, 64 + i)));
      });
    });

    test("1-byte and maxPacket-byte packets arrive intact", async () => {
      await withPair(async (p, tag) => {
        const small = new Uint8Array([tag]);
        const big = payload(tag, 2, p.maxPacket);
        const tx = new PacketBatch(2, p.maxPacket + 1);
        tx.push(small, 0, 1, undefined, p.bLocator);
        tx.push(big, 0, big.length, undefined, p.bLocator);
        expect(p.a.send(tx)).toBe(2);
        const rx = new PacketBatch(2, p.maxPacket + 1);
        expect(await receiveUntil(p.b, rx, 2)).toBe(2);
        expect([...rx.packet(0)]).toEqual([tag]);
        expect(rx.length[1]).toBe(p.maxPacket);
        expect(hex(rx.packet(1))).toBe(hex(big));
      });
    });

    test('an oversize packet is dropped and counted as "too-big", not thrown', async () => {
      await withPair(async (p, tag) => {
        const tooBig = () => p.a.stats().drops.get("too-big") ?? 0;
        const before = tooBig();
        const tx = new PacketBatch(2, 2 * p.maxPacket + 64);
        const over = payload(tag, 0, p.maxPacket + 1);
        tx.push(over, 0, over.length, undefined, p.bLocator);
        tx.push(payload(tag, 1, 10), 0, 10, undefined, p.bLocator);
        expect(p.a.send(tx)).toBe(1);
        expect(tooBig()).toBe(before + 1);
        const rx = new PacketBatch(4, 4 * (p.maxPacket + 64));
        await receiveUntil(p.b, rx, 1);
        const mine = ours(rx, tag);
        expect(mine.length).toBe(1);
        expect(rx.length[mine[0]!]).toBe(10);
        // Nothing else shows up shortly after (the oversize one really was dropped).
        await receiveUntil(p.b, rx, rx.count + 1, 100);
        expect(ours(rx, tag).length).toBe(1);
      });
    });

    test("receive on an idle datapath returns 0 at once", async () => {
      await withPair(async (p) => {
        const rx = new PacketBatch(4);
        const t0 = performance.now();
        expect(p.a.receive(rx)).toBe(0);
        expect(p.b.receive(rx)).toBe(0);
        expect(rx.count).toBe(0);
        expect(performance.now() - t0).toBeLessThan(50);
      });
    });

    test("wait() resolves when a packet arrives", async () => {
      await withPair(async (p, tag) => {
        const rx = new PacketBatch(4);
        p.b.receive(rx); // drain
        rx.clear();
        const w = p.b.wait();
        expect(sendOne(p.a, p.bLocator, payload(tag, 0, 20))).toBe(1);
        expect(await settlesWithin(w, WAIT_MS)).toBe(true);
        expect(await receiveUntil(p.b, rx, 1)).toBe(1);
      });
    });

    test("close() is idempotent, resolves a pending wait, then receive and send return 0", async () => {
      await withPair(async (p, tag) => {
        const rx = new PacketBatch(4);
        p.b.receive(rx);
        rx.clear();
        const w = p.b.wait();
        await p.b.close();
        expect(await settlesWithin(w, WAIT_MS)).toBe(true);
        await p.b.close();
        expect(await settlesWithin(p.b.wait(), WAIT_MS)).toBe(true);
        expect(p.b.receive(rx)).toBe(0);
        expect(sendOne(p.b, p.aLocator, payload(tag, 0, 20))).toBe(0);
      });
    });

    test("stats count packets and bytes on both sides", async () => {
      await withPair(async (p, tag) => {
        const a0 = p.a.stats();
        const b0 = p.b.stats();
        const tx = new PacketBatch(3);
        for (const [i, len] of [10, 20, 30].entries()) tx.push(payload(tag, i, len), 0, len, undefined, p.bLocator);
        expect(p.a.send(tx)).toBe(3);
        const rx = new PacketBatch(8);
        expect(await receiveUntil(p.b, rx, 3)).toBe(3);
        const a1 = p.a.stats();
        const b1 = p.b.stats();
        expect(a1.txPackets - a0.txPackets).toBe(3);
        expect(a1.txBytes - a0.txBytes).toBe(60);
        expect(b1.rxPackets - b0.rxPackets).toBe(3);
        expect(b1.rxBytes - b0.rxBytes).toBe(60);
      });
    });

    test("localAddresses() includes the pair's locators", async () => {
      await withPair(async (p) => {
        for (const [dp, loc] of [[p.a, p.aLocator], [p.b, p.bLocator]] as const) {
          const las = dp.localAddresses();
          const match = las.find((la) => hex(la.address) === hex(loc.address));
          expect(match).toBeDefined();
          expect(match!.port).toBe(loc.port);
          expect(match!.prefixLen).toBeGreaterThanOrEqual(0);
        }
      });
    });

    test("broadcast reaches the peer flagged BATCH_BROADCAST (when supported)", async () => {
      await withPair(async (p, tag) => {
        if (!p.broadcast) {
          console.log(`  (${name}: broadcast not supported by this pair, skipped)`);
          return;
        }
        const bcast = { address: new Uint8Array(p.bLocator.address.length === 16 ? 16 : 4).fill(255), port: p.bLocator.port };
        expect(sendOne(p.a, bcast, payload(tag, 5, 40), BATCH_BROADCAST)).toBe(1);
        const rx = new PacketBatch(8);
        await receiveUntil(p.b, rx, 1);
        const mine = ours(rx, tag);
        expect(mine.length).toBe(1);
        const i = mine[0]!;
        expect(hex(rx.packet(i))).toBe(hex(payload(tag, 5, 40)));
        expect(rx.flags[i]! & BATCH_BROADCAST).toBe(BATCH_BROADCAST);
        expect(hex(rx.src(i).address)).toBe(hex(p.aLocator.address));
      });
    });

    test("receive appends after count, stops at capacity, keeps the rest", async () => {
      await withPair(async (p, tag) => {
        const rx = new PacketBatch(4);
        const dummy = new Uint8Array([0xee, 0xee, 0xee]);
        rx.push(dummy, 0, 3, undefined, p.aLocator);
        rx.push(dummy, 0, 2, undefined, p.aLocator);
        const tx = new PacketBatch(5);
        for (let i = 0; i < 5; i++) tx.push(payload(tag, i, 30), 0, 30, undefined, p.bLocator);
        expect(p.a.send(tx)).toBe(5);
        expect(await receiveUntil(p.b, rx, 4)).toBe(4);
        expect(hex(rx.packet(0))).toBe("eeeeee");
        expect(hex(rx.packet(1))).toBe("eeee");
        expect(hex(rx.packet(2))).toBe(hex(payload(tag, 0, 30)));
        expect(hex(rx.packet(3))).toBe(hex(payload(tag, 1, 30)));
        // With more packets pending (wait() resolves), a full batch takes none and loses none.
        await settlesWithin(p.b.wait(), WAIT_MS);
        expect(p.b.receive(rx)).toBe(0);
        expect(rx.count).toBe(4);
        const rest = new PacketBatch(8);
        expect(await receiveUntil(p.b, rest, 3)).toBe(3);
        for (let i = 0; i < 3; i++) expect(hex(rest.packet(i))).toBe(hex(payload(tag, i + 2, 30)));
      });
    });
  });
}

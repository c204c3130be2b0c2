/**
 * Hostile input on the simulated LAN: a SYN flood from random flowIDs, and
 * forged control packets (RST, FIN, RSYN, ACK) that carry the right flowIDs
 * and sequence numbers but a wrong nonce (facts §2.6, §10.2).
 */
import { describe, expect, test } from "bun:test";
import { emitSal, SAL_ACK, SAL_FIN, SAL_RST, SAL_RSYN, SAL_SYN } from "@serval/wire";
import { EchoTransport, SeededRandom } from "@serval/sal";
import type { SimAddress, SimNode, SimTransmit } from "./sim_node.ts";
import { describeFrame, expectSalIdle, type FrameInfo, type SalNode, toLocator } from "./sal_node.ts";
import { connectEcho, ECHO, salWorld, type World } from "./sal_world.ts";

/** A node that sends what it is told and records what reaches it. */
class Attacker implements SimNode {
  readonly outbox: SimTransmit[] = [];
  readonly received: FrameInfo[] = [];
  handleFrame(_now: number, _iface: number, frame: Uint8Array, from: SimAddress): void {
    this.received.push(describeFrame(frame, "attacker", from, "?"));
  }
  pollTransmit(): SimTransmit | undefined {
    return this.outbox.shift();
  }
  pollTimeout(): number | undefined {
    return undefined;
  }
  handleTimeout(_now: number): void {}
}

function addAttacker(w: World): Attacker {
  const a = new Attacker();
  w.net.attach(w.lan, w.net.addNode(a, "attacker"));
  return a;
}

function control(srcFlowId: number, dstFlowId: number, flags: number, verno: number, ackno: number, nonce: Uint8Array, services = [] as typeof ECHO[]): Uint8Array {
  const buf = new Uint8Array(128);
  const n = emitSal({ srcFlowId, dstFlowId, protocol: 17, control: { flags, verno, ackno, nonce }, services }, buf, 0);
  return buf.slice(0, n);
}

describe("scenario: SYN flood", () => {
  test("5,000 SYNs from random flowIDs: memory stays within the request queue, a real client still connects", () => {
    const QUEUE = 64;
    const w = salWorld({ seed: 41, requestQueue: QUEUE, flow: { maxRetries: 3 } });
    const server = w.servers[0]!;
    const attacker = addAttacker(w);
    const rnd = new SeededRandom(4242);
    let legit: { id: number; transport: EchoTransport } | undefined;
    let peak = 0;
    for (let ms = 0; ms < 100; ms++) {
      for (let i = 0; i < 50; i++) {
        const nonce = new Uint8Array(8);
        for (let j = 0; j < 8; j++) nonce[j] = rnd.nextU32();
        attacker.outbox.push({ iface: 0, frame: control(rnd.nextU32() || 1, 0, SAL_SYN, rnd.nextU32(), 0, nonce, [ECHO]), to: server.address() });
      }
      if (ms === 50) {
        const transport = new EchoTransport("client");
        legit = { id: w.client.host.connect(w.net.now, ECHO, transport), transport };
      }
      // Step by step: the bound holds at every instant.
      const end = w.net.now + 1_000;
      while (w.net.step() && w.net.now < end) {
        peak = Math.max(peak, server.host.flowCount);
        expect(server.host.flowCount).toBeLessThanOrEqual(QUEUE + 1);
      }
      w.net.runUntil(end);
    }
    expect(peak).toBeGreaterThanOrEqual(QUEUE);
    expect(server.host.drops.get("request-evicted")).toBeGreaterThan(4000);
    const { id, transport } = legit!;
    expect(w.client.host.flowState(id)?.state).toBe("CONNECTED");
    expect(w.accepted[0]!.length).toBe(1);
    transport.write(new Uint8Array([1, 2, 3]));
    w.client.host.flush(w.net.now, id);
    w.net.runUntil(w.net.now + 1_000);
    expect([...transport.receivedBytes()]).toEqual([1, 2, 3]);
    w.client.host.close(w.net.now, id);
    // The flood's half-open flows retransmit their SYN-ACKs to nobody and expire.
    w.net.drive(100_000);
    expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
    expect(attacker.received.some((f) => f.kind === "SYN-ACK")).toBe(true);
    expectSalIdle(w.net, w.nodes);
  });
});

describe("scenario: spoofed SYNs naming a victim in their SOURCE list", () => {
  test("the server sends its SYN-ACKs to the victim: at most maxSynAckRetries + 1 per SYN, then the half-open flow expires", () => {
    const w = salWorld({ seed: 42 });
    const server = w.servers[0]!;
    const attacker = addAttacker(w);
    const victim = addAttacker(w); // any address on the LAN
    const victimAddr = w.net.addressOf(w.net.nodeCount - 1);
    const rnd = new SeededRandom(99);
    for (let i = 0; i < 10; i++) {
      const buf = new Uint8Array(200);
      const n = emitSal({
        srcFlowId: rnd.nextU32() || 1,
        dstFlowId: 0,
        protocol: 17,
        control: { flags: SAL_SYN, verno: rnd.nextU32(), ackno: 0, nonce: new Uint8Array(8).fill(i) },
        services: [ECHO],
        source: [toLocator(victimAddr).address, w.router.locator().address], // "via the router"
      }, buf, 0);
      attacker.outbox.push({ iface: 0, frame: buf.slice(0, n), to: server.address() });
    }
    w.net.drive(100_000);
    const synAcks = victim.received.filter((f) => f.kind === "SYN-ACK").length;
    // 5 SYN-ACK retransmissions by default (SalFlowOptions.maxSynAckRetries): a reflection factor of 6, bounded.
    expect(synAcks).toBe(10 * 6);
    expect(server.eventsOf("flow-down").map((e) => e.reason)).toEqual(Array(10).fill("timeout"));
    expect(attacker.received).toEqual([]);
    expectSalIdle(w.net, w.nodes);
  });
});

describe("scenario: forged control packets with a wrong nonce", () => {
  function snapshot(n: SalNode, flow: number) {
    const f = n.host.flowState(flow)!;
    return { state: f.state, migration: f.migration, seq: f.seq, peer: f.peer, local: f.local, pending: f.pendingControl, events: n.events.length };
  }

  for (const target of ["server", "client"] as const) {
    test(`RST, FIN, RSYN and ACK forged at the ${target} change nothing`, () => {
      const w = salWorld({ seed: target === "server" ? 51 : 52 });
      const server = w.servers[0]!;
      const attacker = addAttacker(w);
      const { id, sid, transport } = connectEcho(w);
      const [victim, vFlow, peer, pFlow] = target === "server" ? [server, sid, w.client, id] : [w.client, id, server, sid];
      const before = snapshot(victim, vFlow);
      const peerBefore = snapshot(peer, pFlow);
      // Exactly what the peer would send next, but with a wrong nonce.
      const p = peer.host.flowState(pFlow)!;
      const bad = p.nonce.map((b) => b ^ 0xff);
      const { sndNxt, rcvNxt } = p.seq;
      const forged = [
        control(pFlow, vFlow, SAL_RST | SAL_ACK, sndNxt, rcvNxt, bad),
        control(pFlow, vFlow, SAL_FIN | SAL_ACK, sndNxt, rcvNxt, bad),
        control(pFlow, vFlow, SAL_RSYN, sndNxt, rcvNxt, bad),
        control(pFlow, vFlow, SAL_ACK, sndNxt, rcvNxt, bad),
        control(pFlow, vFlow, SAL_RSYN | SAL_ACK, sndNxt, rcvNxt, bad),
      ];
      for (const frame of forged) attacker.outbox.push({ iface: 0, frame, to: victim.address() });
      w.net.runUntil(w.net.now + 10_000);
      expect(snapshot(victim, vFlow)).toEqual(before);
      expect(snapshot(peer, pFlow)).toEqual(peerBefore);
      // Every one rejected for its nonce, nothing else.
      expect([...victim.host.drops.entries()]).toEqual([["bad-nonce", forged.length]]);
      expect(attacker.received).toEqual([]);
      // The flow still works and closes normally.
      transport.write(new Uint8Array([9]));
      w.client.host.flush(w.net.now, id);
      w.net.runUntil(w.net.now + 1_000);
      expect([...transport.receivedBytes()]).toEqual([9]);
      w.client.host.close(w.net.now, id);
      w.net.drive(10_000);
      expect(w.client.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: id, reason: "normal" }]);
      expect(server.eventsOf("flow-down")).toEqual([{ type: "flow-down", flow: sid, reason: "normal" }]);
      expectSalIdle(w.net, w.nodes);
    });
  }

  test("a forged RST during the peer's migration (RSYN_RECV) changes nothing", () => {
    const w = salWorld({ seed: 53, clientIfaces: 2 });
    const server = w.servers[0]!;
    const attacker = addAttacker(w);
    const { id, sid } = connectEcho(w);
    // Hold the RSYN-ACK's confirmation: the client's ACK is lost once.
    let held = true;
    w.client.dropIf = (f) => held && f.kind === "ACK";
    w.client.host.migrate(w.net.now, id, w.client.locator(1));
    w.net.runUntil(w.net.now + 300);
    expect(server.host.flowState(sid)?.migration).toBe("RSYN_RECV");
    const s = server.host.flowState(sid)!;
    const before = { seq: s.seq, peer: s.peer, mig: s.migration };
    const c = w.client.host.flowState(id)!;
    const bad = c.nonce.map((b) => b ^ 1);
    for (const flags of [SAL_RST | SAL_ACK, SAL_ACK, SAL_FIN | SAL_ACK]) {
      attacker.outbox.push({ iface: 0, frame: control(id, sid, flags, c.seq.sndNxt, c.seq.rcvNxt, bad), to: server.address() });
    }
    w.net.runUntil(w.net.now + 300);
    expect({ seq: s.seq, peer: s.peer, mig: s.migration }).toEqual(before);
    expect(server.host.drops.get("bad-nonce")).toBe(3);
    expect(attacker.received).toEqual([]);
    held = false;
    w.net.runUntil(w.net.now + 5_000_000);
    expect(server.host.flowState(sid)?.peer).toEqual(w.client.locator(1));
    expect(server.host.flowState(sid)?.migration).toBe("NONE");
    w.client.host.close(w.net.now, id);
    w.net.drive(10_000);
    expectSalIdle(w.net, w.nodes);
  });
});

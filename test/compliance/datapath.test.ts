import { MemoryNetwork } from "@serval/datapath";
import { openUdpDatapath, type UdpBackend, UDP_MAX_PAYLOAD } from "@serval/runtime";
import { datapathCompliance } from "./datapath.ts";

datapathCompliance("memory", async () => {
  const net = new MemoryNetwork();
  const aLocator = { address: new Uint8Array([198, 18, 0, 1]), port: 0 };
  const bLocator = { address: new Uint8Array([198, 18, 0, 2]), port: 0 };
  const a = net.attach({ address: aLocator.address, mtu: 9000 });
  const b = net.attach({ address: bLocator.address, mtu: 9000 });
  return { a, b, aLocator, bLocator, broadcast: true, maxPacket: 9000, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

// Loopback only: broadcast would leave the machine, so the pairs do not claim it.
for (const backend of ["bun", "dgram"] as UdpBackend[]) {
  datapathCompliance(`udp on loopback (${backend})`, async () => {
    const a = await openUdpDatapath({ address: "127.0.0.1", port: 0, backend });
    const b = await openUdpDatapath({ address: "127.0.0.1", port: 0, backend });
    return {
      a,
      b,
      aLocator: { address: new Uint8Array([127, 0, 0, 1]), port: a.port },
      bLocator: { address: new Uint8Array([127, 0, 0, 1]), port: b.port },
      broadcast: false,
      maxPacket: UDP_MAX_PAYLOAD,
      close: async () => void (await Promise.all([a.close(), b.close()])),
    };
  });
}

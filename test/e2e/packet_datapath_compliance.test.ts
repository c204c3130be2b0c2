/**
 * The Datapath compliance suite on a pair of packet datapaths, one in each
 * namespace of a veth pair, with each receive ring kind (TPACKET_V3 and V2) (MTU 1500: SAL packets up to 1480 bytes over
 * IPv4). Root only; skipped with a notice otherwise.
 *
 * @module
 */

import { openPacketDatapath } from "@serval/datapath-ffi";
import type { PacketDatapathOptions } from "@serval/datapath-ffi";
import { parseIpv4 } from "@serval/wire";
import { datapathCompliance } from "../compliance/datapath.ts";
import { pair, skipUnlessRoot } from "./netns.ts";

if (!skipUnlessRoot("packet datapath compliance")) {
  for (const ringVersion of [3, 2] as const) {
    datapathCompliance(`packet (AF_PACKET, TPACKET_V${ringVersion}, two namespaces)`, async () => {
      const t = pair();
      const opts = (ns: string): PacketDatapathOptions => ({ netns: ns, ringVersion });
      try {
        const a = await openPacketDatapath(opts(t.hosts.a.ns.name));
        let b;
        try {
          b = await openPacketDatapath(opts(t.hosts.b.ns.name));
        } catch (e) {
          await a.close();
          throw e;
        }
        return {
          a,
          b,
          aLocator: { address: parseIpv4(t.hosts.a.address), port: 0 },
          bLocator: { address: parseIpv4(t.hosts.b.address), port: 0 },
          broadcast: true,
          maxPacket: 1500 - 20,
          close: async () => {
            await Promise.all([a.close(), b.close()]);
            t.close();
          },
        };
      } catch (e) {
        t.close();
        throw e;
      }
    });
  }
}

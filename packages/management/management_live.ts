/**
 * {@linkcode ManagementLive}: the management socket as a layer on a running
 * node (a `NodeExtraLayer`): listening on `<runDir>/mgmt.sock` once the node
 * has started, closed (and the socket file removed) before it stops. When
 * the config has `management: { listen: "IP:PORT", tokenFile }`, a remote
 * (TCP, token-authenticated) listener too; without it, none.
 *
 * @module
 */

import { Effect, Layer } from "effect";
import { formatIp } from "@serval/wire";
import { DEFAULT_PORT, defaultRunDir, RunningNode, ServalConfig, type ServalDatapath } from "@serval/runtime";
import { ManagementServer, ManagementStartError, type RemoteOptions } from "./management_server.ts";
import { parseLocatorText, socketPath } from "./protocol.ts";
import { readTokenFile } from "./read_token_file.ts";

/**
 * The management server of the running node. Fails with
 * {@linkcode ManagementStartError} when another daemon answers on the socket.
 *
 * @example
 * ```ts
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { Effect, Fiber } from "effect";
 * import { ManagementLive } from "@serval/management";
 * import { parseConfig, runNode } from "@serval/runtime";
 * const runDir = mkdtempSync("/tmp/serval-doc-");
 * const fiber = Effect.runFork(runNode(parseConfig({ role: "router", bind: "127.0.0.1", port: 0, runDir }), [ManagementLive]));
 * await new Promise((r) => setTimeout(r, 100));
 * await Effect.runPromise(Fiber.interrupt(fiber));
 * rmSync(runDir, { recursive: true });
 * ```
 */
export const ManagementLive: Layer.Layer<never, ManagementStartError, RunningNode | ServalConfig | ServalDatapath> = managementLayer();

/**
 * {@linkcode ManagementLive} with a callback once the socket listens.
 *
 * @param opts `onReady(path)`: called with the socket path once it listens.
 * @returns The layer.
 *
 * @example
 * ```ts
 * import { managementLayer } from "@serval/management";
 * const layer = managementLayer({ onReady: (path) => console.log(`management at ${path}`) });
 * ```
 */
export function managementLayer(
  opts: { readonly onReady?: (path: string) => void } = {},
): Layer.Layer<never, ManagementStartError, RunningNode | ServalConfig | ServalDatapath> {
  return Layer.effectDiscard(Effect.gen(function* () {
    const node = yield* RunningNode;
    const config = yield* ServalConfig;
    const path = socketPath(config.runDir ?? defaultRunDir());
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () =>
          ManagementServer.listen(path, {
            node,
            role: config.role,
            startedAt: node.now(),
            // A forward target written without a port: the Serval UDP port on UDP (as for --router), none on raw IP.
            defaultPort: config.datapath === "udp" ? DEFAULT_PORT : 0,
          }, config.management === undefined ? undefined : await remoteOptions(config.management)),
        catch: (e) => (e instanceof ManagementStartError ? e : new ManagementStartError(e instanceof Error ? e.message : String(e))),
      }),
      (server) => Effect.promise(() => server.close()),
    );
    opts.onReady?.(path);
  }));
}

/** The remote listener a config asks for; the token file must be the daemon's (or root's), readable by its owner only. */
async function remoteOptions(m: { readonly listen: string; readonly tokenFile: string }): Promise<RemoteOptions> {
  const l = parseLocatorText(m.listen)!;
  return { host: formatIp(l.address), port: l.port!, token: await readTokenFile(m.tokenFile) };
}

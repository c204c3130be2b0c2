/**
 * @serval/management: the management API of a running node. A unix socket
 * `<runDir>/mgmt.sock` (mode 0600) speaking newline-delimited JSON
 * ({@linkcode decodeRequest}), served by {@linkcode ManagementServer} (as a
 * layer: {@linkcode ManagementLive}) and used by {@linkcode ManagementClient}
 * (the `serval service|flow|stats|migrate|router|lease` commands).
 *
 * @example Ask a running node who it is
 * ```ts
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { ManagementClient, ManagementServer } from "@serval/management";
 * import { openUdpDatapath, ServalNode } from "@serval/runtime";
 * const dir = mkdtempSync("/tmp/serval-doc-");
 * const node = await ServalNode.start({ role: "router", datapath: await openUdpDatapath({ address: "127.0.0.1", port: 0 }) });
 * const server = await ManagementServer.listen(`${dir}/mgmt.sock`, { node, role: "router", startedAt: node.now(), defaultPort: 54325 });
 * const client = await ManagementClient.connect(`${dir}/mgmt.sock`);
 * const hello = await client.request("hello", {});
 * console.assert(hello.role === "router");
 * client.close();
 * await server.close();
 * await node.close();
 * rmSync(dir, { recursive: true });
 * ```
 *
 * @module
 */

export {
  checkParams,
  decodeRequest,
  decodeResult,
  ERROR_CODES,
  FlowRow,
  LeaseRow,
  locatorText,
  MAX_REQUEST_BYTES,
  OPS,
  parseLocatorText,
  PROTOCOL_VERSION,
  Reply,
  RequestParams,
  Results,
  RouterRow,
  ServiceRow,
  SOCKET_NAME,
  socketPath,
  TargetSpec,
} from "./protocol.ts";
export type { ErrorCode, Op, ParamsOf, Request, RequestFault, ResultOf } from "./protocol.ts";
export { handleRequest, ManagementFault } from "./handle_request.ts";
export type { ManagementContext, ManagementCounters } from "./handle_request.ts";
export { AUTH_TIMEOUT_MS, MAX_CONNECTIONS, MAX_REMOTE_CONNECTIONS, ManagementServer, ManagementStartError, socketAnswers } from "./management_server.ts";
export type { ManagementTarget, RemoteOptions } from "./management_server.ts";
export { ManagementClient, ManagementError } from "./management_client.ts";
export type { ClientErrorCode } from "./management_client.ts";
export { ManagementLive, managementLayer } from "./management_live.ts";
export { readTokenFile } from "./read_token_file.ts";

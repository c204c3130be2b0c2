/**
 * The client library alone (`@serval/client/client`): what an application
 * needs to use the host daemon — {@linkcode connectDaemon} and the shapes it
 * returns — without the daemon's side of the socket, so it loads only
 * `@serval/wire` and `node:net` (plus `@serval/runtime` when no run
 * directory is given, for the default one).
 *
 * @example
 * ```ts
 * import { connectDaemon, ServalClientError } from "@serval/client/client";
 * await connectDaemon({ runDir: "/nonexistent" }).catch((e) => console.assert(e instanceof ServalClientError));
 * ```
 *
 * @module
 */

export { APP_PROTOCOL_VERSION, MAX_NAME } from "./app_protocol.ts";
export type { AppErrorCode } from "./app_protocol.ts";
export { ClientConnection } from "./client_connection.ts";
export type { ClientCloseReason } from "./client_connection.ts";
export { appSocketPath, ClientDatagramSocket, ClientListener, connectDaemon, ServalClient } from "./serval_client.ts";
export type { ClientDatagram, ConnectDaemonOptions } from "./serval_client.ts";
export { ServalClientError } from "./serval_client_error.ts";
export type { ServalClientErrorCode } from "./serval_client_error.ts";

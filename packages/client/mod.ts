/**
 * The libserval of this stack: applications in other processes listen,
 * connect and send datagrams by service through the host daemon's
 * application socket (`<runDir>/app.sock`), with the calls and shapes of the
 * in-process `ServalApi`. Also the daemon's side of that socket
 * ({@linkcode AppSocketServer}, and {@linkcode AppSocketLive} as a layer
 * on a running node) and the protocol both speak (`app_protocol.ts`).
 *
 * @example Connect to a service through the local daemon
 * ```ts
 * import { connectDaemon } from "@serval/client";
 * async function hello(runDir: string): Promise<void> {
 *   const client = await connectDaemon({ runDir });
 *   const c = await client.connect("echo.example");
 *   const w = c.writable.getWriter();
 *   await w.write(new TextEncoder().encode("hi"));
 *   await w.close();
 *   for await (const chunk of c.readable) console.log(new TextDecoder().decode(chunk));
 *   await client.close();
 * }
 * ```
 *
 * @module
 */

export {
  APP_PROTOCOL_VERSION,
  DEFAULT_WINDOW,
  encodeMessage,
  FrameDecoder,
  FrameType,
  HEADER_LEN,
  MAX_DATA,
  MAX_MESSAGE,
  MAX_NAME,
  MAX_PAYLOAD,
} from "./app_protocol.ts";
export type { AppErrorCode, AppMessage, FrameError } from "./app_protocol.ts";
export { AppSocketServer } from "./app_socket_server.ts";
export type { AppSocketOptions, AppSocketStats } from "./app_socket_server.ts";
export { AppSocketError, AppSocketLive, appSocketLayer } from "./app_socket_live.ts";
export type { AppSocketLayerOptions } from "./app_socket_live.ts";
export { ClientConnection } from "./client_connection.ts";
export type { ClientCloseReason } from "./client_connection.ts";
export { appSocketPath, ClientDatagramSocket, ClientListener, connectDaemon, ServalClient } from "./serval_client.ts";
export type { ClientDatagram, ConnectDaemonOptions } from "./serval_client.ts";
export { ServalClientError } from "./serval_client_error.ts";
export type { ServalClientErrorCode } from "./serval_client_error.ts";

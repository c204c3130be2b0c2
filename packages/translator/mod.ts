/**
 * @serval/translator: unmodified TCP programs use Serval services, and
 * legacy TCP servers serve them.
 *
 * - a **mapped port**: a local TCP port stands for one service
 *   (`serval translate --map 8080=web.example`, then `curl http://127.0.0.1:8080/`);
 * - a **SOCKS5** front end (RFC 1928, CONNECT, no authentication, loopback
 *   by default): the host name is the service name
 *   (`curl --socks5-hostname 127.0.0.1:1080 http://web.example/`); a
 *   trailing `.serval` label is optional (`web.example.serval`), serviceID
 *   text forms work too, an IPv4 address `a.b.c.d` names the serviceID whose
 *   first four bytes are `a b c d`, and the port is ignored
 *   (`service_for_host.ts` has the table);
 * - an **export**: a legacy server at host:port registered as an instance
 *   of a service (`serval translate --export web.example=127.0.0.1:8000`).
 *
 * Each connection is a {@linkcode splice} of a kernel TCP socket and a
 * Serval stream: backpressure both ways, half-close both ways, resets both
 * ways (a Serval reset becomes a TCP RST), bounded memory, and one cap on
 * connections open at once. A peer that dies silently is found by keepalive
 * (`keepaliveMs`, default 10 s), and its programs' connections are reset.
 *
 * @example A mapped port in front of a Serval echo service
 * ```ts
 * import net from "node:net";
 * import { openUdpDatapath, ServalApi, ServalNode } from "@serval/runtime";
 * import { ServicePrefix } from "@serval/wire";
 * import { Translator } from "@serval/translator";
 * const open = () => openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false });
 * const a = await ServalNode.start({ role: "adhoc", datapath: await open() });
 * const b = await ServalNode.start({ role: "adhoc", datapath: await open() });
 * a.host.serviceTable.addTarget(ServicePrefix.parse("echo.example"), { type: "forward", locator: b.locals[0]! }); // no broadcast on loopback
 * const echo = new ServalApi(b).listen("echo.example");
 * (async () => { for await (const c of echo) c.readable.pipeTo(c.writable).catch(() => {}); })();
 * const t = new Translator(a);
 * const front = await t.mapPort({ port: 0, service: "echo.example" });
 * const c = net.connect(front.port, "127.0.0.1");
 * c.end("hello");
 * let got = "";
 * for await (const b of c) got += b;
 * console.assert(got === "hello");
 * await t.close();
 * echo.close();
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */

export { SERVAL_SUFFIX, serviceForHost } from "./service_for_host.ts";
export {
  greetingReply,
  MAX_GREETING_LEN,
  MAX_REQUEST_LEN,
  METHOD_NO_AUTH,
  METHOD_NONE,
  parseGreeting,
  parseRequest,
  requestReply,
  SOCKS_VERSION,
  socksConnectRequest,
  SocksReply,
} from "./socks5.ts";
export type { GreetingParse, RequestParse, SocksReplyCode } from "./socks5.ts";
export { resetSocket, splice, SPLICE_HIGH_WATER } from "./splice.ts";
export type { SpliceEnd, SpliceOptions, SpliceResult } from "./splice.ts";
export { Translator } from "./translator.ts";
export type { ExportHandle, ExportOptions, MapOptions, SocksOptions, TcpFront, TranslatorOptions, TranslatorStats } from "./translator.ts";
export { exportLayer, mapPortLayer, RunningTranslator, socksLayer, TranslatorError, translatorLayer, TranslatorLive } from "./translator_layer.ts";
export { parseExportSpec, parseMapSpec, parseSocksSpec } from "./translator_spec.ts";
export type { TranslatorSpec } from "./translator_spec.ts";

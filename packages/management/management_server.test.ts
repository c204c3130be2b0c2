import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import fc from "fast-check";
import { openUdpDatapath, parseConfig, ServalApi, ServalNode, serveEcho, type StreamConnection, toNodeOptions } from "@serval/runtime";
import { ManagementClient, ManagementError } from "./management_client.ts";
import { MAX_CONNECTIONS, MAX_REMOTE_CONNECTIONS, ManagementServer, ManagementStartError } from "./management_server.ts";
import { ServiceId, ServicePrefix } from "@serval/wire";
import { MAX_REQUEST_BYTES } from "./protocol.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}

function tmpDir(): string {
  const d = mkdtempSync("/tmp/serval-mgmt-test-");
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function node(role: "host" | "router", routerPort?: number): Promise<ServalNode> {
  const config = parseConfig({ role, bind: "127.0.0.1", port: 0, ...(routerPort !== undefined ? { routers: [`127.0.0.1:${routerPort}`] } : {}) });
  const n = await ServalNode.start(toNodeOptions(config, await openUdpDatapath({ address: "127.0.0.1", port: 0, broadcast: false })));
  cleanups.push(() => n.close());
  return n;
}

async function serve(n: ServalNode, role: "host" | "router", dir = tmpDir()): Promise<{ server: ManagementServer; client: ManagementClient; dir: string }> {
  const server = await ManagementServer.listen(`${dir}/run/mgmt.sock`, { node: n, role, startedAt: n.now(), defaultPort: 54325 });
  cleanups.push(() => server.close());
  const client = await ManagementClient.connect(server.path);
  cleanups.push(() => client.close());
  return { server, client, dir };
}

/** A router, an echo host registered with it, and a client connected to the echo service through it. */
async function topology() {
  const router = await node("router");
  const rport = router.locals[0]!.port;
  const host = await node("host", rport);
  const stopEcho = serveEcho(host, ["echo.example"]);
  cleanups.push(stopEcho);
  await until(() => (router.agent.leases?.size ?? 0) > 0);
  const clientNode = await node("host", rport);
  const conn: StreamConnection = await new ServalApi(clientNode).connect("echo.example");
  cleanups.push(() => conn.abort());
  const w = conn.writable.getWriter();
  await w.write(new TextEncoder().encode("hello, management"));
  w.releaseLock();
  const r = conn.readable.getReader();
  let got = 0;
  while (got < 17) got += (await r.read()).value?.length ?? 0;
  r.releaseLock();
  return { router, host, clientNode, conn };
}

async function expectFault(p: Promise<unknown>, code: string, message: string | RegExp): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ManagementError);
  expect((e as ManagementError).code).toBe(code as ManagementError["code"]);
  if (typeof message === "string") expect((e as ManagementError).message).toBe(message);
  else expect((e as ManagementError).message).toMatch(message);
}

describe("ManagementServer", () => {
  test("socket 0600 in a 0755 directory it creates; a second server fails; stale sockets are replaced; the file goes on close", async () => {
    const n = await node("router");
    const { server, dir } = await serve(n, "router");
    expect(statSync(`${dir}/run`).mode & 0o777).toBe(0o755);
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    const second = await ManagementServer.listen(server.path, { node: n, role: "router", startedAt: 0, defaultPort: 1 }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(ManagementStartError);
    expect((second as Error).message).toBe(`another serval daemon answers on ${server.path}; stop it or give this one another --run-dir`);
    // The first still serves.
    const c = await ManagementClient.connect(server.path);
    expect((await c.request("hello", {})).role).toBe("router");
    c.close();
    await server.close();
    expect(() => statSync(server.path)).toThrow();

    // A stale socket file: its owner was killed and could not remove it.
    const child = Bun.spawn([process.execPath, "-e", `require("node:net").createServer().listen(${JSON.stringify(server.path)}, () => console.log("up"))`], { stdout: "pipe" });
    const first = await child.stdout.getReader().read();
    expect(new TextDecoder().decode(first.value)).toBe("up\n");
    child.kill("SIGKILL");
    await child.exited;
    expect(statSync(server.path).isSocket()).toBe(true);
    writeFileSync(`${dir}/run/placeholder`, "");
    const again = await ManagementServer.listen(server.path, { node: n, role: "router", startedAt: 0, defaultPort: 1 });
    cleanups.push(() => again.close());
    const c2 = await ManagementClient.connect(again.path);
    expect((await c2.request("hello", {})).pid).toBe(process.pid);
    c2.close();

    // A path that is not a socket is left alone.
    const notSocket = `${dir}/run/placeholder`;
    const e = await ManagementServer.listen(notSocket, { node: n, role: "router", startedAt: 0, defaultPort: 1 }).catch((x: unknown) => x);
    expect((e as Error).message).toBe(`${notSocket} exists and is not a socket; remove it or use another --run-dir`);
  });

  test("client: no daemon is a clear no-daemon error", async () => {
    const dir = tmpDir();
    await expectFault(ManagementClient.connect(`${dir}/mgmt.sock`), "no-daemon", /^no serval daemon answers on .*mgmt\.sock \(no socket\)/);
  });

  test("rules: add, list with counters, modify (weight, priority, plugin), delete; every bad request changes nothing", async () => {
    const n = await node("router");
    const { client } = await serve(n, "router");
    const ls = async () => JSON.stringify(await client.request("service.ls", {}));
    const add = await client.request("service.add", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.2" }, weight: 10 });
    expect(add.service?.sets).toEqual([
      {
        priority: 0,
        plugin: "@serval/plugin-forward",
        targets: [{ type: "forward", to: "198.18.1.2:54325", weight: 10, counters: { packetsResolved: 0, bytesResolved: 0, packetsDropped: 0, bytesDropped: 0 } }],
      },
    ]);
    await client.request("service.add", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.3:4000" }, priority: 5 });
    await client.request("service.add", { prefix: "old.example", target: { type: "drop" } });
    const before = await ls();

    await expectFault(client.request("service.add", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.2" } }), "conflict", "forward 198.18.1.2:54325 already exists at priority 0");
    await expectFault(client.request("service.add", { prefix: "old.example", target: { type: "delay" } }), "conflict", /^priority 0 holds a drop target/);
    await expectFault(client.request("service.add", { prefix: "a/8", target: { type: "drop" }, plugin: "nope" }), "not-found", 'plugin: no plugin "nope" is registered on this node');
    await expectFault(client.request("service.add", { prefix: "a/8", target: { type: "demux", listener: 1 } }), "unsupported", /^demux rules belong to listening applications/);
    await expectFault(client.request("service.del", { prefix: "none.test/16", target: { type: "drop" } }), "not-found", "no rule for none.test/16");
    await expectFault(client.request("service.del", { prefix: "web.example/16", target: { type: "forward", to: "198.18.9.9" } }), "not-found", "the rule for web.example/16 has no target forward 198.18.9.9");
    await expectFault(client.request("service.mod", { prefix: "web.example/16", target: { type: "forward", to: "198.18.9.9" }, weight: 2 }), "not-found", /has no target/);
    await expectFault(client.request("service.mod", { prefix: "old.example", target: { type: "drop" }, plugin: "@serval/plugin-forward" }), "bad-request", /^plugin: a drop rule has no plugin/);
    await expectFault(client.request("service.add", { prefix: "web.example/300", target: { type: "drop" } } as never), "bad-request", /^prefix: prefix length is 300, must be 0\.\.256/);
    await expectFault(client.request("service.add", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.9" }, weight: 0 }), "bad-request", "weight: expected an integer 1..65535, got 0");
    await expectFault(client.request("service.add", { prefix: "web.example/16" } as never), "bad-request", "target: missing");
    expect(await ls()).toBe(before);

    const mod = await client.request("service.mod", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.2" }, weight: 3, priority: 5, plugin: "round-robin" });
    expect(mod.service?.sets.map((s) => [s.priority, s.plugin, s.targets.map((t) => `${t.to}*${t.weight}`)])).toEqual([
      [5, "@serval/plugin-round-robin", ["198.18.1.3:4000*1", "198.18.1.2:54325*3"]],
    ]);
    await client.request("service.del", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.3:4000" } });
    const del = await client.request("service.del", { prefix: "web.example/16", target: { type: "forward", to: "198.18.1.2" } });
    expect(del.service).toBeNull();
    const all = await client.request("service.ls", {});
    expect(all.services.map((s) => s.prefix)).toContain(ServicePrefix.parse("old.example").toString());
    expect(all.services.map((s) => s.prefix)).not.toContain(ServicePrefix.parse("web.example/16").toString());
    expect(all.table.noMatch).toBeGreaterThanOrEqual(0);
  });

  test("flows, stats, routers, leases and migration on a live topology", async () => {
    const { router, host, clientNode, conn } = await topology();
    const h = await serve(host, "host");
    const r = await serve(router, "router");
    const c = await serve(clientNode, "host");

    const flows = (await h.client.request("flow.ls", {})).flows;
    expect(flows.length).toBe(1);
    const f = flows[0]!;
    expect(f.state).toBe("CONNECTED");
    expect(f.side).toBe("server");
    expect(f.protocol).toBe("stream");
    expect(f.peerId).toBe(conn.flow);
    expect(f.local).toBe(`127.0.0.1:${host.locals[0]!.port}`);
    expect(f.peer).toBe(`127.0.0.1:${clientNode.locals[0]!.port}`);
    expect(f.transport!.bytesReceived).toBe(17);
    expect(f.transport!.cwnd).toBeGreaterThan(0);
    const cf = (await c.client.request("flow.ls", {})).flows[0]!;
    expect([cf.id, cf.side, cf.service]).toEqual([conn.flow, "client", ServiceId.parse("echo.example").toShortString()]);
    expect(cf.transport!.srttUs).toBeGreaterThanOrEqual(0);

    const stats = await h.client.request("stats", {});
    expect(stats.role).toBe("host");
    expect(stats.host.flows).toBe(1);
    expect(stats.datapath.rxPackets).toBeGreaterThan(0);
    expect(stats.node.packetsIn).toBeGreaterThan(0);
    expect(stats.management.connections).toBe(1);
    expect(stats.control.leases).toBeNull();

    const routers = (await h.client.request("router.ls", {})).routers;
    expect(routers.map((x) => [x.locator, x.inUse])).toEqual([[`127.0.0.1:${router.locals[0]!.port}`, true]]);
    const leases = (await r.client.request("lease.ls", {})).leases;
    expect(leases.map((l) => [l.prefix, l.locator])).toEqual([[ServicePrefix.parse("echo.example").toString(), `127.0.0.1:${host.locals[0]!.port}`]]);
    expect(leases[0]!.expiresInMs).toBeGreaterThan(0);
    await expectFault(h.client.request("lease.ls", {}), "unsupported", "this node is a host: only routers hold leases");
    // The router resolved the SYN: its rule for the lease counted it.
    const rules = (await r.client.request("service.ls", {})).services;
    expect(rules.some((s) => s.counters.packetsResolved >= 1)).toBe(true);

    await expectFault(h.client.request("migrate.flow", { flow: 12345, to: "127.0.0.1" }), "not-found", "no flow 12345");
    await expectFault(h.client.request("migrate.flow", { flow: f.id, to: "198.18.9.9" }), "not-found", /^198\.18\.9\.9 is not one of this node's locators \(127\.0\.0\.1:\d+\)$/);
    await expectFault(h.client.request("migrate.iface", { from: "nope0" }), "not-found", /^no interface or address "nope0"/);
    // Addresses that are not ours: refused (not "moved 0"), and nothing moves.
    await expectFault(h.client.request("migrate.iface", { from: "198.18.9.9" }), "not-found", /^no interface or address "198\.18\.9\.9" on this node \(have .*127\.0\.0\.1:\d+\)$/);
    await expectFault(h.client.request("migrate.iface", { from: "127.0.0.1", to: "198.18.9.9" }), "not-found", /^198\.18\.9\.9 is not one of this node's locators \(127\.0\.0\.1:\d+\)$/);
    await expectFault(h.client.request("migrate.iface", { from: `127.0.0.1:${host.locals[0]!.port + 1}` }), "not-found", /^no interface or address "127\.0\.0\.1:\d+" on this node/);
    expect(host.host.flowState(f.id)?.migration).toBe("NONE");
    const moved = await h.client.request("migrate.flow", { flow: f.id, to: "127.0.0.1" });
    expect(moved).toEqual({ moved: 1, to: `127.0.0.1:${host.locals[0]!.port}` });
    // The move completes (RSYN, RSYN-ACK) and the flow still carries data.
    await until(() => host.host.flowState(f.id)?.migration === "NONE");
    const w = conn.writable.getWriter();
    await w.write(new TextEncoder().encode("after"));
    w.releaseLock();
    const rd = conn.readable.getReader();
    expect(new TextDecoder().decode((await rd.read()).value)).toBe("after");
    rd.releaseLock();
  });

  test("bad bytes never crash the server: every line is answered, oversized lines close the connection, then it serves on", async () => {
    const n = await node("router");
    const { server, client } = await serve(n, "router");
    const initial = await client.request("service.ls", {});
    const raw = await ManagementClient.connect(server.path);
    cleanups.push(() => raw.close());
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const line = Buffer.from(bytes.map((b) => (b === 10 ? 32 : b)));
        // Blank lines are skipped without a reply.
        if (line.toString("utf8").trim() === "") return;
        const before = server.counters.errors;
        const reply = await raw.raw(Buffer.concat([line, Buffer.from("\n")]));
        expect(reply.ok).toBe(false);
        expect(server.counters.errors).toBe(before + 1);
      }),
      { numRuns: 300 },
    );
    const big = await ManagementClient.connect(server.path);
    const reply = await big.raw(`{"v":1,"id":1,"op":"hello","pad":"${"x".repeat(MAX_REQUEST_BYTES)}"}\n`);
    expect(reply.ok === false && reply.error.code).toBe("too-large");
    await until(() => server.counters.connections === 2);
    big.close();
    expect((await client.request("hello", {})).role).toBe("router");
    expect(await client.request("service.ls", {})).toEqual(initial);
  });

  test("remote access: off by default; when on, only a connection that authenticates first with the token is served", async () => {
    const n = await node("router");
    const plain = await serve(n, "router");
    expect(plain.server.remotePort).toBeUndefined();
    const dir = tmpDir();
    const token = "s3cret-token-0123456789";
    const short = await ManagementServer.listen(`${dir}/a/mgmt.sock`, { node: n, role: "router", startedAt: 0, defaultPort: 1 }, { host: "127.0.0.1", port: 0, token: "short" }).catch((e: unknown) => e);
    expect((short as Error).message).toBe("the remote management token is too short (at least 16 characters)");
    const server = await ManagementServer.listen(`${dir}/b/mgmt.sock`, { node: n, role: "router", startedAt: 0, defaultPort: 1 }, { host: "127.0.0.1", port: 0, token });
    cleanups.push(() => server.close());
    const port = server.remotePort!;
    expect(port).toBeGreaterThan(0);

    const ok = await ManagementClient.connectTcp("127.0.0.1", port, token);
    expect((await ok.request("hello", {})).role).toBe("router");
    ok.close();
    await expectFault(ManagementClient.connectTcp("127.0.0.1", port, "wrong-token-0123456789"), "unauthorized", "wrong token");
    // Without auth first: refused and closed, even for a valid request.
    const raw = await new Promise<net.Socket>((r) => {
      const s = net.connect(port, "127.0.0.1", () => r(s));
    });
    cleanups.push(() => raw.destroy());
    let got = "";
    raw.setEncoding("utf8").on("data", (d: string) => (got += d));
    const closed = new Promise((r) => raw.on("close", r));
    raw.write('{"v":1,"id":1,"op":"service.add","prefix":"x/8","target":{"type":"drop"}}\n');
    await closed;
    expect(JSON.parse(got)).toEqual({ v: 1, id: 1, ok: false, error: { code: "unauthorized", message: "authenticate first: send auth with the token" } });
    expect(n.host.serviceTable.get(ServicePrefix.parse("x/8"))).toBeUndefined();
    // The local socket needs no token.
    const local = await ManagementClient.connect(server.path);
    expect((await local.request("stats", {})).role).toBe("router");
    local.close();
    await server.close();
    await expectFault(ManagementClient.connectTcp("127.0.0.1", port, token), "no-daemon", /^no serval daemon answers on 127\.0\.0\.1:\d+/);
  });

  test(`more than ${MAX_CONNECTIONS} connections: the extra one is told busy`, async () => {
    const n = await node("router");
    const { server } = await serve(n, "router");
    const clients: ManagementClient[] = [];
    for (let i = 1; i < MAX_CONNECTIONS; i++) clients.push(await ManagementClient.connect(server.path));
    cleanups.push(() => clients.forEach((c) => c.close()));
    await until(() => server.counters.connections === MAX_CONNECTIONS);
    const extra = await ManagementClient.connect(server.path);
    await expectFault(extra.request("hello", {}), "busy", `too many management connections (at most ${MAX_CONNECTIONS})`);
    extra.close();
  });

  test("remote clients cannot lock out local management nor hold fds: own limit, auth timeout, turned-away sockets destroyed", async () => {
    const n = await node("router");
    const dir = tmpDir();
    const token = "s3cret-token-0123456789";
    const server = await ManagementServer.listen(`${dir}/mgmt.sock`, { node: n, role: "router", startedAt: 0, defaultPort: 1 }, { host: "127.0.0.1", port: 0, token, authTimeoutMs: 300 });
    cleanups.push(() => server.close());
    const fds = () => readdirSync("/proc/self/fd").length;
    const base = fds();
    // Idle remote connections that never authenticate (and never close: half-open allowed on our side).
    const total = MAX_CONNECTIONS + 8;
    const raws = await Promise.all(Array.from({ length: total }, () =>
      new Promise<{ s: net.Socket; got: () => string; ended: Promise<void> }>((resolve) => {
        const s = net.connect({ port: server.remotePort!, host: "127.0.0.1", allowHalfOpen: true });
        let got = "";
        s.setEncoding("utf8").on("data", (d: string) => (got += d));
        s.on("error", () => {});
        const ended = new Promise<void>((r) => s.once("end", () => r()));
        s.once("connect", () => resolve({ s, got: () => got, ended }));
      })));
    cleanups.push(() => raws.forEach((r) => r.s.destroy()));
    // The local socket still serves.
    const local = await ManagementClient.connect(server.path);
    cleanups.push(() => local.close());
    expect((await local.request("hello", {})).role).toBe("router");
    // Every remote connection is told why and closed by the server: busy at once, unauthorized when its time is up.
    await Promise.all(raws.map((r) => r.ended));
    const codes = raws.map((r) => (JSON.parse(r.got()) as { error: { code: string; message: string } }).error);
    expect(codes.filter((e) => e.code === "busy").length).toBe(total - MAX_REMOTE_CONNECTIONS);
    expect(codes.filter((e) => e.code === "unauthorized").map((e) => e.message)).toEqual(Array(MAX_REMOTE_CONNECTIONS).fill("did not authenticate within 300 ms"));
    // Only our client ends stay open (the server destroyed its side even though we never closed ours): no fd leak.
    // (+2: the local client and its server side.)
    await until(() => fds() <= base + total + 2).catch(() => { throw new Error(`fds: ${fds() - base - total} more than expected`); });
    // The server counts a connection gone when its close event runs, which may come after the fd is freed.
    await until(() => server.counters.connections === 1);
    // Once they are gone, a remote client authenticates and is served.
    const ok = await ManagementClient.connectTcp("127.0.0.1", server.remotePort!, token);
    expect((await ok.request("hello", {})).role).toBe("router");
    ok.close();
  });

  test("a run directory someone else made or can write is refused by the server; a client will not use a socket in such a /tmp directory", async () => {
    const n = await node("router");
    const dir = tmpDir();
    const target = { node: n, role: "router" as const, startedAt: 0, defaultPort: 1 };
    mkdirSync(`${dir}/theirs`);
    if (process.getuid!() === 0) {
      chownSync(`${dir}/theirs`, 4242, 4242);
      const e = await ManagementServer.listen(`${dir}/theirs/mgmt.sock`, target).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ManagementStartError);
      expect((e as Error).message).toBe(`the run directory ${dir}/theirs belongs to uid 4242, not to us (uid 0); remove it or use another --run-dir`);
    }
    mkdirSync(`${dir}/open`);
    chmodSync(`${dir}/open`, 0o777);
    const e2 = await ManagementServer.listen(`${dir}/open/mgmt.sock`, target).catch((x: unknown) => x);
    expect((e2 as Error).message).toBe(`the run directory ${dir}/open is writable by others (mode 777); chmod go-w it or use another --run-dir`);
    symlinkSync(`${dir}/open`, `${dir}/link`);
    const e3 = await ManagementServer.listen(`${dir}/link/mgmt.sock`, target).catch((x: unknown) => x);
    expect((e3 as Error).message).toBe(`the run directory ${dir}/link is a symlink; remove it or use another --run-dir`);

    // A daemon answers in our directory; then the directory is opened to everyone (or reached through a symlink).
    const server = await ManagementServer.listen(`${dir}/ours/mgmt.sock`, target);
    cleanups.push(() => server.close());
    const c = await ManagementClient.connect(server.path);
    c.close();
    chmodSync(`${dir}/ours`, 0o777);
    await expectFault(ManagementClient.connect(server.path), "untrusted", `not connecting to ${server.path}: the run directory ${dir}/ours is writable by others (mode 777); chmod go-w it or use another --run-dir`);
    chmodSync(`${dir}/ours`, 0o755);
    symlinkSync(`${dir}/ours`, `${dir}/ours-link`);
    await expectFault(ManagementClient.connect(`${dir}/ours-link/mgmt.sock`), "untrusted", /is a symlink/);
    // A missing directory is the usual no-daemon answer.
    await expectFault(ManagementClient.connect(`${dir}/none/mgmt.sock`), "no-daemon", /\(no socket\)/);
  });
});

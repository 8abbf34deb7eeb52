/**
 * The router's data path for a public sandbox, in front of a stand-in for a
 * node agent's ingress port (a local server on 127.0.0.1): the headers the
 * agent gets, guest cookies made host-only on HTTP and on a 101, and the
 * router's own pages when the agent cannot be reached. Access control and
 * the path to a real VM are in router.test.ts.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  INGRESS_TICKET_HEADER,
  MISDIRECTED_HEADER,
  SANDBOX_HEADER,
  verifyIngressTicket,
} from "@turgon/api/agent";
import type { AgentCredentials } from "@turgon/api/agent/credentials";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { ensureAgentPki, eventually } from "@turgon/dev/testing";
import WebSocket, { WebSocketServer } from "ws";
import type { SingleUseGuard } from "../access/replay.ts";
import type { TokenKeys } from "../access/tokens.ts";
import { type Route, SandboxDirectory } from "../directory/directory.ts";
import { type Logger, logger } from "../logger.ts";
import { RouterMetrics } from "../metrics.ts";
import { SandboxWaker } from "../wake/waker.ts";
import { TrustedProxies } from "./forwarded.ts";
import { FrontHealth } from "./fronts.ts";
import { createRouterServer } from "./proxy.ts";

const DOMAIN = "sandboxes.test";
const HOST = `app--team.${DOMAIN}`;
const token = randomUUID();
const closers: (() => void)[] = [];
after(() => {
  for (const close of closers.reverse()) close();
});

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

interface RouterSetup {
  /** The sandbox's front, beside its agent. */
  frontPort?: number;
  fronts?: FrontHealth;
  /** Routes from this directory instead of a fixed route. */
  directory?: SandboxDirectory;
  log?: Logger;
  connectTimeoutMs?: number;
  queueTimeoutMs?: number;
  pool?: { maxTotalSockets?: number };
  /** Reach the front and the agent over https with these credentials (token mode over http unless set). */
  credentials?: AgentCredentials;
}

/** A router whose one public sandbox is served by the agent at `agentPort` (and its front at `frontPort`). */
async function router(agentPort: number, uid: string, setup: RouterSetup = {}) {
  const scheme = setup.credentials ? "https" : "http";
  const route: Route = {
    kind: "serve",
    sandbox: {} as never,
    uid,
    access: "public",
    team: "team",
    ...(setup.frontPort ? { front: `${scheme}://127.0.0.1:${setup.frontPort}` } : {}),
    agent: `${scheme}://127.0.0.1:${agentPort}`,
  };
  const metrics = new RouterMetrics();
  const server = createRouterServer({
    directory: setup.directory ?? ({ route: () => route } as unknown as SandboxDirectory),
    ...(setup.fronts ? { fronts: setup.fronts } : {}),
    // A public sandbox needs neither tokens nor hand-offs.
    keys: {} as TokenKeys,
    handoffs: {} as SingleUseGuard,
    metrics,
    log: setup.log ?? logger.child({ test: "proxy" }, { level: "silent" }),
    domain: DOMAIN,
    signInUrl: "http://dashboard.test/sign-in",
    connectTimeoutMs: setup.connectTimeoutMs ?? 2_000,
    ...(setup.queueTimeoutMs ? { queueTimeoutMs: setup.queueTimeoutMs } : {}),
    ...(setup.pool ? { pool: setup.pool } : {}),
    https: false,
    trustedProxies: new TrustedProxies([]),
    agentCredentials: setup.credentials ?? { mode: "token", token },
    sessionTtlSeconds: 3600,
  });
  return { port: await listen(server), metrics };
}

function get(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on("error", reject)
      .end();
  });
}

describe("the router's proxy to an agent's ingress port", () => {
  it("names the sandbox, proves itself, says what it saw of the client and keeps its own cookies back", async () => {
    let seen: IncomingHttpHeaders = {};
    const agent = createServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, {
        "set-cookie": ["guest=1; Domain=sandboxes.test; Path=/", "turgon_ingress=forged"],
        connection: "x-guest-hop",
        "x-guest-hop": "1",
      });
      res.end("from the guest");
    });
    const uid = randomUUID();
    const { port } = await router(await listen(agent), uid);
    const answer = await get(port, "/page", {
      host: HOST,
      cookie: "turgon_ingress=secret; app=1",
      "x-forwarded-for": "198.51.100.1",
      [SANDBOX_HEADER]: "someone-else",
      connection: "keep-alive, x-client-hop",
      "x-client-hop": "1",
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "from the guest");
    assert.deepEqual(answer.headers["set-cookie"], ["guest=1; Path=/"]);
    assert.equal(answer.headers["x-guest-hop"], undefined);
    assert.equal(seen[SANDBOX_HEADER], uid);
    assert.ok(verifyIngressTicket(token, uid, String(seen[INGRESS_TICKET_HEADER])));
    assert.equal(seen["x-forwarded-for"], "127.0.0.1", "a forged X-Forwarded-For is replaced");
    assert.equal(seen["x-forwarded-host"], HOST);
    assert.equal(seen.cookie, "app=1");
    assert.equal(seen["x-client-hop"], undefined);
    assert.equal(seen.host, HOST);
  });

  it("makes guest cookies host-only on a WebSocket's 101", async () => {
    const agent = createServer();
    agent.on("upgrade", (_req: IncomingMessage, socket: Socket) => {
      // An upgraded socket is no longer the server's to close.
      closers.push(() => socket.destroy());
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: unchecked\r\nSet-Cookie: ws=1; Domain=sandboxes.test\r\n\r\n",
      );
    });
    const { port } = await router(await listen(agent), randomUUID());
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: HOST } });
    client.on("error", () => {});
    closers.push(() => client.terminate());
    // ws refuses the made-up Sec-WebSocket-Accept, after it has read the head.
    const [response] = (await once(client, "upgrade").catch(() => [undefined])) as [
      IncomingMessage | undefined,
    ];
    assert.ok(response, "the 101 reached the client");
    assert.deepEqual(response.headers["set-cookie"], ["ws=1"]);
  });

  it("answers 502 AgentUnreachable when the agent refuses the connection, on HTTP and on an upgrade", async () => {
    const closed = createServer();
    const deadPort = await listen(closed);
    closed.close();
    const { port, metrics } = await router(deadPort, randomUUID());
    const answer = await get(port, "/", { host: HOST });
    assert.equal(answer.status, 502);
    assert.equal((JSON.parse(answer.body) as { error: string }).error, "AgentUnreachable");
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: HOST } });
    client.on("error", () => {});
    const [, response] = (await once(client, "unexpected-response")) as [unknown, IncomingMessage];
    assert.equal(response.statusCode, 502);
    client.terminate();
    const errors = await metrics.errors.get();
    assert.equal(errors.values.find((v) => v.labels.reason === "AgentUnreachable")?.value, 2);
  });
});

/** What a stand-in server saw: connections, and each request with its body. */
interface Seen {
  connections: number;
  requests: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[];
  upgrades: number;
}

/**
 * A stand-in for a sandbox's front or its agent's port: answers each request
 * with `name` (or with `status()` when set), and echoes WebSocket messages
 * prefixed with `name`.
 */
async function standIn(
  name: string,
  status: () => number = () => 200,
  headers: (code: number) => Record<string, string> = () => ({}),
  tls?: { cert: string; key: string },
) {
  const seen: Seen = { connections: 0, requests: [], upgrades: 0 };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      seen.requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body,
      });
      const code = status();
      res
        .writeHead(code, { "content-type": "text/plain", ...headers(code) })
        .end(code === 200 ? name : `${name} says ${code}`);
    });
  };
  const server: Server = tls ? (createHttpsServer(tls, handler) as never) : createServer(handler);
  server.on("connection", () => seen.connections++);
  const sockets = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket: Socket, head) => {
    seen.upgrades++;
    const code = status();
    if (code !== 200) {
      const extra = Object.entries(headers(code))
        .map(([header, value]) => `${header}: ${value}\r\n`)
        .join("");
      socket.end(`HTTP/1.1 ${code} No\r\ncontent-length: 0\r\n${extra}connection: close\r\n\r\n`);
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", (data) => ws.send(`${name}:${data}`));
    });
  });
  closers.push(() => {
    for (const client of sockets.clients) client.terminate();
    sockets.close();
  });
  return { port: await listen(server), seen };
}

/** A stand-in for a stale front: its own 421, with the front's mark on it. */
function staleFront(name: string) {
  return standIn(
    name,
    () => 421,
    () => ({ [MISDIRECTED_HEADER]: "1" }),
  );
}

/** A port nothing listens on: bound once, then closed. */
async function deadPort(): Promise<number> {
  const closed = createServer();
  const port = await listen(closed);
  closed.close();
  await once(closed, "close");
  return port;
}

function send(
  port: number,
  method: string,
  headers: Record<string, string>,
  chunks: string[],
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path: "/submit", headers, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    // A body cut short by the router's answer is not this test's failure.
    req.on("error", (error) => (error.message.includes("EPIPE") ? undefined : reject(error)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** Opens a WebSocket through the router, sends `message`, resolves with the first echo. */
async function echoThrough(port: number, message: string): Promise<string> {
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: HOST } });
  closers.push(() => client.terminate());
  await once(client, "open");
  client.send(message);
  const [data] = await once(client, "message");
  client.close();
  return String(data);
}

/** A clock the test moves by hand, for how long a front stays marked down. */
function manualClock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** A logger that keeps its warnings, for what the router tells operators. */
function capturingLogger() {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
    error: () => {},
  } as unknown as Logger;
  return { log, warnings };
}

async function fallbacks(metrics: RouterMetrics): Promise<Record<string, number>> {
  const counted: Record<string, number> = {};
  for (const value of (await metrics.frontFallbacks.get()).values)
    counted[String(value.labels.reason)] = value.value;
  return counted;
}

describe("the router's proxy to a sandbox's front, with the agent's port as the fallback", () => {
  it("sends to the front, with the same headers the agent gets, and nothing to the agent", async () => {
    const front = await standIn("front");
    const agent = await standIn("agent");
    const uid = randomUUID();
    const { port, metrics } = await router(agent.port, uid, { frontPort: front.port });
    const answer = await get(port, "/page", { host: HOST, cookie: "turgon_ingress=secret; app=1" });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "front");
    const seen = front.seen.requests[0]?.headers ?? {};
    assert.equal(seen[SANDBOX_HEADER], uid);
    assert.ok(verifyIngressTicket(token, uid, String(seen[INGRESS_TICKET_HEADER])));
    assert.equal(seen.cookie, "app=1");
    assert.equal(seen.host, HOST);
    assert.equal(agent.seen.connections, 0);
    assert.deepEqual(await fallbacks(metrics), {});
  });

  it("retries a GET at the agent when the front refuses the connection, marks it down once and says so once", async () => {
    const agent = await standIn("agent");
    const { log, warnings } = capturingLogger();
    const clock = manualClock();
    const { port, metrics } = await router(agent.port, randomUUID(), {
      frontPort: await deadPort(),
      fronts: new FrontHealth({ now: clock.now }),
      log,
    });
    const first = await get(port, "/", { host: HOST });
    assert.equal(first.status, 200);
    assert.equal(first.body, "agent");
    // Marked down: straight to the agent, no new attempt at the front, no new warning.
    const second = await get(port, "/", { host: HOST });
    assert.equal(second.body, "agent");
    assert.equal(agent.seen.requests.length, 2);
    assert.deepEqual(await fallbacks(metrics), { refused: 1, "marked-down": 1 });
    const frontWarnings = warnings.filter((w) => w.message.startsWith("front unreachable"));
    assert.equal(frontWarnings.length, 1);
    assert.match(frontWarnings[0]?.message ?? "", /NetworkPolicy allow the agent's --front-ports/);
    assert.equal(frontWarnings[0]?.fields.reason, "refused");
  });

  it("answers a request with a body 503 SandboxFrontUnavailable + Retry-After when the front refuses, sends none of it to the agent, and sends the next attempt to the agent", async () => {
    for (const [what, headers, chunks] of [
      ["content-length", { "content-type": "text/plain" }, ["a whole body"]],
      ["chunked", { "transfer-encoding": "chunked" }, ["one ", "two ", "three"]],
    ] as const) {
      const agent = await standIn("agent");
      const { port, metrics } = await router(agent.port, randomUUID(), {
        frontPort: await deadPort(),
        fronts: new FrontHealth({ now: manualClock().now }),
      });
      const refused = await send(port, "POST", { host: HOST, ...headers }, [...chunks]);
      assert.equal(refused.status, 503, what);
      assert.equal(refused.headers["retry-after"], "1", what);
      assert.equal(
        (JSON.parse(refused.body) as { error: string }).error,
        "SandboxFrontUnavailable",
      );
      assert.equal(agent.seen.connections, 0, `${what}: nothing half-sent to the agent`);
      const again = await send(port, "POST", { host: HOST, ...headers }, [...chunks]);
      assert.equal(again.status, 200, what);
      assert.equal(again.body, "agent");
      assert.equal(agent.seen.requests[0]?.body, chunks.join(""), `${what}: the whole body`);
      const errors = await metrics.errors.get();
      assert.equal(
        errors.values.find((v) => v.labels.reason === "SandboxFrontUnavailable")?.value,
        1,
      );
    }
  });

  it("retries at the agent when the front answers its own (marked) 421, never relaying the 421", async () => {
    const front = await staleFront("front");
    const agent = await standIn("agent");
    const { log, warnings } = capturingLogger();
    const { port, metrics } = await router(agent.port, randomUUID(), {
      frontPort: front.port,
      fronts: new FrontHealth({ now: manualClock().now }),
      log,
    });
    const answer = await get(port, "/", { host: HOST });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "agent");
    assert.equal(front.seen.requests.length, 1);
    assert.deepEqual(await fallbacks(metrics), { misdirected: 1 });
    assert.equal(warnings.filter((w) => w.fields.reason === "misdirected").length, 1);
  });

  it("tries a front marked down again once its interval is up", async () => {
    let misdirect = true;
    const front = await standIn(
      "front",
      () => (misdirect ? 421 : 200),
      (code): Record<string, string> => (code === 421 ? { [MISDIRECTED_HEADER]: "1" } : {}),
    );
    const agent = await standIn("agent");
    const clock = manualClock();
    const { port } = await router(agent.port, randomUUID(), {
      frontPort: front.port,
      fronts: new FrontHealth({ now: clock.now, downForMs: 5_000 }),
    });
    assert.equal((await get(port, "/", { host: HOST })).body, "agent");
    misdirect = false;
    clock.advance(4_999);
    assert.equal((await get(port, "/", { host: HOST })).body, "agent", "still marked down");
    assert.equal(front.seen.requests.length, 1, "the front was not tried meanwhile");
    clock.advance(1);
    assert.equal(
      (await get(port, "/", { host: HOST })).body,
      "front",
      "tried again, and it serves",
    );
    assert.equal(front.seen.requests.length, 2);
  });

  it("opens a WebSocket at the front; at the agent on the same client socket when the front refuses or says 421", async () => {
    const agent = await standIn("agent");
    const front = await standIn("front");
    const served = await router(agent.port, randomUUID(), { frontPort: front.port });
    assert.equal(await echoThrough(served.port, "hi"), "front:hi");
    assert.equal(front.seen.upgrades, 1);
    assert.equal(agent.seen.upgrades, 0);

    const refusing = await router(agent.port, randomUUID(), {
      frontPort: await deadPort(),
      fronts: new FrontHealth({ now: manualClock().now }),
    });
    assert.equal(await echoThrough(refusing.port, "hi"), "agent:hi");
    assert.deepEqual(await fallbacks(refusing.metrics), { refused: 1 });

    const stale = await staleFront("stale");
    const misdirected = await router(agent.port, randomUUID(), {
      frontPort: stale.port,
      fronts: new FrontHealth({ now: manualClock().now }),
    });
    assert.equal(await echoThrough(misdirected.port, "hi"), "agent:hi");
    assert.equal(stale.seen.upgrades, 1);
    assert.deepEqual(await fallbacks(misdirected.metrics), { misdirected: 1 });
  });

  it("pays one connect timeout for a black-holed front (a NetworkPolicy without the front ports), then goes straight to the agent", async () => {
    const { port: silentPort, child } = await unacceptingListener();
    closers.push(() => child.kill());
    const fillers = await fillAcceptQueue(silentPort);
    closers.push(() => {
      for (const filler of fillers) filler.destroy();
    });
    const agent = await standIn("agent");
    const { log, warnings } = capturingLogger();
    const { port, metrics } = await router(agent.port, randomUUID(), {
      frontPort: silentPort,
      fronts: new FrontHealth({ now: manualClock().now }),
      connectTimeoutMs: 300,
      log,
    });
    let started = performance.now();
    const first = await get(port, "/", { host: HOST });
    const waited = performance.now() - started;
    assert.equal(first.body, "agent");
    assert.ok(waited >= 250 && waited < 3_000, `first: ${waited.toFixed(0)} ms`);
    started = performance.now();
    assert.equal((await get(port, "/", { host: HOST })).body, "agent");
    const next = performance.now() - started;
    assert.ok(next < 250, `next: ${next.toFixed(0)} ms`);
    assert.deepEqual(await fallbacks(metrics), { "connect-timeout": 1, "marked-down": 1 });
    assert.equal(warnings.filter((w) => w.message.startsWith("front unreachable")).length, 1);
  });

  it("answers 503 SandboxBusy + Retry-After, in bounded time and without going to the agent, when every connection to the front is taken", async () => {
    const held: ServerResponse[] = [];
    const hanging = createServer((_req, res) => held.push(res));
    const frontPort = await listen(hanging);
    const agent = await standIn("agent");
    const { port, metrics } = await router(agent.port, randomUUID(), {
      frontPort,
      pool: { maxTotalSockets: 1 },
      queueTimeoutMs: 300,
    });
    const first = get(port, "/slow", { host: HOST });
    await eventually(
      "the front holds the one connection",
      () => held.length,
      (n) => n === 1,
      5_000,
      10,
    );
    const started = performance.now();
    const busy = await get(port, "/", { host: HOST });
    assert.ok(performance.now() - started < 3_000);
    assert.equal(busy.status, 503);
    assert.equal(busy.headers["retry-after"], "1");
    assert.equal((JSON.parse(busy.body) as { error: string }).error, "SandboxBusy");
    assert.equal(agent.seen.requests.length, 0);
    const errors = await metrics.errors.get();
    assert.equal(errors.values.find((v) => v.labels.reason === "SandboxBusy")?.value, 1);
    held[0]?.end("slow");
    assert.equal((await first).body, "slow");
  });

  it("answers 502 AgentUnreachable when the front is marked down and the agent refuses too", async () => {
    const { port } = await router(await deadPort(), randomUUID(), {
      frontPort: await deadPort(),
      fronts: new FrontHealth({ now: manualClock().now }),
    });
    const answer = await get(port, "/", { host: HOST });
    assert.equal(answer.status, 502);
    assert.equal((JSON.parse(answer.body) as { error: string }).error, "AgentUnreachable");
  });
});

/**
 * A front that reads a request's head, then resets the connection without
 * answering: it may have handed the request on (a supervisor dying
 * mid-request), so the router cannot tell whether the guest saw it.
 */
async function resettingFront() {
  const heads: string[] = [];
  const server = createTcpServer((socket) => {
    let head = "";
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      head += chunk;
      if (!head.includes("\r\n\r\n")) return;
      heads.push(head.slice(0, head.indexOf(" ")));
      socket.resetAndDestroy();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => server.close());
  return { port: (server.address() as AddressInfo).port, heads };
}

/** Sends `method` without a body (Content-Length: 0) through the router. */
function bodiless(port: number, method: string) {
  return send(port, method, { host: HOST, "content-length": "0" }, []);
}

describe("the router's front fallback, as the security review asked", () => {
  it("relays a guest's own 421 (no front mark) as it is, on HTTP and on an upgrade, and keeps the mark from clients", async () => {
    const front = await standIn("guest", () => 421);
    const agent = await standIn("agent");
    const { port, metrics } = await router(agent.port, randomUUID(), {
      frontPort: front.port,
      fronts: new FrontHealth({ now: manualClock().now }),
    });
    for (let i = 0; i < 2; i++) {
      const answer = await get(port, "/", { host: HOST });
      assert.equal(answer.status, 421, "relayed");
      assert.equal(answer.body, "guest says 421");
    }
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: HOST } });
    client.on("error", () => {});
    closers.push(() => client.terminate());
    const [, response] = (await once(client, "unexpected-response")) as [unknown, IncomingMessage];
    assert.equal(response.statusCode, 421);
    assert.equal(front.seen.requests.length, 2, "each GET once, and the front not marked down");
    assert.equal(front.seen.upgrades, 1);
    assert.equal(agent.seen.connections, 0, "nothing sent twice");
    assert.deepEqual(await fallbacks(metrics), {});

    // A front's mark on a response it relays never reaches a client.
    const marking = await standIn(
      "front",
      () => 200,
      () => ({ [MISDIRECTED_HEADER]: "1" }),
    );
    const served = await router(agent.port, randomUUID(), { frontPort: marking.port });
    const answer = await get(served.port, "/", { host: HOST });
    assert.equal(answer.body, "front");
    assert.equal(answer.headers[MISDIRECTED_HEADER], undefined);
  });

  it("after a reset before the head sends only GET, HEAD, OPTIONS and upgrades again; a bodiless POST or DELETE gets 502, never a second delivery", async () => {
    for (const method of ["GET", "HEAD", "OPTIONS", "POST", "DELETE", "PUT"]) {
      const front = await resettingFront();
      const agent = await standIn("agent");
      const { port, metrics } = await router(agent.port, randomUUID(), {
        frontPort: front.port,
        fronts: new FrontHealth({ now: manualClock().now }),
      });
      const answer = await bodiless(port, method);
      assert.deepEqual(front.heads, [method], `${method}: the front got it once`);
      if (["GET", "HEAD", "OPTIONS"].includes(method)) {
        assert.equal(answer.status, 200, method);
        assert.deepEqual(
          agent.seen.requests.map((r) => r.method),
          [method],
        );
        assert.deepEqual(await fallbacks(metrics), { reset: 1 }, method);
      } else {
        assert.equal(answer.status, 502, method);
        assert.equal((JSON.parse(answer.body) as { error: string }).error, "AgentUnreachable");
        assert.equal(agent.seen.connections, 0, `${method}: never sent to the agent`);
        assert.deepEqual(await fallbacks(metrics), {}, method);
        // Marked down all the same: the next request goes to the agent.
        assert.equal((await bodiless(port, method)).status, 200, `${method} next`);
        assert.deepEqual(front.heads, [method]);
      }
    }
    const front = await resettingFront();
    const agent = await standIn("agent");
    const upgrading = await router(agent.port, randomUUID(), {
      frontPort: front.port,
      fronts: new FrontHealth({ now: manualClock().now }),
    });
    assert.equal(await echoThrough(upgrading.port, "hi"), "agent:hi");
    assert.deepEqual(front.heads, ["GET"]);
  });

  it("sends a bodiless request of any method again after a connect-phase failure (nothing was sent)", async () => {
    for (const method of ["POST", "DELETE"]) {
      const agent = await standIn("agent");
      const { port, metrics } = await router(agent.port, randomUUID(), {
        frontPort: await deadPort(),
        fronts: new FrontHealth({ now: manualClock().now }),
      });
      const answer = await bodiless(port, method);
      assert.equal(answer.status, 200, method);
      assert.deepEqual(
        agent.seen.requests.map((r) => r.method),
        [method],
      );
      assert.deepEqual(await fallbacks(metrics), { refused: 1 });
    }
  });

  it("falls back when the front's certificate is not from the agents' CA (a missed rotation), counted as tls, and marks it down", async () => {
    const dir = await mkdtemp(join(tmpdir(), "router-front-tls-"));
    closers.push(() => void rm(dir, { recursive: true, force: true }));
    const trusted = await ensureAgentPki(join(dir, "trusted"), "n1");
    const other = await ensureAgentPki(join(dir, "other"), "n1");
    const pem = async (files: { cert: string; key: string }) => ({
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
    });
    const credentials: AgentCredentials = {
      mode: "certificate",
      ca: await readFile(trusted.ca, "utf8"),
      ...(await pem(trusted.router)),
    };
    const agent = await standIn("agent", undefined, undefined, await pem(trusted.agent));
    const front = await standIn("front", undefined, undefined, await pem(other.agent));
    const { log, warnings } = capturingLogger();
    const { port, metrics } = await router(agent.port, randomUUID(), {
      frontPort: front.port,
      fronts: new FrontHealth({ now: manualClock().now }),
      credentials,
      log,
    });
    // A POST without a body too: the handshake failed, so nothing of it reached the front.
    const posted = await bodiless(port, "POST");
    assert.equal(posted.status, 200);
    assert.equal(posted.body, "agent");
    assert.equal((await get(port, "/", { host: HOST })).body, "agent");
    assert.equal(front.seen.requests.length, 0);
    assert.equal(front.seen.connections, 1, "tried once, then marked down");
    assert.deepEqual(await fallbacks(metrics), { tls: 1, "marked-down": 1 });
    const told = warnings.filter((w) => w.fields.reason === "tls");
    assert.equal(told.length, 1);
    assert.match(told[0]?.message ?? "", /TLS handshake/);
  });
});

describe("the router never connects to a front port outside its node's range", () => {
  /** An informer's cache and events, as the directory reads them. */
  class Informer<
    T extends { metadata?: { name?: string; namespace?: string } },
  > extends EventEmitter {
    private readonly objects = new Map<string, T>();
    get(name: string, namespace?: string) {
      return this.objects.get(`${namespace ?? ""}/${name}`);
    }
    put(object: T) {
      this.objects.set(`${object.metadata?.namespace ?? ""}/${object.metadata?.name}`, object);
      this.emit("add", object);
    }
  }

  it("sends to the agent, never to the port a status names outside spec.frontPorts", async () => {
    const agent = await standIn("agent");
    const bait = await standIn("bait");
    const allowed = await standIn("front");
    const sandboxes = new Informer<Sandbox>();
    const nodes = new Informer<SandboxNode>();
    const directory = new SandboxDirectory(
      sandboxes as never,
      nodes as never,
      new Informer() as never,
    );
    nodes.put({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "SandboxNode",
      metadata: { name: "n1" },
      // The range holds only the real front's port; the bait listens outside it.
      spec: {
        address: "http://127.0.0.1:1",
        ingressAddress: `http://127.0.0.1:${agent.port}`,
        frontPorts: { first: allowed.port, last: allowed.port },
        unschedulable: false,
      },
    } as SandboxNode);
    const sandbox = (frontPort: number) =>
      ({
        apiVersion: "turgon.dev/v1alpha1",
        kind: "Sandbox",
        metadata: { name: "app", namespace: "team", uid: "uid-app" },
        spec: { image: "i", ingress: { enabled: true, access: "public" } },
        status: {
          phase: "Running",
          nodeName: "n1",
          ingress: { url: `http://${HOST}/`, access: "public", frontPort },
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Running",
              message: "",
              lastTransitionTime: "2026-01-01T00:00:00Z",
            },
          ],
        },
      }) as unknown as Sandbox;
    sandboxes.put(sandbox(bait.port));
    const { port } = await router(agent.port, "unused", { directory });
    const answer = await get(port, "/", { host: HOST });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "agent");
    const ws = await echoThrough(port, "hi");
    assert.equal(ws, "agent:hi");
    assert.equal(bait.seen.connections, 0, "the port outside the range saw nothing");
    // The same status naming the port inside the range is served there.
    sandboxes.put(sandbox(allowed.port));
    assert.equal((await get(port, "/", { host: HOST })).body, "front");
    assert.equal(bait.seen.connections, 0);
  });
});

/**
 * A listening socket whose process never accepts: a child that listens with
 * a backlog of one, then blocks its event loop for good. Once its accept
 * queue is full the kernel drops new SYNs, so a connect there hangs, as
 * one to a port a NetworkPolicy black-holes.
 */
async function unacceptingListener(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("node:net").createServer();
       s.listen(0, "127.0.0.1", 1, () => {
         process.stdout.write(s.address().port + "\\n");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
       });`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const [line] = await once(child.stdout as never, "data");
  return { port: Number(String(line).trim()), child };
}

/** Connects to `port` until a connect no longer completes within 500 ms (the accept queue is full), at most 16 times. */
async function fillAcceptQueue(port: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    sockets.push(socket);
    const connected = await Promise.race([
      once(socket, "connect").then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500)),
    ]);
    if (!connected) return sockets;
  }
  throw new Error("the accept queue never filled");
}

describe("wake on request: a client that leaves while its access is checked", () => {
  it("is not held, and wakes nothing", async () => {
    const asleep: Route = {
      kind: "wake",
      sandbox: {
        metadata: { name: "app", namespace: "team", uid: "u1" },
        spec: { operatingMode: "Suspended" },
      } as Sandbox,
      uid: "u1",
      access: "authenticated",
      team: "team",
    };
    let resumes = 0;
    const metrics = new RouterMetrics();
    const waker = new SandboxWaker({
      route: () => asleep,
      resumer: {
        resume: async () => {
          resumes++;
          return "resumed";
        },
      },
      timeoutMs: 10_000,
      maxHeld: 10,
      maxHeldPerSandbox: 10,
      maxHeldPerTeam: 10,
      metrics,
      log: logger.child({ test: "proxy-wake" }, { level: "silent" }),
    });
    // The session check answers only when told, after the client has gone.
    let verified: (() => void) | undefined;
    const keys = {
      verify: () =>
        new Promise((resolve) => {
          verified = () => resolve({ sub: "someone@example.test", teams: [], admin: false });
        }),
    } as unknown as TokenKeys;
    const server = createRouterServer({
      directory: { route: () => asleep } as unknown as SandboxDirectory,
      keys,
      handoffs: {} as SingleUseGuard,
      metrics,
      log: logger.child({ test: "proxy-wake" }, { level: "silent" }),
      domain: DOMAIN,
      signInUrl: "http://dashboard.test/sign-in",
      connectTimeoutMs: 2_000,
      https: false,
      trustedProxies: new TrustedProxies([]),
      agentCredentials: { mode: "token", token },
      sessionTtlSeconds: 3600,
      waker,
    });
    let closedAtServer = false;
    server.on("connection", (socket: Socket) =>
      socket.once("close", () => {
        closedAtServer = true;
      }),
    );
    const port = await listen(server);
    const client = connect(port, "127.0.0.1");
    client.on("error", () => {});
    client.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\ncookie: turgon_ingress=x\r\n\r\n`);
    await eventually("the session check begun", () => verified !== undefined, Boolean, 5_000, 10);
    client.destroy();
    await eventually("the router saw the client go", () => closedAtServer, Boolean, 5_000, 10);
    verified?.();
    const answered = async () =>
      (
        (await metrics.registry.getSingleMetric("turgon_router_wake_held_requests_total")?.get())
          ?.values ?? []
      ).some((v) => v.value > 0);
    // Held (the flaw) or answered at once: either way decided.
    await eventually(
      "the request held or answered",
      async () => waker.heldNow > 0 || (await answered()),
      Boolean,
      5_000,
      10,
    );
    assert.equal(waker.heldNow, 0, "not held");
    assert.equal(resumes, 0, "nothing woken for a client that is gone");
  });
});

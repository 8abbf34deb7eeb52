/**
 * The agent's ingress port in front of a stand-in for a VM's Gondolin gateway
 * (a local server on 127.0.0.1): what reaches the gateway, what the router
 * gets back, and activity from requests and WebSocket traffic. The same path
 * against a real VM is in agent.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, describe, it } from "node:test";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER, signIngressTicket } from "@turgon/api/agent";
import WebSocket, { WebSocketServer } from "ws";
import { logger } from "../logger.ts";
import type { SandboxManager } from "../sandboxes/manager.ts";
import { createIngressServer } from "./proxy.ts";

const token = randomUUID();
const log = logger.child({ test: "ingress" }, { level: "silent" });
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

/** One running sandbox whose gateway listens on `port`; counts its activity. */
function oneSandbox(uid: string, port: number) {
  const sandbox = {
    phase: "Running",
    gateway: () => ({ host: "127.0.0.1", port }),
    desired: { uid, ingress: { enabled: true } },
    touches: 0,
    touch() {
      sandbox.touches++;
    },
  };
  const manager = { get: (id: string) => (id === uid ? sandbox : undefined) };
  return { sandbox, manager: manager as unknown as SandboxManager };
}

async function ingressFor(manager: SandboxManager, connectTimeoutMs?: number): Promise<number> {
  const server = createIngressServer({
    manager,
    auth: { mode: "token", token },
    log,
    ...(connectTimeoutMs ? { connectTimeoutMs } : {}),
  });
  return listen(server);
}

const routerHeaders = (uid: string) => ({
  [SANDBOX_HEADER]: uid,
  [INGRESS_TICKET_HEADER]: signIngressTicket(token, uid),
});

describe("the agent's ingress port", () => {
  it("forwards the request as sent, less the router's headers and hop-by-hop ones, and counts it as activity", async () => {
    let seen: { url?: string; headers: IncomingHttpHeaders } = { headers: {} };
    const gateway = createServer((req, res) => {
      seen = { url: req.url, headers: req.headers };
      res.writeHead(201, { "x-from-guest": "yes", connection: "x-guest-hop", "x-guest-hop": "1" });
      res.end("served");
    });
    const uid = randomUUID();
    const { sandbox, manager } = oneSandbox(uid, await listen(gateway));
    const port = await ingressFor(manager);
    const answer = await fetch(`http://127.0.0.1:${port}/app/x?y=1`, {
      headers: { ...routerHeaders(uid), "x-forwarded-for": "203.0.113.9", te: "trailers" },
    });
    assert.equal(answer.status, 201);
    assert.equal(await answer.text(), "served");
    assert.equal(answer.headers.get("x-from-guest"), "yes");
    assert.equal(answer.headers.get("x-guest-hop"), null);
    assert.equal(seen.url, "/app/x?y=1");
    assert.equal(seen.headers[SANDBOX_HEADER], undefined);
    assert.equal(seen.headers[INGRESS_TICKET_HEADER], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(seen.headers["x-forwarded-for"], "203.0.113.9", "the router's view passes on");
    assert.equal(sandbox.touches, 1);
  });

  it("answers 502 naming the gateway when it refuses the connection", async () => {
    const closed = createServer();
    const deadPort = await listen(closed);
    closed.close();
    const uid = randomUUID();
    const port = await ingressFor(oneSandbox(uid, deadPort).manager);
    const answer = await fetch(`http://127.0.0.1:${port}/`, { headers: routerHeaders(uid) });
    assert.equal(answer.status, 502);
    assert.match(
      ((await answer.json()) as { error: string }).error,
      /^sandbox gateway failed: .*ECONNREFUSED/,
    );
  });

  it("tunnels a WebSocket, counting messages either way as activity", async () => {
    const gateway = createServer();
    const echo = new WebSocketServer({ server: gateway });
    echo.on("connection", (socket) => socket.on("message", (data) => socket.send(String(data))));
    closers.push(() => echo.close());
    const uid = randomUUID();
    const { sandbox, manager } = oneSandbox(uid, await listen(gateway));
    const port = await ingressFor(manager);
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: routerHeaders(uid) });
    closers.push(() => client.terminate());
    await once(client, "open");
    const before = sandbox.touches;
    client.send("ping");
    const [reply] = await once(client, "message");
    assert.equal(String(reply), "ping");
    assert.ok(sandbox.touches >= before + 2, `touches ${before} → ${sandbox.touches}`);
  });

  it("refuses an upgrade for a sandbox it does not have, with the status line", async () => {
    const port = await ingressFor(oneSandbox(randomUUID(), 1).manager);
    const other = randomUUID();
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: routerHeaders(other) });
    client.on("error", () => {});
    const [, response] = (await once(client, "unexpected-response")) as [
      unknown,
      IncomingMessage & { socket: Socket },
    ];
    assert.equal(response.statusCode, 404);
    client.terminate();
  });
});

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
import {
  INGRESS_TICKET_HEADER,
  MISDIRECTED_HEADER,
  SANDBOX_HEADER,
  signIngressTicket,
} from "@turgon/api/agent";
import WebSocket, { WebSocketServer } from "ws";
import { logger } from "../logger.ts";
import { createIngressServer, type IngressLookup } from "./proxy.ts";

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
    desired: { uid, ingress: { enabled: true } as { enabled: boolean; hooks?: object } },
    touches: 0,
    touch() {
      sandbox.touches++;
    },
  };
  /** As the agent's port looks sandboxes up: every sandbox of the node. */
  const lookup: IngressLookup = (id) => (id === uid ? (sandbox as never) : undefined);
  /** As a supervisor's front does: its own sandbox, and no other. */
  const front: IngressLookup = (id) => (id === uid ? (sandbox as never) : "misdirected");
  return { sandbox, lookup, front };
}

async function ingressFor(lookup: IngressLookup, connectTimeoutMs?: number): Promise<number> {
  const server = createIngressServer({
    lookup,
    auth: () => ({ mode: "token", token }),
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
    const { sandbox, lookup } = oneSandbox(uid, await listen(gateway));
    const port = await ingressFor(lookup);
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
    const port = await ingressFor(oneSandbox(uid, deadPort).lookup);
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
    const { sandbox, lookup } = oneSandbox(uid, await listen(gateway));
    const port = await ingressFor(lookup);
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
    const port = await ingressFor(oneSandbox(randomUUID(), 1).lookup);
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

describe("the ingress checks, shared by the agent's port and a sandbox's front", () => {
  /** A gateway that answers 200 "app"; it must never be reached by a refused request. */
  const appGateway = async () => {
    let reached = 0;
    const gateway = createServer((_req, res) => {
      reached++;
      res.end("app");
    });
    return { port: await listen(gateway), reached: () => reached };
  };

  it("a front answers a marked 421 for another sandbox, only to whoever may reach that sandbox", async () => {
    const gateway = await appGateway();
    const uid = randomUUID();
    const port = await ingressFor(oneSandbox(uid, gateway.port).front);
    const other = randomUUID();
    const misdirected = await fetch(`http://127.0.0.1:${port}/`, { headers: routerHeaders(other) });
    assert.equal(misdirected.status, 421);
    assert.equal(misdirected.headers.get(MISDIRECTED_HEADER), "1", "the front's own mark");
    assert.match(((await misdirected.json()) as { error: string }).error, /does not serve sandbox/);
    // Without a ticket for it, the caller does not learn which sandbox this port serves.
    const anonymous = await fetch(`http://127.0.0.1:${port}/`, {
      headers: { [SANDBOX_HEADER]: other },
    });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get(MISDIRECTED_HEADER), null);
    // An upgrade gets the marked status line too.
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: routerHeaders(other) });
    client.on("error", () => {});
    const [, response] = (await once(client, "unexpected-response")) as [unknown, IncomingMessage];
    assert.equal(response.statusCode, 421);
    assert.equal(response.headers[MISDIRECTED_HEADER], "1");
    client.terminate();
    // Its own sandbox it serves.
    const own = await fetch(`http://127.0.0.1:${port}/`, { headers: routerHeaders(uid) });
    assert.equal(own.status, 200);
    assert.equal(await own.text(), "app");
    assert.equal(gateway.reached(), 1);
  });

  it("strips the front's mark from whatever the guest answers, a 421 included", async () => {
    const gateway = createServer((_req, res) => {
      res.writeHead(421, { [MISDIRECTED_HEADER]: "1", "x-from-guest": "yes" }).end("guest");
    });
    const uid = randomUUID();
    const { lookup, front } = oneSandbox(uid, await listen(gateway));
    for (const port of [await ingressFor(lookup), await ingressFor(front)]) {
      const answer = await fetch(`http://127.0.0.1:${port}/`, { headers: routerHeaders(uid) });
      assert.equal(answer.status, 421, "the guest's own status passes on");
      assert.equal(answer.headers.get("x-from-guest"), "yes");
      assert.equal(answer.headers.get(MISDIRECTED_HEADER), null, "never the front's mark");
      assert.equal(await answer.text(), "guest");
    }
  });

  it("answers 401 with no ticket, and with a valid ticket for another sandbox", async () => {
    const gateway = await appGateway();
    const uid = randomUUID();
    const { lookup, front } = oneSandbox(uid, gateway.port);
    for (const port of [await ingressFor(lookup), await ingressFor(front)]) {
      const bare = await fetch(`http://127.0.0.1:${port}/`, { headers: { [SANDBOX_HEADER]: uid } });
      assert.equal(bare.status, 401);
      const stolen = await fetch(`http://127.0.0.1:${port}/`, {
        headers: {
          [SANDBOX_HEADER]: uid,
          [INGRESS_TICKET_HEADER]: signIngressTicket(token, randomUUID()),
        },
      });
      assert.equal(stolen.status, 401);
      const forged = await fetch(`http://127.0.0.1:${port}/`, {
        headers: {
          [SANDBOX_HEADER]: uid,
          [INGRESS_TICKET_HEADER]: signIngressTicket("x".repeat(32), uid),
        },
      });
      assert.equal(forged.status, 401);
    }
    assert.equal(gateway.reached(), 0);
  });

  it("answers by phase: 400 without the header, 503 while booting or not running, 403 by hooks", async () => {
    const gateway = await appGateway();
    const uid = randomUUID();
    const { sandbox, front } = oneSandbox(uid, gateway.port);
    const port = await ingressFor(front);
    const get = (path = "/", headers: Record<string, string> = routerHeaders(uid)) =>
      fetch(`http://127.0.0.1:${port}${path}`, { headers });
    assert.equal((await get("/", {})).status, 400);
    sandbox.phase = "Booting";
    const booting = await get();
    assert.equal(booting.status, 503);
    assert.equal(booting.headers.get("retry-after"), "2");
    sandbox.phase = "Suspended";
    const suspended = await get();
    assert.equal(suspended.status, 503);
    assert.equal(suspended.headers.get("retry-after"), "5");
    assert.match(((await suspended.json()) as { error: string }).error, /is Suspended/);
    sandbox.phase = "Running";
    sandbox.desired.ingress = { enabled: true, hooks: { deniedPathPrefixes: ["/admin"] } };
    assert.equal((await get("/admin/x")).status, 403);
    assert.equal((await get("/ok")).status, 200);
    assert.equal(gateway.reached(), 1);
  });
});

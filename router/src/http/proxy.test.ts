/**
 * The router's data path for a public sandbox, in front of a stand-in for a
 * node agent's ingress port (a local server on 127.0.0.1): the headers the
 * agent gets, guest cookies made host-only on HTTP and on a 101, and the
 * router's own pages when the agent cannot be reached. Access control and
 * the path to a real VM are in router.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, describe, it } from "node:test";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER, verifyIngressTicket } from "@turgon/api/agent";
import WebSocket from "ws";
import type { SingleUseGuard } from "../access/replay.ts";
import type { TokenKeys } from "../access/tokens.ts";
import type { Route, SandboxDirectory } from "../directory/directory.ts";
import { logger } from "../logger.ts";
import { RouterMetrics } from "../metrics.ts";
import { TrustedProxies } from "./forwarded.ts";
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

/** A router whose one public sandbox is served by the agent at `agentPort`. */
async function router(agentPort: number, uid: string) {
  const route: Route = {
    kind: "serve",
    sandbox: {} as never,
    uid,
    access: "public",
    team: "team",
    agent: `http://127.0.0.1:${agentPort}`,
  };
  const metrics = new RouterMetrics();
  const server = createRouterServer({
    directory: { route: () => route } as unknown as SandboxDirectory,
    // A public sandbox needs neither tokens nor hand-offs.
    keys: {} as TokenKeys,
    handoffs: {} as SingleUseGuard,
    metrics,
    log: logger.child({ test: "proxy" }, { level: "silent" }),
    domain: DOMAIN,
    signInUrl: "http://dashboard.test/sign-in",
    connectTimeoutMs: 2_000,
    https: false,
    trustedProxies: new TrustedProxies([]),
    agentCredentials: { mode: "token", token },
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

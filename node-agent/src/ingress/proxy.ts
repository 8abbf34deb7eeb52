import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  ServerResponse,
  STATUS_CODES,
} from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Socket } from "node:net";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER } from "@turgon/api/agent";
import { createHttpProxy, type Upstream } from "@turgon/toolkit/http-proxy";
import { type CallerAuthentication, ingressAllowed } from "../api/auth.ts";
import { type AgentTls, tlsServerOptions } from "../api/tls.ts";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics/metrics.ts";
import type { SandboxHandle } from "../sandboxes/handle.ts";
import type { SandboxManager } from "../sandboxes/manager.ts";
import { refusedByHooks } from "./hooks.ts";

/** The router's own headers stop here: the gateway and the guest never see them. */
function withoutRouterHeaders(forwardable: IncomingHttpHeaders): IncomingHttpHeaders {
  const { [SANDBOX_HEADER]: _sandbox, [INGRESS_TICKET_HEADER]: _ticket, ...rest } = forwardable;
  return rest;
}

/** How long the VM's Gondolin gateway (on this host) may take to accept a connection. */
const GATEWAY_CONNECT_TIMEOUT_MS = 3_000;

type Reached = { host: string; port: number; sandbox: SandboxHandle };
type Target = Reached | { status: number; message: string; retryAfter?: number };

/** Denied by the sandbox's ingress hooks, judged on the target as sent (Gondolin sees it parsed). */
const DENIED_PATH = { status: 403, message: "the sandbox's ingress hooks deny this path" };

function resolveTarget(
  manager: SandboxManager,
  req: IncomingMessage,
  auth: CallerAuthentication,
): Target {
  const uid = req.headers[SANDBOX_HEADER];
  if (typeof uid !== "string" || uid === "")
    return { status: 400, message: `missing ${SANDBOX_HEADER} header` };
  // Before the lookup: whoever may not pick this sandbox learns nothing about it.
  if (!ingressAllowed(req, uid, auth))
    return { status: 401, message: `not allowed to reach sandbox ${uid} through this port` };
  const sandbox = manager.get(uid);
  if (!sandbox) return { status: 404, message: `no sandbox ${uid} on this node` };
  if (sandbox.phase === "Booting")
    return { status: 503, message: `sandbox ${uid} is starting`, retryAfter: 2 };
  // The gateway lives with the VM (in its supervisor, on this host's loopback).
  const gateway = sandbox.phase === "Running" ? sandbox.gateway() : undefined;
  if (!gateway)
    return { status: 503, message: `sandbox ${uid} is ${sandbox.phase}`, retryAfter: 5 };
  if (refusedByHooks(sandbox.desired, req.url ?? "/")) return DENIED_PATH;
  return { host: gateway.host, port: gateway.port, sandbox };
}

function refuse(
  res: ServerResponse,
  target: { status: number; message: string; retryAfter?: number },
) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.retryAfter) headers["retry-after"] = String(target.retryAfter);
  res.writeHead(target.status, headers).end(`${JSON.stringify({ error: target.message })}\n`);
}

/** The same refusal on an upgrade's raw socket: the status line, no body. */
function refuseUpgrade(client: Socket, status: number) {
  client.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unavailable"}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
  );
}

export interface IngressServerOptions {
  manager: SandboxManager;
  auth: CallerAuthentication;
  log: Logger;
  metrics?: AgentMetrics;
  tls?: AgentTls;
  /** How long the gateway may take to accept a connection (a 504 after). */
  connectTimeoutMs?: number;
}

/**
 * The ingress data plane: one port for every VM on this node. The router
 * names the sandbox in a header, and only the router may (its client
 * certificate, or on an --insecure agent a ticket for that sandbox); the
 * request and response are streamed to and from that VM's Gondolin ingress
 * gateway, and WebSocket upgrades are tunnelled byte for byte.
 */
export function createIngressServer({
  manager,
  auth,
  log,
  metrics,
  tls,
  connectTimeoutMs = GATEWAY_CONNECT_TIMEOUT_MS,
}: IngressServerOptions): Server {
  const proxy = createHttpProxy({ connectTimeoutMs });
  /** The VM's Gondolin ingress gateway, with the request as sent, less the router's headers. */
  const toGateway = (req: IncomingMessage, target: Reached): Upstream => ({
    origin: new URL(
      `http://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`,
    ),
    path: req.url ?? "/",
    headers: withoutRouterHeaders,
    onFailure: (failure, answer) => {
      log.warn({ err: failure.error, uid: target.sandbox.desired.uid }, "ingress upstream failed");
      if (answer instanceof ServerResponse)
        refuse(answer, {
          status: failure.status,
          message: `sandbox gateway failed: ${failure.message}`,
        });
      else if (answer) refuseUpgrade(answer, failure.status);
    },
  });
  const server: Server = tls ? createTlsServer(tlsServerOptions(tls)) : createServer();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const timer = metrics?.ingressSeconds.startTimer();
    if (timer) res.once("close", () => timer({ code: String(res.statusCode) }));
    const target = resolveTarget(manager, req, auth);
    if ("status" in target) return refuse(res, target);
    // Activity for idleTimeout (throttled inside: this is every request).
    target.sandbox.touch();
    proxy.web(req, res, toGateway(req, target));
  });

  server.on("upgrade", (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = resolveTarget(manager, req, auth);
    if ("status" in target) return refuseUpgrade(client, target.status);
    target.sandbox.touch();
    proxy.ws(req, client, head, {
      ...toGateway(req, target),
      // A long-lived WebSocket is activity for as long as messages flow either way.
      onTunnel: (upstream, downstream) => {
        const touch = () => target.sandbox.touch();
        upstream.on("data", touch);
        downstream.on("data", touch);
      },
    });
  });
  server.on("close", () => proxy.close());
  return server;
}

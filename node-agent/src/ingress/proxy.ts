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
import {
  type AgentSandboxPhase,
  type DesiredSandbox,
  INGRESS_TICKET_HEADER,
  MISDIRECTED_HEADER,
  SANDBOX_HEADER,
} from "@turgon/api/agent";
import { createHttpProxy, type Upstream } from "@turgon/toolkit/http-proxy";
import { type CallerAuthentication, ingressAllowed } from "../api/auth.ts";
import { type AgentTls, tlsServerOptions } from "../api/tls.ts";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics/metrics.ts";
import { refusedByHooks } from "./hooks.ts";

/** The router's own headers stop here: the gateway and the guest never see them. */
function withoutRouterHeaders(forwardable: IncomingHttpHeaders): IncomingHttpHeaders {
  const { [SANDBOX_HEADER]: _sandbox, [INGRESS_TICKET_HEADER]: _ticket, ...rest } = forwardable;
  return rest;
}

/** Only a front marks its own 421: whatever the guest's gateway answers never carries the mark. */
function withoutMisdirectedMark(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { [MISDIRECTED_HEADER]: _mark, ...rest } = headers;
  return rest;
}

/** How long the VM's Gondolin gateway (on this host) may take to accept a connection. */
const GATEWAY_CONNECT_TIMEOUT_MS = 3_000;

/**
 * What ingress needs of a sandbox: the `SandboxHandle` subset the agent's
 * port and a supervisor's front both have.
 */
export interface IngressSubject {
  readonly desired: DesiredSandbox;
  readonly phase: AgentSandboxPhase;
  /** The VM's Gondolin ingress gateway on the host's loopback, while it serves. */
  gateway(): { host: string; port: number } | undefined;
  /** Activity for idleTimeout; called per request and per WebSocket message (throttled inside). */
  touch(): void;
}

/**
 * The sandbox a request names: its subject, "misdirected" when this server
 * serves another sandbox only (a supervisor's front), or undefined when
 * there is none here.
 */
export type IngressLookup = (uid: string) => IngressSubject | "misdirected" | undefined;

type Reached = { host: string; port: number; sandbox: IngressSubject };
type Refusal = { status: number; message: string; retryAfter?: number; misdirected?: true };
type Target = Reached | Refusal;

/** Denied by the sandbox's ingress hooks, judged on the target as sent (Gondolin sees it parsed). */
const DENIED_PATH = { status: 403, message: "the sandbox's ingress hooks deny this path" };

/**
 * The checks every ingress request passes, in this order, wherever it
 * arrives: the header, who may pick the sandbox, a front's own sandbox (421
 * for another, marked), its presence, its phase, its hooks.
 */
function resolveTarget(
  lookup: IngressLookup,
  req: IncomingMessage,
  auth: CallerAuthentication,
): Target {
  const uid = req.headers[SANDBOX_HEADER];
  if (typeof uid !== "string" || uid === "")
    return { status: 400, message: `missing ${SANDBOX_HEADER} header` };
  // Before the answer depends on the sandbox: whoever may not pick it learns
  // nothing about it, not even which sandbox a front's port serves.
  if (!ingressAllowed(req, uid, auth))
    return { status: 401, message: `not allowed to reach sandbox ${uid} through this port` };
  const sandbox = lookup(uid);
  // A front serves its own sandbox only: the router retries elsewhere (a
  // stale or reused port), trusting a 421 only with this mark.
  if (sandbox === "misdirected")
    return {
      status: 421,
      message: `this port does not serve sandbox ${uid}`,
      misdirected: true,
    };
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

function refuse(res: ServerResponse, target: Refusal) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.retryAfter) headers["retry-after"] = String(target.retryAfter);
  if (target.misdirected) headers[MISDIRECTED_HEADER] = "1";
  res.writeHead(target.status, headers).end(`${JSON.stringify({ error: target.message })}\n`);
}

/** The same refusal on an upgrade's raw socket: the status line (and a front's mark), no body. */
function refuseUpgrade(client: Socket, status: number, misdirected = false) {
  const mark = misdirected ? `${MISDIRECTED_HEADER}: 1\r\n` : "";
  client.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unavailable"}\r\n${mark}content-length: 0\r\nconnection: close\r\n\r\n`,
  );
}

export interface IngressHandlerOptions {
  lookup: IngressLookup;
  /** Read per request: the credentials may be reloaded (rotation, a new push). */
  auth: () => CallerAuthentication;
  log: Logger;
  metrics?: Pick<AgentMetrics, "ingressSeconds">;
  /** Told of each request answered, with its status code (a front counts them for the agent). */
  onAnswered?: (code: number) => void;
  /** How long the gateway may take to accept a connection (a 504 after). */
  connectTimeoutMs?: number;
}

/** The `request` and `upgrade` listeners of an ingress server, and what to close with it. */
export interface IngressHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, client: Socket, head: Buffer): void;
  close(): void;
}

/**
 * The ingress data plane's one copy of its checks and proxying, for the
 * agent's port (every sandbox on the node) and a supervisor's front (its own
 * sandbox): the request and response are streamed to and from the VM's
 * Gondolin ingress gateway, and WebSocket upgrades are tunnelled byte for byte.
 */
export function createIngressHandlers({
  lookup,
  auth,
  log,
  metrics,
  onAnswered,
  connectTimeoutMs = GATEWAY_CONNECT_TIMEOUT_MS,
}: IngressHandlerOptions): IngressHandlers {
  // Plain HTTP on this host's loopback, one upstream per sandbox: enough idle
  // connections kept for a busy sandbox (64 concurrent requests reuse theirs
  // instead of each opening one), bounded in all for a full node.
  const proxy = createHttpProxy({ connectTimeoutMs, maxFreeSockets: 64, maxTotalSockets: 4096 });
  /** The gateways' origins, parsed once rather than per request (bounded: cleared when full). */
  const origins = new Map<string, URL>();
  const originOf = ({ host, port }: Reached): URL => {
    const key = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    let origin = origins.get(key);
    if (!origin) {
      if (origins.size >= 1_000) origins.clear();
      origin = new URL(`http://${key}`);
      origins.set(key, origin);
    }
    return origin;
  };
  /** The VM's Gondolin ingress gateway, with the request as sent, less the router's headers. */
  const toGateway = (req: IncomingMessage, target: Reached): Upstream => ({
    origin: originOf(target),
    path: req.url ?? "/",
    headers: withoutRouterHeaders,
    responseHeaders: withoutMisdirectedMark,
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
  return {
    request(req, res) {
      const timer = metrics?.ingressSeconds.startTimer();
      if (timer) res.once("close", () => timer({ code: String(res.statusCode) }));
      if (onAnswered) res.once("close", () => onAnswered(res.statusCode));
      const target = resolveTarget(lookup, req, auth());
      if ("status" in target) return refuse(res, target);
      // Activity for idleTimeout (throttled inside: this is every request).
      target.sandbox.touch();
      proxy.web(req, res, toGateway(req, target));
    },
    upgrade(req, client, head) {
      const target = resolveTarget(lookup, req, auth());
      if ("status" in target)
        return refuseUpgrade(client, target.status, target.misdirected === true);
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
    },
    close: () => proxy.close(),
  };
}

/** Attaches ingress handlers to an http or https server (not yet listening). */
export function serveIngress(server: Server, handlers: IngressHandlers): Server {
  server.on("request", handlers.request);
  server.on("upgrade", handlers.upgrade);
  return server;
}

export interface IngressServerOptions extends IngressHandlerOptions {
  tls?: AgentTls;
}

/**
 * The agent's ingress port: one port for every sandbox on this node. The
 * router names the sandbox in a header, and only the router may (its client
 * certificate, or on an --insecure agent a ticket for that sandbox). A
 * supervised sandbox is also served by its own front (`SandboxFront`); this
 * port is the fallback, and the only path for in-process sandboxes.
 */
export function createIngressServer({ tls, ...options }: IngressServerOptions): Server {
  const handlers = createIngressHandlers(options);
  const server: Server = tls ? createTlsServer(tlsServerOptions(tls)) : createServer();
  serveIngress(server, handlers);
  server.on("close", () => handlers.close());
  return server;
}

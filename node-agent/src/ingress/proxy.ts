import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { createServer as createTlsServer } from "node:https";
import { connect, type Socket } from "node:net";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER } from "@turgon/api/agent";
import { type CallerAuthentication, ingressAllowed } from "../api/auth.ts";
import { type AgentTls, tlsServerOptions } from "../api/tls.ts";
import type { Logger } from "../logger.ts";
import type { AgentMetrics } from "../metrics/metrics.ts";
import type { SandboxManager } from "../sandboxes/manager.ts";
import type { ManagedSandbox } from "../sandboxes/sandbox.ts";
import { refusedByHooks } from "./hooks.ts";

/** Headers that belong to one hop and must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

function forwardHeaders(headers: IncomingHttpHeaders, keepUpgrade: boolean): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === SANDBOX_HEADER || name === INGRESS_TICKET_HEADER) continue;
    if (!keepUpgrade && HOP_BY_HOP.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

type Target =
  | { host: string; port: number; sandbox: ManagedSandbox }
  | { status: number; message: string; retryAfter?: number };

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
  if (sandbox.phase !== "Running" || !sandbox.ingress)
    return { status: 503, message: `sandbox ${uid} is ${sandbox.phase}`, retryAfter: 5 };
  if (refusedByHooks(sandbox.desired, req.url ?? "/")) return DENIED_PATH;
  return { host: sandbox.ingress.host, port: sandbox.ingress.port, sandbox };
}

function refuse(
  res: ServerResponse,
  target: { status: number; message: string; retryAfter?: number },
) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.retryAfter) headers["retry-after"] = String(target.retryAfter);
  res.writeHead(target.status, headers).end(`${JSON.stringify({ error: target.message })}\n`);
}

export interface IngressServerOptions {
  manager: SandboxManager;
  auth: CallerAuthentication;
  log: Logger;
  metrics?: AgentMetrics;
  tls?: AgentTls;
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
}: IngressServerOptions): Server {
  const server: Server = tls ? createTlsServer(tlsServerOptions(tls)) : createServer();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const timer = metrics?.ingressSeconds.startTimer();
    if (timer) res.once("close", () => timer({ code: String(res.statusCode) }));
    const target = resolveTarget(manager, req, auth);
    if ("status" in target) return refuse(res, target);
    // Activity for idleTimeout (throttled inside: this is every request).
    target.sandbox.touch();
    const upstream = request(
      {
        host: target.host,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: forwardHeaders(req.headers, false),
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, forwardHeaders(answer.headers, false));
        answer.pipe(res);
      },
    );
    upstream.on("error", (error) => {
      log.warn({ err: error, uid: req.headers[SANDBOX_HEADER] }, "ingress upstream failed");
      if (!res.headersSent)
        refuse(res, { status: 502, message: `sandbox gateway failed: ${error.message}` });
      else res.destroy(error);
    });
    req.pipe(upstream);
  });

  server.on("upgrade", (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = resolveTarget(manager, req, auth);
    if ("status" in target) {
      client.end(
        `HTTP/1.1 ${target.status} ${STATUS_CODES[target.status] ?? "Unavailable"}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
      );
      return;
    }
    target.sandbox.touch();
    const upstream = connect(target.port, target.host, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (const [name, value] of Object.entries(forwardHeaders(req.headers, true))) {
        for (const v of Array.isArray(value) ? value : [value])
          if (v !== undefined) lines.push(`${name}: ${v}`);
      }
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      // A long-lived WebSocket is activity for as long as messages flow either way.
      const touch = () => target.sandbox.touch();
      upstream.on("data", touch);
      client.on("data", touch);
    });
    const close = () => {
      upstream.destroy();
      client.destroy();
    };
    upstream.on("error", close);
    client.on("error", close);
  });
  return server;
}

import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createTlsServer } from "node:https";
import { connect, type Socket } from "node:net";
import { SANDBOX_HEADER } from "@turgon/api/agent";
import { EXEC_PATH, hostLabel, INGRESS_COOKIE, INGRESS_TOKEN_PARAM } from "@turgon/api/routing";
import type { Logger } from "../logger.ts";
import type { Route, SandboxDirectory } from "./directory.ts";
import type { ExecEdge } from "./exec.ts";
import type { RouterMetrics } from "./metrics.ts";
import { type Refusal, refuse } from "./pages.ts";
import { TokenError, type TokenKeys } from "./tokens.ts";

/** Headers that belong to one hop (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

export interface ProxyOptions {
  directory: SandboxDirectory;
  keys: TokenKeys;
  metrics: RouterMetrics;
  log: Logger;
  domain: string;
  signInUrl: string;
  connectTimeoutMs: number;
  tls?: { cert: string; key: string };
  /** Exec at the edge, on the router's own host; absent when no agent token is configured. */
  exec?: ExecEdge;
}

type Serve = Extract<Route, { kind: "serve" }>;
type Decision =
  | { kind: "forward"; route: Serve; path: string }
  | { kind: "refuse"; refusal: Refusal }
  | { kind: "redirect"; location: string; cookie?: string };

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

/** The Cookie header without ours: the guest never sees the ingress token. */
function stripCookie(header: string | undefined): string | undefined {
  const kept = (header ?? "")
    .split(";")
    .map((p) => p.trim())
    .filter((p) => p && !p.startsWith(`${INGRESS_COOKIE}=`));
  return kept.length ? kept.join("; ") : undefined;
}

/**
 * The router's data path: Host → sandbox (informer caches) → access check
 * (signed, expiring token scoped to the sandbox's host) → the agent's
 * ingress port, streamed both ways; WebSocket upgrades are tunnelled.
 */
export function createRouterServer(options: ProxyOptions): Server {
  const { directory, keys, metrics, log } = options;
  const scheme = options.tls ? "https" : "http";
  const agentPool = new Agent({ keepAlive: true, maxSockets: 256 });

  const decide = async (req: IncomingMessage): Promise<Decision> => {
    const label = hostLabel(req.headers.host, options.domain);
    if (!label)
      return {
        kind: "refuse",
        refusal: {
          status: 404,
          reason: "UnknownHost",
          message: `${req.headers.host ?? "(no host)"} is not under ${options.domain}`,
        },
      };
    const route = directory.route(label);
    if (route.kind === "refuse") return { kind: "refuse", refusal: route };
    const url = new URL(req.url ?? "/", `${scheme}://${req.headers.host}`);
    const fromQuery = url.searchParams.get(INGRESS_TOKEN_PARAM) ?? undefined;
    url.searchParams.delete(INGRESS_TOKEN_PARAM);
    const path = `${url.pathname}${url.search}`;
    if (route.access === "public") return { kind: "forward", route, path };
    const token = fromQuery ?? cookieValue(req.headers.cookie, INGRESS_COOKIE);
    try {
      const claims = await keys.verify(token, label);
      if (route.access === "private" && !claims.admin && !claims.teams.includes(route.team)) {
        return {
          kind: "refuse",
          refusal: {
            status: 403,
            reason: "NotATeamMember",
            message: `${claims.sub} is not a member of team ${route.team}, which owns this sandbox`,
          },
        };
      }
      if (fromQuery) {
        // The sign-in flow hands the token over once; keep it in a host-only cookie and drop it from the URL.
        const maxAge = Math.max(0, claims.exp - Math.floor(Date.now() / 1000));
        const cookie = `${INGRESS_COOKIE}=${fromQuery}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${scheme === "https" ? "; Secure" : ""}`;
        return { kind: "redirect", location: url.toString(), cookie };
      }
      return { kind: "forward", route, path };
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      const signIn = new URL(options.signInUrl);
      signIn.searchParams.set("return", url.toString());
      metrics.errors.inc({ reason: `token-${error.problem}` });
      return { kind: "redirect", location: signIn.toString() };
    }
  };

  const forwardHeaders = (
    req: IncomingMessage,
    route: Serve,
    upgrade: boolean,
  ): IncomingHttpHeaders => {
    const out: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === SANDBOX_HEADER || name === "cookie" || name.startsWith("x-forwarded-")) continue;
      if (!upgrade && HOP_BY_HOP.has(name)) continue;
      out[name] = value;
    }
    const cookie = stripCookie(req.headers.cookie);
    if (cookie) out.cookie = cookie;
    const client = req.socket.remoteAddress ?? "";
    const prior = req.headers["x-forwarded-for"];
    out["x-forwarded-for"] = prior ? `${prior}, ${client}` : client;
    out["x-forwarded-proto"] = scheme;
    out["x-forwarded-host"] = req.headers.host ?? "";
    out[SANDBOX_HEADER] = route.uid;
    return out;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    res.once("close", () => {
      const code = String(res.statusCode);
      metrics.requests.inc({ code: `${code[0]}xx`, kind: "http" });
      metrics.seconds.observe({ code }, (performance.now() - started) / 1000);
    });
    const decision = await decide(req);
    if (decision.kind === "refuse") {
      metrics.errors.inc({ reason: decision.refusal.reason });
      return refuse(req, res, decision.refusal);
    }
    if (decision.kind === "redirect") {
      res
        .writeHead(302, {
          location: decision.location,
          "cache-control": "no-store",
          ...(decision.cookie ? { "set-cookie": decision.cookie } : {}),
        })
        .end();
      return;
    }
    const agent = new URL(decision.route.agent);
    const upstream = request({
      host: agent.hostname,
      port: agent.port,
      method: req.method,
      path: decision.path,
      headers: forwardHeaders(req, decision.route, false),
      agent: agentPool,
    });
    upstream.on("socket", (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => upstream.destroy(new Error(`no connection within ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      socket.once("connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    });
    upstream.on("response", (answer) => {
      const headers: IncomingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers))
        if (!HOP_BY_HOP.has(name)) headers[name] = value;
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    upstream.on("error", (error) => {
      log.warn({ err: error, sandbox: decision.route.uid }, "agent ingress failed");
      if (!res.headersSent) {
        metrics.errors.inc({ reason: "AgentUnreachable" });
        refuse(req, res, {
          status: 502,
          reason: "AgentUnreachable",
          message: `the sandbox's node agent did not answer: ${error.message}`,
        });
      } else res.destroy(error);
    });
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  const server = options.tls ? createTlsServer(options.tls) : createServer();
  server.keepAliveTimeout = 65_000;
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error) => {
      log.error({ err: error }, "router request failed");
      if (!res.headersSent)
        refuse(req, res, { status: 502, reason: "RouterError", message: (error as Error).message });
      else res.destroy();
    });
  });
  server.on("upgrade", (req: IncomingMessage, client: Socket, head: Buffer) => {
    metrics.requests.inc({ code: "1xx", kind: "websocket" });
    if (!hostLabel(req.headers.host, options.domain) && req.url?.startsWith(EXEC_PATH)) {
      if (!options.exec) {
        client.end("HTTP/1.1 503 ExecDisabled\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
      }
      void options.exec.upgrade(req, client, head).catch((error) => {
        log.warn({ err: error }, "exec upgrade failed");
        client.destroy();
      });
      return;
    }
    void tunnel(req, client, head).catch((error) => {
      log.warn({ err: error }, "WebSocket tunnel failed");
      client.destroy();
    });
  });

  const tunnel = async (req: IncomingMessage, client: Socket, head: Buffer) => {
    const decision = await decide(req);
    if (decision.kind !== "forward") {
      const status = decision.kind === "refuse" ? decision.refusal.status : 401;
      const reason = decision.kind === "refuse" ? decision.refusal.reason : "SignInRequired";
      metrics.errors.inc({ reason });
      client.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      return;
    }
    const agent = new URL(decision.route.agent);
    const upstream = connect(Number(agent.port), agent.hostname);
    const timer = setTimeout(
      () => upstream.destroy(new Error("connect timeout")),
      options.connectTimeoutMs,
    );
    upstream.once("connect", () => {
      clearTimeout(timer);
      const lines = [`${req.method} ${decision.path} HTTP/1.1`];
      for (const [name, value] of Object.entries(forwardHeaders(req, decision.route, true)))
        for (const v of Array.isArray(value) ? value : [value])
          if (v !== undefined) lines.push(`${name}: ${v}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const close = () => {
      clearTimeout(timer);
      if (!upstream.readyState || upstream.connecting)
        client.end(
          "HTTP/1.1 502 AgentUnreachable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
      upstream.destroy();
      client.destroy();
    };
    upstream.on("error", close);
    client.on("error", close);
  };
  server.on("close", () => agentPool.destroy());
  return server;
}

import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import {
  createServer as createTlsServer,
  Agent as HttpsAgent,
  request as httpsRequest,
} from "node:https";
import { connect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { INGRESS_TICKET_HEADER, SANDBOX_HEADER } from "@turgon/api/agent";
import {
  type AgentCredentials,
  agentIngressHeaders,
  agentTlsOptions,
} from "@turgon/api/agent/credentials";
import type { IngressTokenClaims } from "@turgon/api/routing";
import { EXEC_PATH, hostLabel, INGRESS_TOKEN_PARAM } from "@turgon/api/routing";
import {
  cookieValue,
  guestSetCookie,
  guestSetCookies,
  ingressCookie,
  ingressCookieName,
  withoutRouterCookies,
} from "../access/cookies.ts";
import { ReplayCheckUnavailable, type SingleUseGuard } from "../access/replay.ts";
import { TokenError, type TokenKeys } from "../access/tokens.ts";
import type { Route, SandboxDirectory } from "../directory/directory.ts";
import type { ExecEdge } from "../exec/edge.ts";
import type { Logger } from "../logger.ts";
import type { RouterMetrics } from "../metrics.ts";
import { isForwardingHeader, type TrustedProxies } from "./forwarded.ts";
import { type Refusal, refuse, refuseUpgrade } from "./pages.ts";
import { crossSiteRefusal, ownOrigin, pathOf, requestUrl, siteUrl } from "./site.ts";

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
  /** Serve HTTPS with this certificate. */
  tls?: { cert: string; key: string };
  /** Browsers reach the router over TLS (its own, or a terminator's in front): https URLs, a __Host- Secure cookie. */
  https: boolean;
  /** Peers whose forwarding headers are believed. */
  trustedProxies: TrustedProxies;
  /** Exec at the edge, on the router's own host. */
  exec?: ExecEdge;
  /** How the router proves to agents that it may pick a sandbox on their ingress port. */
  agentCredentials: AgentCredentials;
  /** Takes each hand-off token once (Redis, shared by replicas). */
  handoffs: SingleUseGuard;
  /** Lifetime of the session cookie the router sets after a hand-off. */
  sessionTtlSeconds: number;
}

type Serve = Extract<Route, { kind: "serve" }>;
type Decision =
  | { kind: "forward"; route: Serve; path: string }
  | { kind: "refuse"; refusal: Refusal }
  | { kind: "redirect"; location: string; cookie?: string };

/** The most a WebSocket answer's head may take before the router gives up on it. */
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * Relays the head of the agent's answer to a WebSocket upgrade with the
 * guest's Set-Cookie lines made host-only (browsers take cookies from a 101
 * too), then the rest of the stream as is.
 */
function relayUpgradeAnswer(upstream: Socket, client: Socket, fail: (error: Error) => void): void {
  let head = Buffer.alloc(0);
  const onEnd = () => fail(new Error("the agent closed before answering the upgrade"));
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (head.length > MAX_RESPONSE_HEAD) fail(new Error("the agent's answer has no end of head"));
      return;
    }
    upstream.off("data", onData);
    upstream.off("end", onEnd);
    upstream.pause();
    const lines = head
      .subarray(0, end)
      .toString("latin1")
      .split("\r\n")
      .flatMap((line) => {
        const match = /^set-cookie:(.*)$/i.exec(line);
        if (!match) return [line];
        const cookie = guestSetCookie((match[1] ?? "").trim());
        return cookie === undefined ? [] : [`Set-Cookie: ${cookie}`];
      });
    client.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
    const rest = head.subarray(end + 4);
    if (rest.length > 0) client.write(rest);
    upstream.pipe(client);
  };
  upstream.on("data", onData);
  upstream.once("end", onEnd);
}

/** Private sandboxes admit their team and admins; authenticated ones anyone signed in. */
function teamRefusal(route: Serve, claims: IngressTokenClaims): Decision | undefined {
  if (route.access !== "private" || claims.admin || claims.teams.includes(route.team))
    return undefined;
  return {
    kind: "refuse",
    refusal: {
      status: 403,
      reason: "NotATeamMember",
      message: `${claims.sub} is not a member of team ${route.team}, which owns this sandbox`,
    },
  };
}

/**
 * The router's data path: Host → sandbox (informer caches) → access check
 * (signed, expiring token scoped to the sandbox's host) → the agent's
 * ingress port, streamed both ways; WebSocket upgrades are tunnelled.
 */
export function createRouterServer(options: ProxyOptions): Server {
  const { directory, keys, metrics, log } = options;
  const scheme = options.https ? "https" : "http";
  const cookieName = ingressCookieName(options.https);
  // Keep-alive pools to agents' ingress ports: https with the router's client certificate.
  const agentPools = {
    http: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
    https: new HttpsAgent({
      keepAlive: true,
      maxSockets: 256,
      ...agentTlsOptions(options.agentCredentials),
    }),
  };

  const decide = async (req: IncomingMessage, upgrade: boolean): Promise<Decision> => {
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
    // Every URL the router builds (redirects, return=) starts from this origin, never from the request line.
    const origin = ownOrigin(scheme, label, options.domain, req.headers.host);
    const url = origin ? requestUrl(req.url, origin) : undefined;
    if (!origin || !url)
      return {
        kind: "refuse",
        refusal: {
          status: 400,
          reason: "BadRequestTarget",
          message: `${req.url ?? "(none)"} is not a path on ${req.headers.host}`,
        },
      };
    const crossSite = crossSiteRefusal(req.method, req.headers, origin, upgrade);
    if (crossSite) return { kind: "refuse", refusal: crossSite };
    const route = directory.route(label);
    if (route.kind === "refuse") return { kind: "refuse", refusal: route };
    const fromQuery = url.searchParams.get(INGRESS_TOKEN_PARAM) ?? undefined;
    // Only a URL that carried the token has its query re-serialized; the others keep theirs.
    if (url.searchParams.has(INGRESS_TOKEN_PARAM)) url.searchParams.delete(INGRESS_TOKEN_PARAM);
    const path = pathOf(url);
    if (route.access === "public") return { kind: "forward", route, path };
    try {
      if (fromQuery !== undefined) return await handOff(fromQuery, label, route, origin, url);
      const claims = await keys.verify(
        cookieValue(req.headers.cookie, cookieName),
        label,
        "session",
      );
      return teamRefusal(route, claims) ?? { kind: "forward", route, path };
    } catch (error) {
      if (error instanceof ReplayCheckUnavailable) {
        log.warn({ err: error }, "could not check a hand-off token's single use");
        return {
          kind: "refuse",
          refusal: {
            status: 503,
            reason: "HandoffCheckUnavailable",
            message: "sign-in cannot be completed right now; try again shortly",
          },
        };
      }
      if (!(error instanceof TokenError)) throw error;
      const signIn = new URL(options.signInUrl);
      signIn.searchParams.set("return", siteUrl(origin, url));
      metrics.errors.inc({ reason: `token-${error.problem}` });
      return { kind: "redirect", location: signIn.toString() };
    }
  };

  /**
   * The sign-in flow's hand-off: a one-minute, single-use token in the URL
   * becomes a session cookie of the router's own, on this host only, and
   * the URL loses the token.
   */
  const handOff = async (
    token: string,
    label: string,
    route: Serve,
    origin: string,
    url: URL,
  ): Promise<Decision> => {
    const claims = await keys.verify(token, label, "handoff");
    const refused = teamRefusal(route, claims);
    if (refused) return refused;
    if (!(await options.handoffs.claim(claims.jti ?? "", claims.exp)))
      throw new TokenError("replayed", "this hand-off token was already used");
    const { sub, teams, admin } = claims;
    const session = await keys.mintSession(
      { sub, aud: label, teams, admin },
      options.sessionTtlSeconds,
    );
    const cookie = ingressCookie(options.https, session, options.sessionTtlSeconds);
    return { kind: "redirect", location: siteUrl(origin, url), cookie };
  };

  const forwardHeaders = (
    req: IncomingMessage,
    route: Serve,
    upgrade: boolean,
  ): IncomingHttpHeaders => {
    const out: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (
        name === SANDBOX_HEADER ||
        name === INGRESS_TICKET_HEADER ||
        name === "cookie" ||
        isForwardingHeader(name)
      )
        continue;
      if (!upgrade && HOP_BY_HOP.has(name)) continue;
      out[name] = value;
    }
    const cookie = withoutRouterCookies(req.headers.cookie);
    if (cookie) out.cookie = cookie;
    Object.assign(
      out,
      options.trustedProxies.forwardingHeaders(req.headers, req.socket.remoteAddress, scheme),
    );
    out[SANDBOX_HEADER] = route.uid;
    Object.assign(out, agentIngressHeaders(options.agentCredentials, route.uid));
    return out;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    res.once("close", () => {
      const code = String(res.statusCode);
      metrics.requests.inc({ code: `${code[0]}xx`, kind: "http" });
      metrics.seconds.observe({ code }, (performance.now() - started) / 1000);
    });
    const decision = await decide(req, false);
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
    const secure = agent.protocol === "https:";
    const upstream = (secure ? httpsRequest : httpRequest)({
      host: agent.hostname,
      port: agent.port,
      method: req.method,
      path: decision.path,
      headers: forwardHeaders(req, decision.route, false),
      agent: secure ? agentPools.https : agentPools.http,
      // Verify the agent by its own address, not by the sandbox's Host header (Node's default).
      ...(secure ? { servername: isIP(agent.hostname) ? "" : agent.hostname } : {}),
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
        if (!HOP_BY_HOP.has(name) && name !== "set-cookie") headers[name] = value;
      const cookies = guestSetCookies(answer.headers["set-cookie"]);
      if (cookies) headers["set-cookie"] = cookies;
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
    const decision = await decide(req, true);
    if (decision.kind !== "forward") {
      const refusal: Refusal =
        decision.kind === "refuse"
          ? decision.refusal
          : {
              status: 401,
              reason: "SignInRequired",
              message: "sign in first: a WebSocket cannot follow the sign-in redirect",
            };
      metrics.errors.inc({ reason: refusal.reason });
      refuseUpgrade(client, refusal);
      return;
    }
    const agent = new URL(decision.route.agent);
    const secure = agent.protocol === "https:";
    const upstream = secure
      ? tlsConnect({
          host: agent.hostname,
          port: Number(agent.port),
          ...agentTlsOptions(options.agentCredentials),
        })
      : connect(Number(agent.port), agent.hostname);
    const timer = setTimeout(
      () => upstream.destroy(new Error("connect timeout")),
      options.connectTimeoutMs,
    );
    upstream.once(secure ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      const lines = [`${req.method} ${decision.path} HTTP/1.1`];
      for (const [name, value] of Object.entries(forwardHeaders(req, decision.route, true)))
        for (const v of Array.isArray(value) ? value : [value])
          if (v !== undefined) lines.push(`${name}: ${v}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      relayUpgradeAnswer(upstream, client, close);
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
  server.on("close", () => {
    agentPools.http.destroy();
    agentPools.https.destroy();
  });
  return server;
}

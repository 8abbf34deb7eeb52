import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  ServerResponse,
} from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Socket } from "node:net";
import { INGRESS_TICKET_HEADER, MISDIRECTED_HEADER, SANDBOX_HEADER } from "@turgon/api/agent";
import {
  type AgentCredentials,
  agentIngressHeaders,
  agentTlsOptions,
} from "@turgon/api/agent/credentials";
import type { IngressTokenClaims } from "@turgon/api/routing";
import { EXEC_PATH, hostLabel, INGRESS_TOKEN_PARAM } from "@turgon/api/routing";
import { createHttpProxy, type ProxyFailure, type Upstream } from "@turgon/toolkit/http-proxy";
import {
  cookieValue,
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
import type { SandboxWaker } from "../wake/waker.ts";
import { isForwardingHeader, type TrustedProxies } from "./forwarded.ts";
import {
  FrontHealth,
  frontFallbackReason,
  mayHaveReachedGuest,
  replayableMethod,
  withoutBody,
} from "./fronts.ts";
import { type Refusal, refuse, refuseUpgrade } from "./pages.ts";
import { crossSiteRefusal, ownOrigin, pathOf, requestUrl, siteUrl } from "./site.ts";

export interface ProxyOptions {
  directory: SandboxDirectory;
  keys: TokenKeys;
  metrics: RouterMetrics;
  log: Logger;
  domain: string;
  signInUrl: string;
  connectTimeoutMs: number;
  /** How long a request waits for a pooled connection to a busy sandbox or agent before a 503; unbounded when unset. */
  queueTimeoutMs?: number;
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
  /** Which sandboxes' fronts failed recently (tests pass one with their own clock). */
  fronts?: FrontHealth;
  /**
   * Bounds of the pools, unless set: to fronts (one per sandbox) at most
   * 4096 connections in all (requests beyond wait for one, or take the
   * place of another front's idle one) and 32 idle ones kept per front; to
   * agents' ingress ports (each serving a whole node's sandboxes) at most
   * 4096 in all and 64 idle ones kept per agent. Enough are kept idle that a
   * busy sandbox's requests reuse connections instead of each paying for a
   * TLS handshake (4 kept per port cost 90% of the throughput at 64
   * concurrent requests).
   */
  pool?: {
    maxTotalSockets?: number;
    maxFreeSockets?: number;
    agents?: { maxTotalSockets?: number; maxFreeSockets?: number };
  };
  /** Wakes suspended sandboxes with wakeOnRequest; without it they answer 503 Suspended. */
  waker?: SandboxWaker;
}

type Serve = Extract<Route, { kind: "serve" }>;
type Asleep = Extract<Route, { kind: "wake" }>;
type Decision =
  | { kind: "forward"; route: Serve; path: string }
  | { kind: "wake"; route: Asleep }
  | { kind: "refuse"; refusal: Refusal }
  | { kind: "redirect"; location: string; cookie?: string };

/** Private sandboxes admit their team and admins; authenticated ones anyone signed in. */
/** What the client is told when the sandbox's ingress failed: busy (503, try again), timed out (504) or unreachable (502). */
function failureRefusal(failure: ProxyFailure): Refusal {
  if (failure.status === 503)
    return {
      status: 503,
      reason: "SandboxBusy",
      message: `every connection to the sandbox is in use: ${failure.message}`,
      retryAfter: 1,
    };
  if (failure.status === 504)
    return {
      status: 504,
      reason: "AgentTimeout",
      message: `the sandbox's node agent did not answer in time: ${failure.message}`,
    };
  return {
    status: 502,
    reason: "AgentUnreachable",
    message: `the sandbox's node agent did not answer: ${failure.message}`,
  };
}

function teamRefusal(
  route: Pick<Serve, "access" | "team">,
  claims: IngressTokenClaims,
): Decision | undefined {
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
 * (signed, expiring token scoped to the sandbox's host) → the sandbox's own
 * front (its supervisor's port, which serves while the agent is down), or
 * the agent's ingress port when it has none or it failed, streamed both
 * ways; WebSocket upgrades are tunnelled the same way.
 */
export function createRouterServer(options: ProxyOptions): Server {
  const { directory, keys, metrics, log } = options;
  const scheme = options.https ? "https" : "http";
  const cookieName = ingressCookieName(options.https);
  const fronts = options.fronts ?? new FrontHealth();
  // To fronts and agents' ingress ports, pooled per sandbox: https with the router's client certificate.
  const proxy = createHttpProxy({
    connectTimeoutMs: options.connectTimeoutMs,
    ...(options.queueTimeoutMs ? { queueTimeoutMs: options.queueTimeoutMs } : {}),
    tls: agentTlsOptions(options.agentCredentials),
    // One upstream per sandbox front, so per-upstream bounds alone add up with the sandboxes.
    maxTotalSockets: options.pool?.maxTotalSockets ?? 4096,
    maxFreeSockets: options.pool?.maxFreeSockets ?? 32,
    shared: {
      maxTotalSockets: options.pool?.agents?.maxTotalSockets ?? 4096,
      maxFreeSockets: options.pool?.agents?.maxFreeSockets ?? 64,
    },
  });

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
    // A sleeping sandbox is woken only by a request its access admits (the same checks as serving).
    const admitted = (): Decision =>
      route.kind === "wake" ? { kind: "wake", route } : { kind: "forward", route, path };
    if (route.access === "public") return admitted();
    try {
      if (fromQuery !== undefined) return await handOff(fromQuery, label, route, origin, url);
      const claims = await keys.verify(
        cookieValue(req.headers.cookie, cookieName),
        label,
        "session",
      );
      return teamRefusal(route, claims) ?? admitted();
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
   * `decide`, and for an admitted request to a sleeping sandbox: wake it,
   * hold the request until it serves (bounded: `wake/waker.ts`), and decide
   * again, so the access in force then is checked once more.
   */
  const decideAwake = async (
    req: IncomingMessage,
    upgrade: boolean,
    answer: ServerResponse | Socket,
  ): Promise<Exclude<Decision, { kind: "wake" }>> => {
    const decision = await decide(req, upgrade);
    if (decision.kind !== "wake") return decision;
    const name = `${decision.route.sandbox.metadata.namespace}/${decision.route.sandbox.metadata.name}`;
    const asleep: Refusal = {
      status: 503,
      reason: "Suspended",
      message: `sandbox ${name} is suspended`,
      retryAfter: 30,
    };
    if (!options.waker) return { kind: "refuse", refusal: asleep };
    const label = hostLabel(req.headers.host, options.domain) as string;
    // A client that leaves gives its place back (only held requests pay for this).
    const gone = new AbortController();
    const leave = () => gone.abort();
    answer.once("close", leave);
    // A client that left while its access was checked closed before the listener: not held at all.
    if ((answer instanceof ServerResponse ? answer.req.socket : answer).destroyed) gone.abort();
    const refusal = await options.waker.hold(decision.route, label, gone.signal);
    answer.off("close", leave);
    if (refusal) return { kind: "refuse", refusal };
    const again = await decide(req, upgrade);
    return again.kind === "wake" ? { kind: "refuse", refusal: asleep } : again;
  };

  /**
   * The sign-in flow's hand-off: a one-minute, single-use token in the URL
   * becomes a session cookie of the router's own, on this host only, and
   * the URL loses the token.
   */
  const handOff = async (
    token: string,
    label: string,
    route: Serve | Asleep,
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

  /**
   * Where a forwarded request goes: the sandbox's front unless it has none
   * or it is marked down, else the agent's ingress port. The headers are
   * the same on both (the sandbox named, the router's credential, the
   * router's view of the client), built from the client's headers as sent,
   * so a retry builds them anew rather than from the first attempt's.
   */
  const forward = (req: IncomingMessage, route: Serve, path: string): Upstream => {
    const sent = req.headers;
    const toAgent: Upstream = {
      ...upstream(req, sent, route, path, route.agent, (failure, answer) =>
        answerFailure(failure, req, route, answer),
      ),
      shared: true,
    };
    const front = route.front;
    if (!front) return toAgent;
    if (fronts.isDown(route.uid, front)) {
      metrics.frontFallbacks.inc({ reason: "marked-down" });
      return toAgent;
    }
    // Decided now: the proxy drops Transfer-Encoding from the request's headers on the way.
    const fallback = withoutBody(sent) ? toAgent : undefined;
    return {
      ...upstream(req, sent, route, path, front, (failure, answer) =>
        frontFailed(failure, req, route, front, answer, fallback),
      ),
      // The front's own 421 (its mark on it): the port is another sandbox's front now, or no
      // longer one; never relayed. A guest's 421 has no mark (the front strips it) and is relayed.
      acceptResponse: (status, headers) =>
        !(status === 421 && headers[MISDIRECTED_HEADER] !== undefined),
    };
  };

  /** Fronts' and agents' origins, parsed once rather than per request (bounded: cleared when full). */
  const origins = new Map<string, URL>();
  const originOf = (base: string): URL => {
    let origin = origins.get(base);
    if (!origin) {
      if (origins.size >= 10_000) origins.clear();
      origin = new URL(base);
      origins.set(base, origin);
    }
    return origin;
  };

  const upstream = (
    req: IncomingMessage,
    sent: IncomingHttpHeaders,
    route: Serve,
    path: string,
    base: string,
    onFailure: Upstream["onFailure"],
  ): Upstream => ({
    origin: originOf(base),
    path,
    headers: (forwardable) => {
      const out: IncomingHttpHeaders = {};
      for (const [name, value] of Object.entries(forwardable)) {
        if (
          name === SANDBOX_HEADER ||
          name === INGRESS_TICKET_HEADER ||
          name === "cookie" ||
          isForwardingHeader(name)
        )
          continue;
        out[name] = value;
      }
      const cookie = withoutRouterCookies(sent.cookie);
      if (cookie) out.cookie = cookie;
      Object.assign(
        out,
        options.trustedProxies.forwardingHeaders(sent, req.socket.remoteAddress, scheme),
      );
      out[SANDBOX_HEADER] = route.uid;
      Object.assign(out, agentIngressHeaders(options.agentCredentials, route.uid));
      return out;
    },
    // Guest cookies become host-only, on HTTP and on a WebSocket's answer (browsers take them from a 101 too).
    responseHeaders: (headers) => {
      const { "set-cookie": _, [MISDIRECTED_HEADER]: _mark, ...rest } = headers;
      const cookies = guestSetCookies(headers["set-cookie"]);
      return cookies ? { ...rest, "set-cookie": cookies } : rest;
    },
    onFailure,
  });

  /**
   * The front failed. Before it answered (or with its own 421) it is
   * marked down, and a request without a body goes once to the agent's
   * port on the same response or socket; one with a body cannot (part of
   * it went to the front), so it gets 503 with Retry-After and the client's
   * next attempt goes to the agent. After a reset or a timeout the front
   * may have handed the request to the guest already, so only a GET, HEAD
   * or OPTIONS (upgrades included) is sent again; any other is answered
   * as the agent's failure would be. Any other failure is the sandbox's,
   * answered the same way.
   */
  const frontFailed = (
    failure: ProxyFailure,
    req: IncomingMessage,
    route: Serve,
    front: string,
    answer: ServerResponse | Socket | undefined,
    fallback: Upstream | undefined,
  ) => {
    const reason = frontFallbackReason(failure, answer !== undefined);
    if (!reason) return answerFailure(failure, req, route, answer, "front");
    if (fronts.markDown(route.uid, front)) {
      const fields = { err: failure.error, sandbox: route.uid, front, reason };
      if (reason === "misdirected")
        log.warn(fields, "front answered 421: its port is no longer this sandbox's front");
      else if (reason === "tls")
        log.warn(
          fields,
          "front failed the TLS handshake: does it present the agent's current certificate?",
        );
      else
        log.warn(
          fields,
          "front unreachable: does the NetworkPolicy allow the agent's --front-ports?",
        );
    }
    if (mayHaveReachedGuest(reason) && !replayableMethod(req.method))
      return answerFailure(failure, req, route, answer, "front");
    metrics.frontFallbacks.inc({ reason });
    if (!answer) return;
    if (fallback) {
      if (answer instanceof ServerResponse) proxy.web(req, answer, fallback);
      // The upgrade's head was put back on the socket by the first attempt.
      else proxy.ws(req, answer, Buffer.alloc(0), fallback);
      return;
    }
    const refusal: Refusal = {
      status: 503,
      reason: "SandboxFrontUnavailable",
      message: "the sandbox's front did not take the request, which had a body; send it again",
      retryAfter: 1,
    };
    metrics.errors.inc({ reason: refusal.reason });
    if (answer instanceof ServerResponse) {
      // Part of the body may be unread: this connection carries no further request.
      answer.setHeader("connection", "close");
      refuse(req, answer, refusal);
    } else refuseUpgrade(answer, refusal);
  };

  /** The agent (or a front reached) could not answer or failed: a page while the client can still be told. */
  const answerFailure = (
    failure: ProxyFailure,
    req: IncomingMessage,
    route: Serve,
    answer: ServerResponse | Socket | undefined,
    via: "front" | "agent" = "agent",
  ) => {
    log.warn({ err: failure.error, sandbox: route.uid, via }, "sandbox ingress failed");
    if (!answer) return;
    const refusal = failureRefusal(failure);
    metrics.errors.inc({ reason: refusal.reason });
    if (answer instanceof ServerResponse) refuse(req, answer, refusal);
    else refuseUpgrade(answer, refusal);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    res.once("close", () => {
      const code = String(res.statusCode);
      metrics.requests.inc({ code: `${code[0]}xx`, kind: "http" });
      metrics.seconds.observe({ code }, (performance.now() - started) / 1000);
    });
    const decision = await decideAwake(req, false, res);
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
    proxy.web(req, res, forward(req, decision.route, decision.path));
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
    const decision = await decideAwake(req, true, client);
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
    proxy.ws(req, client, head, forward(req, decision.route, decision.path));
  };
  server.on("close", () => proxy.close());
  return server;
}

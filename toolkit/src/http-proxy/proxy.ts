import {
  type ClientRequest,
  type ClientRequestArgs,
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from "node:https";
import { isIP, type Socket } from "node:net";
import { createSecureContext } from "node:tls";
import { createProxyServer } from "http-proxy-3";
import { withoutHopByHop } from "./hop-by-hop.ts";

/** The upstream took too long to accept the connection, or to send its response head. */
export class UpstreamTimeout extends Error {
  readonly phase: "connect" | "headers";
  readonly ms: number;

  constructor(phase: "connect" | "headers", ms: number) {
    super(
      phase === "connect" ? `no connection within ${ms} ms` : `no response head within ${ms} ms`,
    );
    this.name = "UpstreamTimeout";
    this.phase = phase;
    this.ms = ms;
  }
}

/**
 * No pooled connection to the upstream came free in time: its pool (or the
 * whole pool's total) is taken by requests in flight. Nothing was sent.
 */
export class UpstreamBusy extends Error {
  readonly ms: number;

  constructor(ms: number) {
    super(`no free connection to the upstream within ${ms} ms`);
    this.name = "UpstreamBusy";
    this.ms = ms;
  }
}

/** The upstream answered, with a status its `acceptResponse` refused; nothing of it reached the client. */
export class ResponseRefused extends Error {
  readonly status: number;

  constructor(status: number) {
    super(`the upstream answered ${status}, which the caller does not relay`);
    this.name = "ResponseRefused";
    this.status = status;
  }
}

/** Why an exchange failed, as the client should be told: 504 for a timeout, 503 for a full pool, 502 otherwise. */
export interface ProxyFailure {
  status: 502 | 503 | 504;
  reason: "UpstreamTimeout" | "UpstreamFailed" | "ResponseRefused" | "UpstreamBusy";
  message: string;
  error: Error;
}

/** Where one request goes and how its headers change on the way. */
export interface Upstream {
  /** `http(s)://host:port`. An https upstream is verified by this host, never by the client's Host. */
  origin: URL;
  /** The request target to send: path and query. */
  path: string;
  /** What the upstream sees, from the client's headers without the hop-by-hop ones. */
  headers(forwardable: IncomingHttpHeaders): IncomingHttpHeaders;
  /** What the client sees of the upstream's response head (hop-by-hop already gone), on HTTP and on an upgrade's answer. */
  responseHeaders?(headers: IncomingHttpHeaders): IncomingHttpHeaders;
  /** A WebSocket now flows both ways between these two sockets. */
  onTunnel?(upstream: Socket, client: Socket): void;
  /**
   * Whether a response head with this status goes to the client (on HTTP,
   * and on an upgrade that is not switched). When it returns false the
   * response is drained, never relayed, and `onFailure` gets a
   * `ResponseRefused` with `answer`, so the caller can send the request
   * elsewhere (how a 421 Misdirected Request is retried). `headers` are
   * the upstream's as sent (hop-by-hop included), so a caller can tell an
   * answer of the upstream's own by a header it sets. Every response when
   * unset.
   */
  acceptResponse?(status: number, headers: IncomingHttpHeaders): boolean;
  /**
   * Told of a failed exchange, to log and count it. `answer` is given while
   * the client can still be told (nothing of the response sent yet): the
   * callee writes the refusal there (a ServerResponse, or an upgrade's raw
   * socket), or sends the same request elsewhere at once with `web`/`ws`
   * (an upgrade's `head` was already put back on the socket: pass an empty
   * one). Otherwise the client's connection is cut, so it cannot take a
   * truncated body for a whole one.
   */
  onFailure(failure: ProxyFailure, answer?: ServerResponse | Socket): void;
  /**
   * Pooled with the other shared upstreams (`HttpProxyOptions.shared`): one
   * port serving many sandboxes, such as a node agent's ingress port.
   */
  shared?: boolean;
}

/** How many connections a pool holds (one for http, one for https upstreams). */
export interface PoolBounds {
  /** Most connections per upstream (host and port), 256 unless set. */
  maxSockets?: number;
  /**
   * Most connections across all upstreams of the pool; none unless set. A
   * caller with one upstream per sandbox sets it, so many sandboxes cannot
   * add up to `maxSockets` each. Requests beyond it wait for a socket (the
   * connect timeout starts only once one is assigned).
   */
  maxTotalSockets?: number;
  /**
   * Most idle keep-alive connections kept per upstream, 16 unless set. Each
   * sandbox is an upstream of its own, so this bounds the idle sockets (and
   * their TLS state) per sandbox rather than per node.
   */
  maxFreeSockets?: number;
}

/** The bounds given at the top level are those of the pool of upstreams not marked `shared`. */
export interface HttpProxyOptions extends PoolBounds {
  /** How long a new upstream connection may take before the client gets a 504. */
  connectTimeoutMs: number;
  /** How long the upstream may take to send its response head, from having a connection; none when unset. */
  headersTimeoutMs?: number;
  /**
   * How long a request may wait for a pooled connection when its pool is
   * full of requests in flight, before the client gets a 503; unbounded
   * when unset. Without it, an upstream whose requests hang (or one tenant
   * filling `maxTotalSockets`) makes every request behind them wait forever.
   */
  queueTimeoutMs?: number;
  /** Client TLS for https upstreams: certificate, key, CA. */
  tls?: HttpsAgentOptions;
  /**
   * Bounds of a separate pool for upstreams marked `shared`, whose requests
   * come from many sandboxes (a node agent's ingress port): its idle
   * connections are kept as one busy upstream needs them, while the
   * per-sandbox pool keeps few per sandbox. The same defaults unless set;
   * `maxTotalSockets` of each pool bounds the sum.
   */
  shared?: PoolBounds;
  /** How long an idle pooled connection is kept, 30 s unless set (sooner when the upstream's Keep-Alive hint says so). */
  freeSocketTimeoutMs?: number;
  /**
   * TLS sessions remembered for resumption, across upstreams, 1000 unless
   * set: one per sandbox on a full node, so a new connection to a sandbox
   * resumes instead of doing a full handshake (Node's default is 100).
   */
  maxCachedSessions?: number;
}

export interface HttpProxy {
  /** Streams a request to `upstream` and its response back. */
  web(req: IncomingMessage, res: ServerResponse, upstream: Upstream): void;
  /** Tunnels a WebSocket upgrade to `upstream`. */
  ws(req: IncomingMessage, client: Socket, head: Buffer, upstream: Upstream): void;
  /** Closes the pooled upstream connections. */
  close(): void;
}

/** What Node's Agent has but does not declare. */
interface AgentInternals {
  totalSocketCount: number;
  addRequest(req: ClientRequest, options: ClientRequestArgs): void;
}

/**
 * A pool that is full of idle connections makes room: Node's Agent counts
 * idle sockets towards `maxTotalSockets` and never closes one for another
 * upstream, so a request to a new upstream would wait until some idle
 * socket timed out (30 s). At the bound, a request for an upstream with no
 * idle socket of its own, and below its own `maxSockets`, closes the
 * longest-idle one of another upstream, and the Agent opens one for the
 * waiting request as that one closes.
 */
function makeRoomForNewUpstreams(agent: HttpAgent): void {
  const internals = agent as unknown as AgentInternals;
  const addRequest = internals.addRequest;
  internals.addRequest = (req, options) => {
    if (internals.totalSocketCount >= agent.maxTotalSockets) {
      const name = agent.getName({
        ...options,
        ...(agent as unknown as { options: object }).options,
      });
      // Only for a request that could open a connection of its own: one whose upstream is at its
      // maxSockets waits for its own, and closing another's idle one would only cost that one a handshake.
      const own = agent.sockets[name]?.length ?? 0;
      if (!agent.freeSockets[name]?.length && own < agent.maxSockets)
        for (const [other, sockets] of Object.entries(agent.freeSockets)) {
          const idle = other === name ? undefined : sockets?.[0];
          if (!idle) continue;
          idle.destroy();
          break;
        }
    }
    addRequest.call(agent, req, options);
  };
}

/**
 * A request the Agent queues (its upstream, or the pool's total, is at its
 * bound) fails with UpstreamBusy after `ms` instead of waiting without
 * end; one given a connection at once pays nothing.
 */
function boundQueueWaits(agent: HttpAgent, ms: number): void {
  const internals = agent as unknown as AgentInternals;
  const addRequest = internals.addRequest;
  internals.addRequest = (req, options) => {
    addRequest.call(agent, req, options);
    const name = agent.getName({
      ...options,
      ...(agent as unknown as { options: object }).options,
    });
    // Node pushes a request it cannot serve yet onto the end of its queue: one look, not a scan.
    if (agent.requests[name]?.at(-1) !== (req as never)) return;
    const timer = setTimeout(() => {
      // A queued request's destroy() alone says nothing until a socket comes, so it leaves the queue
      // here (as the Agent itself drops an emptied queue) and its error is raised now.
      const queue = agent.requests[name];
      const at = queue?.indexOf(req as never) ?? -1;
      if (!queue || at === -1) return;
      queue.splice(at, 1);
      if (queue.length === 0) delete (agent.requests as Record<string, unknown>)[name];
      if (req.destroyed) return; // its client left: nobody to tell
      req.destroy();
      req.emit("error", new UpstreamBusy(ms));
    }, ms);
    req.once("socket", () => clearTimeout(timer));
  };
}

/** One request in flight: what the callbacks of the shared proxy server need to know of it. */
interface Exchange {
  upstream: Upstream;
  proxyReq?: ClientRequest;
  /** An upgrade that is past telling the client of a failure: switched, answered otherwise, or the client left. */
  settled?: boolean;
  client?: Socket;
}

function describe(error: Error): ProxyFailure {
  if (error instanceof UpstreamTimeout)
    return { status: 504, reason: "UpstreamTimeout", message: error.message, error };
  if (error instanceof ResponseRefused)
    return { status: 502, reason: "ResponseRefused", message: error.message, error };
  if (error instanceof UpstreamBusy)
    return { status: 503, reason: "UpstreamBusy", message: error.message, error };
  if ((error as NodeJS.ErrnoException).code === "ECONNECT_TIMEOUT")
    return { status: 504, reason: "UpstreamTimeout", message: "no connection in time", error };
  return { status: 502, reason: "UpstreamFailed", message: error.message, error };
}

function refusesResponse(exchange: Exchange, response: IncomingMessage): boolean {
  return exchange.upstream.acceptResponse?.(response.statusCode ?? 502, response.headers) === false;
}

/**
 * http-proxy-3 calls `destroySoon()` on an upgrade's client socket right
 * after reporting a failure; the next call only is made a no-op, for a
 * client whose upgrade was just sent to another upstream.
 */
function keepOpenOnce(socket: Socket): void {
  Object.defineProperty(socket, "destroySoon", {
    configurable: true,
    writable: true,
    value: () => {
      delete (socket as Partial<Socket>).destroySoon;
    },
  });
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === "GET" && (req.headers.upgrade ?? "").toLowerCase() === "websocket";
}

/**
 * The one HTTP/WebSocket proxy of the agent's ingress and the router, on
 * http-proxy-3: hop-by-hop headers dropped both ways (RFC 9110 §7.6.1),
 * keep-alive pools to the upstreams, a connect timeout and an optional
 * response-head timeout (504), upstream errors as 502, bodies streamed both
 * ways, a client that leaves frees its upstream socket, and an upstream
 * that dies mid-body cuts the client's response.
 *
 * http-proxy-3 builds the upstream request from `req.headers` and `req.url`,
 * so those are replaced by the caller's view before it runs; the response
 * head is written here (selfHandleResponse), so nothing of it passes
 * unfiltered.
 */
export function createHttpProxy(options: HttpProxyOptions): HttpProxy {
  // Built once, shared by both https pools: without it every new connection
  // parses the key and certificates again (a fifth of the router's CPU under load).
  // The PEMs themselves stay out of the pools' options: Node's https Agent puts
  // them in the name it keys its connections by, and builds that name per request.
  const { ca: _ca, cert: _cert, key: _key, ...tls } = options.tls ?? {};
  const secureContext = options.tls ? createSecureContext(options.tls) : undefined;
  const poolsOf = (bounds: PoolBounds) => {
    const pooling = {
      keepAlive: true,
      maxSockets: bounds.maxSockets ?? 256,
      maxFreeSockets: bounds.maxFreeSockets ?? 16,
      ...(bounds.maxTotalSockets ? { maxTotalSockets: bounds.maxTotalSockets } : {}),
      // An Agent's `timeout` ends only its free sockets; one in use is never cut by it.
      timeout: options.freeSocketTimeoutMs ?? 30_000,
    };
    const pool = {
      http: new HttpAgent(pooling),
      https: new HttpsAgent({
        ...pooling,
        maxCachedSessions: options.maxCachedSessions ?? 1000,
        ...tls,
        ...(secureContext ? { secureContext } : {}),
      }),
    };
    if (bounds.maxTotalSockets) {
      makeRoomForNewUpstreams(pool.http);
      makeRoomForNewUpstreams(pool.https);
    }
    if (options.queueTimeoutMs) {
      boundQueueWaits(pool.http, options.queueTimeoutMs);
      boundQueueWaits(pool.https, options.queueTimeoutMs);
    }
    return pool;
  };
  const pools = poolsOf(options);
  const sharedPools = options.shared ? poolsOf(options.shared) : pools;
  const exchanges = new WeakMap<IncomingMessage, Exchange>();
  const tunnels = new WeakMap<Socket, Exchange>();
  const server = createProxyServer({
    selfHandleResponse: true,
    connectTimeout: options.connectTimeoutMs,
  });

  const clientHeaders = (exchange: Exchange | undefined, headers: IncomingHttpHeaders) =>
    exchange?.upstream.responseHeaders?.(headers) ?? headers;

  /** Bounds the wait for a response head (a 101 or any other); returns what ends the wait. */
  const watchHead = (proxyReq: ClientRequest): (() => void) => {
    const ms = options.headersTimeoutMs;
    if (!ms) return () => {};
    const timer = setTimeout(() => proxyReq.destroy(new UpstreamTimeout("headers", ms)), ms);
    const clear = () => clearTimeout(timer);
    proxyReq.once("response", clear);
    proxyReq.once("upgrade", clear);
    proxyReq.once("close", clear);
    return clear;
  };

  if (options.headersTimeoutMs) server.on("proxyReq", (proxyReq) => watchHead(proxyReq));

  server.on("proxyRes", (proxyRes, req, res) => {
    const exchange = exchanges.get(req);
    const status = proxyRes.statusCode ?? 502;
    if (exchange && refusesResponse(exchange, proxyRes)) {
      // Drained, so a keep-alive connection goes back to the pool; the caller answers or retries.
      proxyRes.resume();
      const failure = describe(new ResponseRefused(status));
      if (res.headersSent || res.destroyed) {
        exchange.upstream.onFailure(failure);
        res.destroy();
      } else exchange.upstream.onFailure(failure, res);
      return;
    }
    const headers = clientHeaders(exchange, withoutHopByHop(proxyRes.headers));
    res.writeHead(status, headers);
    // The upstream died mid-body: cut the client's response rather than end it as if whole.
    proxyRes.on("error", () => {});
    proxyRes.once("close", () => {
      if (!proxyRes.complete) res.destroy();
    });
    proxyRes.pipe(res);
  });

  server.on("proxyReqWs", (proxyReq, req, client) => {
    const exchange = exchanges.get(req);
    if (!exchange) return;
    exchange.proxyReq = proxyReq;
    const headArrived = watchHead(proxyReq);
    if (exchange.upstream.acceptResponse)
      refuseWsResponses(proxyReq, req, client, exchange, headArrived);
    // Ahead of http-proxy-3's own listeners, which write these heads to the client as they find them.
    proxyReq.prependListener("upgrade", (proxyRes: IncomingMessage, proxySocket: Socket) => {
      exchange.settled = true;
      proxyRes.headers = clientHeaders(
        exchange,
        withoutHopByHop(proxyRes.headers, { upgrade: true }),
      );
      tunnels.set(proxySocket, exchange);
      if (client.destroyed) proxySocket.destroy();
    });
    proxyReq.prependListener("response", (proxyRes: IncomingMessage) => {
      // Not switching after all: the answer is relayed, then the connection closes.
      exchange.settled = true;
      proxyRes.headers = {
        ...clientHeaders(exchange, withoutHopByHop(proxyRes.headers)),
        connection: "close",
      };
    });
  });

  server.on("open", (proxySocket) => {
    const exchange = tunnels.get(proxySocket);
    if (exchange?.client) exchange.upstream.onTunnel?.(proxySocket, exchange.client);
  });

  /**
   * An upgrade answered with a status the caller refuses: http-proxy-3
   * relays any non-101 answer from a listener of its own, added after this
   * one runs, which no listener can stop; so that one response event is
   * kept from it here, and the caller is told while the client has seen
   * nothing.
   */
  const refuseWsResponses = (
    proxyReq: ClientRequest,
    req: IncomingMessage,
    client: Socket,
    exchange: Exchange,
    headArrived: () => void,
  ) => {
    const emit = proxyReq.emit;
    proxyReq.emit = function (this: ClientRequest, event: string | symbol, ...args: unknown[]) {
      const proxyRes = args[0] as IncomingMessage | undefined;
      const status = proxyRes?.statusCode ?? 0;
      if (event !== "response" || !proxyRes || !refusesResponse(exchange, proxyRes))
        return emit.call(this, event, ...args);
      headArrived();
      proxyRes.resume();
      if (exchange.settled || client.destroyed) {
        exchange.upstream.onFailure(describe(new ResponseRefused(status)));
        client.destroy();
      } else {
        exchange.settled = true;
        exchange.upstream.onFailure(describe(new ResponseRefused(status)), client);
        if (exchanges.get(req) === exchange && !client.destroyed) client.destroySoon();
      }
      return true;
    } as ClientRequest["emit"];
  };

  server.on("error", (error, req, answer) => {
    const exchange = exchanges.get(req);
    const failure = describe(error);
    if (answer instanceof ServerResponse) {
      if (!exchange || answer.headersSent || answer.destroyed) {
        exchange?.upstream.onFailure(failure);
        answer.destroy();
      } else exchange.upstream.onFailure(failure, answer);
      return;
    }
    // An upgrade: http-proxy-3 closes the client's socket once this returns.
    const socket = answer as Socket;
    if (!exchange || exchange.settled || socket.destroyed) exchange?.upstream.onFailure(failure);
    else {
      exchange.settled = true;
      exchange.upstream.onFailure(failure, socket);
      // The caller sent the upgrade elsewhere on this socket: keep http-proxy-3 from closing it.
      if (exchanges.get(req) !== exchange) keepOpenOnce(socket);
    }
  });
  // The client went away: http-proxy-3 has already dropped the upstream request.
  server.on("econnreset", () => {});

  const target = (upstream: Upstream) => {
    const secure = upstream.origin.protocol === "https:";
    const host = upstream.origin.hostname.replace(/^\[(.*)\]$/, "$1");
    return {
      target: upstream.origin,
      // The path exactly as given: http-proxy-3 otherwise re-parses it as a URL, resolving
      // dot segments and backslashes, so the upstream would not get what the caller checked.
      toProxy: true,
      agent: (upstream.shared ? sharedPools : pools)[secure ? "https" : "http"],
      // A fresh object each time (http-proxy-3 builds the request on it). Verify the upstream by its
      // own name, not the client's Host (Node's default); an IP address has no name to send.
      ssl: secure ? { servername: isIP(host) ? "" : host } : {},
    };
  };

  return {
    web(req, res, upstream) {
      exchanges.set(req, { upstream });
      req.headers = upstream.headers(withoutHopByHop(req.headers));
      req.url = upstream.path;
      server.web(req, res, target(upstream));
    },
    ws(req, client, head, upstream) {
      if (!isWebSocketUpgrade(req)) {
        const body = "only WebSocket upgrades are forwarded\n";
        client.end(
          `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      const exchange: Exchange = { upstream, client };
      exchanges.set(req, exchange);
      // A client that leaves before the upstream answers frees the upstream request too.
      client.once("close", () => {
        if (exchange.settled) return;
        exchange.settled = true;
        exchange.proxyReq?.destroy();
      });
      req.headers = upstream.headers(withoutHopByHop(req.headers, { upgrade: true }));
      req.url = upstream.path;
      server.ws(req, client, head, target(upstream));
    },
    close() {
      for (const pool of new Set([pools, sharedPools])) {
        pool.http.destroy();
        pool.https.destroy();
      }
    },
  };
}

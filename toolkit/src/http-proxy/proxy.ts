import {
  type ClientRequest,
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from "node:https";
import { isIP, type Socket } from "node:net";
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

/** Why an exchange failed, as the client should be told: 504 for a timeout, 502 otherwise. */
export interface ProxyFailure {
  status: 502 | 504;
  reason: "UpstreamTimeout" | "UpstreamFailed";
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
   * Told of a failed exchange, to log and count it. `answer` is given while
   * the client can still be told (nothing of the response sent yet): the
   * callee writes the refusal there (a ServerResponse, or an upgrade's raw
   * socket). Otherwise the client's connection is cut, so it cannot take a
   * truncated body for a whole one.
   */
  onFailure(failure: ProxyFailure, answer?: ServerResponse | Socket): void;
}

export interface HttpProxyOptions {
  /** How long a new upstream connection may take before the client gets a 504. */
  connectTimeoutMs: number;
  /** How long the upstream may take to send its response head, from having a connection; none when unset. */
  headersTimeoutMs?: number;
  /** Client TLS for https upstreams: certificate, key, CA. */
  tls?: HttpsAgentOptions;
  /** Most pooled connections per upstream. */
  maxSockets?: number;
}

export interface HttpProxy {
  /** Streams a request to `upstream` and its response back. */
  web(req: IncomingMessage, res: ServerResponse, upstream: Upstream): void;
  /** Tunnels a WebSocket upgrade to `upstream`. */
  ws(req: IncomingMessage, client: Socket, head: Buffer, upstream: Upstream): void;
  /** Closes the pooled upstream connections. */
  close(): void;
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
  if ((error as NodeJS.ErrnoException).code === "ECONNECT_TIMEOUT")
    return { status: 504, reason: "UpstreamTimeout", message: "no connection in time", error };
  return { status: 502, reason: "UpstreamFailed", message: error.message, error };
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
  const maxSockets = options.maxSockets ?? 256;
  const pools = {
    http: new HttpAgent({ keepAlive: true, maxSockets }),
    https: new HttpsAgent({ keepAlive: true, maxSockets, ...options.tls }),
  };
  const exchanges = new WeakMap<IncomingMessage, Exchange>();
  const tunnels = new WeakMap<Socket, Exchange>();
  const server = createProxyServer({
    selfHandleResponse: true,
    connectTimeout: options.connectTimeoutMs,
  });

  const clientHeaders = (exchange: Exchange | undefined, headers: IncomingHttpHeaders) =>
    exchange?.upstream.responseHeaders?.(headers) ?? headers;

  /** Bounds the wait for a response head (a 101 or any other). */
  const watchHead = (proxyReq: ClientRequest) => {
    const ms = options.headersTimeoutMs;
    if (!ms) return;
    const timer = setTimeout(() => proxyReq.destroy(new UpstreamTimeout("headers", ms)), ms);
    const clear = () => clearTimeout(timer);
    proxyReq.once("response", clear);
    proxyReq.once("upgrade", clear);
    proxyReq.once("close", clear);
  };

  if (options.headersTimeoutMs) server.on("proxyReq", (proxyReq) => watchHead(proxyReq));

  server.on("proxyRes", (proxyRes, req, res) => {
    const headers = clientHeaders(exchanges.get(req), withoutHopByHop(proxyRes.headers));
    res.writeHead(proxyRes.statusCode ?? 502, headers);
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
    watchHead(proxyReq);
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
      agent: secure ? pools.https : pools.http,
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
      pools.http.destroy();
      pools.https.destroy();
    },
  };
}

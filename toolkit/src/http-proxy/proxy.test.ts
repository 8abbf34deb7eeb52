/**
 * The shared proxy against real local servers on 127.0.0.1: headers, pools,
 * streaming, upgrades, timeouts and the ways an exchange can break.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import { eventually, testServingCertificate } from "@turgon/dev/testing";
import { withoutHopByHop } from "./hop-by-hop.ts";
import {
  createHttpProxy,
  type HttpProxy,
  type HttpProxyOptions,
  type ProxyFailure,
  ResponseRefused,
  type Upstream,
} from "./proxy.ts";

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function listen(server: Server | HttpsServer): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Rejects after `ms`: a bound on a wait, never a pause. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

interface Front {
  port: number;
  failures: ProxyFailure[];
}

/** A server in front of `upstream` through the shared proxy, answering failures as the callers do. */
async function front(
  upstream: (req: IncomingMessage) => Omit<Upstream, "onFailure">,
  options: Partial<HttpProxyOptions> = {},
): Promise<Front> {
  const failures: ProxyFailure[] = [];
  const proxy = createHttpProxy({ connectTimeoutMs: 5_000, ...options });
  cleanups.push(() => proxy.close());
  const answering = (req: IncomingMessage): Upstream => ({
    ...upstream(req),
    onFailure: (failure, answer) => {
      failures.push(failure);
      if (!answer) return;
      if ("writeHead" in answer)
        answer.writeHead(failure.status, { "content-type": "text/plain" }).end(failure.reason);
      else answer.end(`HTTP/1.1 ${failure.status} ${failure.reason}\r\nconnection: close\r\n\r\n`);
    },
  });
  const server = createServer((req, res) => proxy.web(req, res, answering(req)));
  server.on("upgrade", (req, socket: Socket, head) => proxy.ws(req, socket, head, answering(req)));
  return { port: await listen(server), failures };
}

const to =
  (port: number, extra: Partial<Upstream> = {}) =>
  (req: IncomingMessage) => ({
    origin: new URL(`http://127.0.0.1:${port}`),
    path: req.url ?? "/",
    headers: (forwardable: IncomingHttpHeaders) => forwardable,
    ...extra,
  });

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

describe("withoutHopByHop", () => {
  it("drops RFC 9110 §7.6.1 headers and those the Connection header names, never Host", () => {
    assert.deepEqual(
      withoutHopByHop({
        host: "a.example",
        connection: "keep-alive, X-Private, host",
        "x-private": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        trailer: "x",
        "transfer-encoding": "chunked",
        upgrade: "websocket",
        "proxy-authorization": "Basic x",
        "proxy-connection": "keep-alive",
        "x-kept": "yes",
      }),
      { host: "a.example", "x-kept": "yes" },
    );
  });

  it("keeps the protocol switch itself on an upgrade", () => {
    assert.deepEqual(
      withoutHopByHop(
        { connection: "Upgrade, x-private", "x-private": "1", upgrade: "websocket", "x-kept": "y" },
        { upgrade: true },
      ),
      { connection: "Upgrade", upgrade: "websocket", "x-kept": "y" },
    );
  });
});

describe("createHttpProxy", () => {
  it("strips hop-by-hop headers both ways and applies the caller's header changes", async () => {
    let seen: IncomingHttpHeaders = {};
    const upstream = createServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, {
        connection: "x-upstream-hop",
        "x-upstream-hop": "1",
        "proxy-authenticate": "Basic",
        "x-kept": "yes",
        "set-cookie": "guest=1",
      });
      res.end("ok");
    });
    const { port } = await front(
      to(await listen(upstream), {
        headers: (forwardable) => ({ ...forwardable, "x-added": "by the caller" }),
        responseHeaders: (headers) => ({ ...headers, "set-cookie": ["rewritten=1"] }),
      }),
    );
    const answer = await get(port, "/p?q=1", {
      connection: "keep-alive, x-client-hop",
      "x-client-hop": "1",
      te: "trailers",
      "proxy-authorization": "Basic x",
      "x-kept": "client",
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "ok");
    assert.equal(seen["x-client-hop"], undefined);
    assert.equal(seen.te, undefined);
    assert.equal(seen["proxy-authorization"], undefined);
    assert.equal(seen["x-kept"], "client");
    assert.equal(seen["x-added"], "by the caller");
    assert.equal(seen.host, `127.0.0.1:${port}`, "the client's Host goes on as sent");
    assert.equal(answer.headers["x-upstream-hop"], undefined);
    assert.equal(answer.headers["proxy-authenticate"], undefined);
    assert.equal(answer.headers["x-kept"], "yes");
    assert.deepEqual(answer.headers["set-cookie"], ["rewritten=1"]);
  });

  it("sends the caller's path, not the client's", async () => {
    let path = "";
    const upstream = createServer((req, res) => {
      path = req.url ?? "";
      res.end();
    });
    const upstreamPort = await listen(upstream);
    const { port } = await front((req) => ({ ...to(upstreamPort)(req), path: "/rewritten?a=b" }));
    assert.equal((await get(port, "/original?token=secret")).status, 200);
    assert.equal(path, "/rewritten?a=b");
  });

  it("sends the request target byte for byte: no dot segments resolved, no backslashes turned", async () => {
    const paths: string[] = [];
    const upstream = createServer((req, res) => {
      paths.push(req.url ?? "");
      res.end();
    });
    const { port } = await front(to(await listen(upstream)));
    const sent = [
      "/a/../admin",
      "/%2e%2e/admin",
      "/\\admin",
      "/a/./b",
      "//twice//x",
      "/q?x=1&y=%2F",
    ];
    for (const path of sent) assert.equal((await get(port, path)).status, 200, path);
    assert.deepEqual(paths, sent);
  });

  it("pools upstream connections: sequential requests share one", async () => {
    let connections = 0;
    const upstream = createServer((_req, res) => res.end("ok"));
    upstream.on("connection", () => connections++);
    const { port } = await front(to(await listen(upstream)));
    for (let i = 0; i < 5; i++) assert.equal((await get(port, `/${i}`)).body, "ok");
    assert.equal(connections, 1);
  });

  it("streams both ways: each chunk crosses before either side has ended", async () => {
    // The upstream echoes each request chunk as a response chunk as it comes.
    const upstream = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      req.on("data", (chunk) => res.write(chunk));
      req.on("end", () => res.end());
    });
    const { port } = await front(to(await listen(upstream)));
    const client = request({ host: "127.0.0.1", port, method: "POST", path: "/", agent: false });
    const response = once(client, "response");
    client.write("one");
    const [res] = (await within(5_000, "response head", response)) as [IncomingMessage];
    for (const [i, word] of ["one", "two", "three"].entries()) {
      if (i > 0) client.write(word);
      const [chunk] = await within(5_000, `echo of ${word}`, once(res, "data"));
      assert.equal(String(chunk), word);
    }
    client.end();
    await within(5_000, "end of response", once(res, "end"));
  });

  it("carries a WebSocket upgrade both ways, with the caller's changes to the 101", async () => {
    const upstream = createServer();
    let upgradeHeaders: IncomingHttpHeaders = {};
    upstream.on("upgrade", (req: IncomingMessage, socket: Socket) => {
      upgradeHeaders = req.headers;
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: guest=1; Domain=example\r\n\r\n",
      );
      socket.pipe(socket);
    });
    let tunnels = 0;
    const { port } = await front(
      to(await listen(upstream), {
        responseHeaders: (headers) => ({ ...headers, "set-cookie": ["host-only=1"] }),
        onTunnel: () => tunnels++,
      }),
    );
    const client = request({
      host: "127.0.0.1",
      port,
      path: "/ws",
      agent: false,
      headers: {
        connection: "Upgrade, x-client-hop",
        "x-client-hop": "1",
        upgrade: "websocket",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    }).end();
    const [res, socket] = (await within(5_000, "upgrade", once(client, "upgrade"))) as [
      IncomingMessage,
      Socket,
    ];
    cleanups.push(() => socket.destroy());
    assert.equal(res.statusCode, 101);
    assert.deepEqual(res.headers["set-cookie"], ["host-only=1"]);
    assert.equal(upgradeHeaders.upgrade, "websocket");
    assert.equal(upgradeHeaders["x-client-hop"], undefined);
    assert.equal(upgradeHeaders["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
    socket.write("bytes as they are");
    const [echo] = await within(5_000, "echo", once(socket, "data"));
    assert.equal(String(echo), "bytes as they are");
    assert.equal(tunnels, 1);
  });

  it("relays a non-101 answer to an upgrade with the caller's header changes, then closes", async () => {
    const upstream = createServer((_req, res) => {
      res.writeHead(403, { "set-cookie": "guest=1; Domain=example" }).end("no");
    });
    const { port } = await front(
      to(await listen(upstream), {
        responseHeaders: (headers) => ({ ...headers, "set-cookie": ["host-only=1"] }),
      }),
    );
    const socket = connect(port, "127.0.0.1");
    socket.write(
      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    await within(5_000, "the answer and close", once(socket, "close"));
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.match(text, /\r\nset-cookie: host-only=1\r\n/i);
    assert.doesNotMatch(text, /Domain=example/);
  });

  it("refuses an upgrade to anything but a WebSocket", async () => {
    const { port } = await front(to(1));
    const socket = connect(port, "127.0.0.1");
    socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    await within(5_000, "the refusal", once(socket, "close"));
    assert.match(text, /^HTTP\/1\.1 400 /);
  });

  it("answers 502 when the upstream refuses the connection, on HTTP and on an upgrade", async () => {
    const closed = createServer();
    const deadPort = await listen(closed);
    closed.close();
    const { port, failures } = await front(to(deadPort));
    const answer = await get(port, "/");
    assert.equal(answer.status, 502);
    assert.equal(answer.body, "UpstreamFailed");
    const socket = connect(port, "127.0.0.1");
    socket.write(
      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    await within(5_000, "the refusal", once(socket, "close"));
    assert.match(text, /^HTTP\/1\.1 502 UpstreamFailed/);
    assert.deepEqual(
      failures.map((f) => f.status),
      [502, 502],
    );
    assert.match(failures[0]?.message ?? "", /ECONNREFUSED/);
  });

  it("answers 504 in bounded time when the upstream never accepts the connection", async () => {
    const { port: silentPort, child } = await unacceptingListener();
    cleanups.push(() => child.kill());
    const fillers = await fillAcceptQueue(silentPort);
    cleanups.push(() => {
      for (const filler of fillers) filler.destroy();
    });
    const { port, failures } = await front(to(silentPort), { connectTimeoutMs: 300 });
    const started = performance.now();
    const answer = await within(5_000, "the 504", get(port, "/"));
    const took = performance.now() - started;
    assert.equal(answer.status, 504);
    assert.ok(took >= 250 && took < 3_000, `took ${took.toFixed(0)} ms`);
    assert.equal(failures[0]?.reason, "UpstreamTimeout");
  });

  it("answers 504 when the upstream accepts but sends no response head in time", async () => {
    const held: ServerResponse[] = [];
    const upstream = createServer((_req, res) => held.push(res));
    const { port, failures } = await front(to(await listen(upstream)), { headersTimeoutMs: 300 });
    const answer = await within(5_000, "the 504", get(port, "/"));
    assert.equal(answer.status, 504);
    assert.match(failures[0]?.message ?? "", /no response head within 300 ms/);
  });

  it("cuts the client's response when the upstream resets mid-body", async () => {
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { "content-length": "1000" });
      res.write("only part of it", () => res.socket?.resetAndDestroy());
    });
    const { port, failures } = await front(to(await listen(upstream)));
    const client = request({ host: "127.0.0.1", port, path: "/", agent: false }).end();
    const [res] = (await within(5_000, "response head", once(client, "response"))) as [
      IncomingMessage,
    ];
    assert.equal(res.statusCode, 200);
    let error: NodeJS.ErrnoException | undefined;
    res.on("error", (e) => {
      error = e;
    });
    res.resume();
    await within(5_000, "the client's response to close", new Promise((r) => res.once("close", r)));
    assert.equal(res.complete, false, "a cut body is not taken as whole");
    assert.equal(error?.code, "ECONNRESET");
    assert.ok(failures.length <= 1);
  });

  it("frees the upstream request when the client aborts mid-response", async () => {
    let upstreamSocket: Socket | undefined;
    const upstream = createServer((req, res) => {
      upstreamSocket = req.socket;
      res.writeHead(200);
      res.write("first chunk");
    });
    const { port } = await front(to(await listen(upstream)));
    const client = request({ host: "127.0.0.1", port, path: "/", agent: false }).end();
    const [res] = (await within(5_000, "response head", once(client, "response"))) as [
      IncomingMessage,
    ];
    await within(5_000, "first chunk", once(res, "data"));
    assert.ok(upstreamSocket);
    const upstreamClosed = once(upstreamSocket, "close");
    client.destroy();
    await within(5_000, "the upstream socket to close", upstreamClosed);
  });

  it("a client that leaves before the 101 does not leave the upstream tunnelled to nowhere", async () => {
    // Until the upstream answers, the client's socket is not read, so its leaving shows then.
    const upstream = createServer();
    const arrived = once(upstream, "upgrade");
    upstream.on("upgrade", (_req, socket: Socket) => {
      socket.on("end", () => socket.end());
    });
    const { port } = await front(to(await listen(upstream)));
    const client = connect(port, "127.0.0.1");
    client.write(
      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const [, upstreamSocket] = (await within(5_000, "the upgrade upstream", arrived)) as [
      IncomingMessage,
      Socket,
    ];
    client.destroy();
    await within(5_000, "the client to close", once(client, "close"));
    const upstreamClosed = once(upstreamSocket, "close");
    upstreamSocket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    await within(5_000, "the upstream socket to close", upstreamClosed);
  });
});

/** A raw upgrade request for a WebSocket, as a client writes it. */
const UPGRADE =
  "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/** An upstream that switches every upgrade and echoes its bytes, and answers HTTP with `name`. */
function echoing(name: string): Server {
  const server = createServer((_req, res) => res.end(name));
  server.on("upgrade", (_req, socket: Socket) => {
    cleanups.push(() => socket.destroy());
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    socket.on("data", (chunk) => socket.write(`${name}:${chunk}`));
  });
  return server;
}

/**
 * A server that sends each request to `first` and, when that fails while
 * the client can still be told, once more to `second` on the same
 * response or socket: what the router does with a sandbox's front and its
 * agent.
 */
async function retrying(
  first: (req: IncomingMessage) => Omit<Upstream, "onFailure">,
  second: (req: IncomingMessage) => Omit<Upstream, "onFailure">,
  options: Partial<HttpProxyOptions> = {},
): Promise<{ port: number; failures: ProxyFailure[]; proxy: HttpProxy }> {
  const failures: ProxyFailure[] = [];
  const proxy = createHttpProxy({ connectTimeoutMs: 5_000, ...options });
  cleanups.push(() => proxy.close());
  const last = (req: IncomingMessage): Upstream => ({
    ...second(req),
    onFailure: (failure, answer) => {
      failures.push(failure);
      if (answer && "writeHead" in answer) answer.writeHead(failure.status).end(failure.reason);
      else answer?.end(`HTTP/1.1 ${failure.status} ${failure.reason}\r\n\r\n`);
    },
  });
  const firstTry = (req: IncomingMessage, retry: () => void): Upstream => ({
    ...first(req),
    onFailure: (failure, answer) => {
      failures.push(failure);
      if (answer) retry();
    },
  });
  const server = createServer((req, res) =>
    proxy.web(
      req,
      res,
      firstTry(req, () => proxy.web(req, res, last(req))),
    ),
  );
  server.on("upgrade", (req, socket: Socket, head) =>
    proxy.ws(
      req,
      socket,
      head,
      firstTry(req, () => proxy.ws(req, socket, Buffer.alloc(0), last(req))),
    ),
  );
  return { port: await listen(server), failures, proxy };
}

/** Writes a WebSocket upgrade to `port`, then `message` once switched; resolves with all it read until `until` matches, and the socket. */
async function upgradeAndSend(
  port: number,
  message: string,
  until: RegExp,
): Promise<{ text: string; socket: Socket }> {
  const socket = connect(port, "127.0.0.1");
  cleanups.push(() => socket.destroy());
  socket.write(UPGRADE);
  let text = "";
  return within(
    5_000,
    `an answer matching ${until}`,
    new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const switched = !/ 101 /.test(text) && / 101 /.test(text + chunk);
        text += chunk;
        if (switched) socket.write(message);
        if (!until.test(text)) return;
        socket.off("data", onData);
        socket.off("close", onClose);
        resolve({ text, socket });
      };
      const onClose = () => reject(new Error(`closed after ${JSON.stringify(text)}`));
      socket.on("data", onData);
      socket.on("close", onClose);
    }),
  );
}

describe("createHttpProxy: responses the caller refuses, and retries", () => {
  const refusing = () => {
    const seen = { requests: 0, connections: 0 };
    const server = createServer((_req, res) => {
      seen.requests++;
      res.writeHead(421, { "content-type": "text/plain" }).end("misdirected: not for the client");
    });
    server.on("connection", () => seen.connections++);
    return { server, seen };
  };
  const not421 = { acceptResponse: (status: number) => status !== 421 };

  it("drains a refused response, never relays it, and tells the caller with the response still open", async () => {
    const { server, seen } = refusing();
    const { port, failures } = await front(to(await listen(server), not421));
    for (let i = 0; i < 2; i++) {
      const answer = await get(port, "/");
      assert.equal(answer.status, 502);
      assert.equal(answer.body, "ResponseRefused", "the caller's answer, not the upstream's");
    }
    assert.equal(failures.length, 2);
    assert.equal(failures[0]?.reason, "ResponseRefused");
    const refused = failures[0]?.error;
    assert.ok(refused instanceof ResponseRefused);
    assert.equal(refused.status, 421);
    assert.equal(seen.requests, 2);
    assert.equal(seen.connections, 1, "drained, so the connection went back to the pool");
  });

  it("relays every status the caller accepts, and every status when it sets no check", async () => {
    const upstream = createServer((_req, res) => res.writeHead(404).end("not here"));
    const upstreamPort = await listen(upstream);
    for (const extra of [not421, {}]) {
      const { port, failures } = await front(to(upstreamPort, extra));
      const answer = await get(port, "/");
      assert.equal(answer.status, 404);
      assert.equal(answer.body, "not here");
      assert.equal(failures.length, 0);
    }
  });

  it("shows the caller the upstream's headers, so it refuses only the answers it marks", async () => {
    const upstream = createServer((req, res) =>
      res.writeHead(421, req.url === "/marked" ? { "x-own": "1" } : {}).end(`421 ${req.url}`),
    );
    const onlyMarked = {
      acceptResponse: (status: number, headers: IncomingHttpHeaders) =>
        !(status === 421 && headers["x-own"] === "1"),
    };
    const { port, failures } = await front(to(await listen(upstream), onlyMarked));
    const marked = await get(port, "/marked");
    assert.equal(marked.status, 502);
    assert.equal(marked.body, "ResponseRefused");
    const unmarked = await get(port, "/plain");
    assert.equal(unmarked.status, 421, "an unmarked 421 is relayed");
    assert.equal(unmarked.body, "421 /plain");
    assert.equal(failures.length, 1);
  });

  it("lets the caller send a refused request elsewhere on the same response", async () => {
    const { server } = refusing();
    const { port, failures } = await retrying(
      to(await listen(server), not421),
      to(await listen(echoing("second"))),
    );
    const answer = await get(port, "/");
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "second");
    assert.deepEqual(
      failures.map((f) => f.reason),
      ["ResponseRefused"],
    );
  });

  it("lets the caller send a GET elsewhere when the first upstream refuses the connection", async () => {
    const closed = createServer();
    const deadPort = await listen(closed);
    closed.close();
    const { port, failures } = await retrying(to(deadPort), to(await listen(echoing("second"))));
    const answer = await get(port, "/");
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "second");
    assert.match(failures[0]?.message ?? "", /ECONNREFUSED/);
  });

  it("sends a refused upgrade elsewhere on the same client socket: the client sees only the second 101", async () => {
    const upgrades = { refused: 0 };
    const server = createServer();
    server.on("upgrade", (_req, socket: Socket) => {
      upgrades.refused++;
      cleanups.push(() => socket.destroy());
      // Its body never ends: the head alone must settle the first attempt.
      socket.write(
        "HTTP/1.1 421 Misdirected Request\r\ncontent-length: 100\r\nconnection: close\r\n\r\nnot for you\n",
      );
    });
    const { port, failures } = await retrying(
      to(await listen(server), not421),
      to(await listen(echoing("second"))),
      { headersTimeoutMs: 100 },
    );
    const { text, socket } = await upgradeAndSend(port, "hello", /second:hello/);
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.doesNotMatch(text, /421|not for you/);
    assert.equal(upgrades.refused, 1);
    // Past the first attempt's head timeout: a timer left running would fail it and close the tunnel.
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.write("again");
    const [echo] = await within(5_000, "the tunnel still echoing", once(socket, "data"));
    assert.equal(String(echo), "second:again");
    assert.deepEqual(
      failures.map((f) => f.reason),
      ["ResponseRefused"],
    );
  });

  it("sends an upgrade elsewhere on the same client socket when the first upstream refuses the connection", async () => {
    const closed = createServer();
    const deadPort = await listen(closed);
    closed.close();
    const { port, failures } = await retrying(to(deadPort), to(await listen(echoing("second"))));
    const { text } = await upgradeAndSend(port, "hello", /second:hello/);
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.equal(failures.length, 1);
    assert.match(failures[0]?.message ?? "", /ECONNREFUSED/);
  });

  it("answers a refused upgrade with the caller's refusal, then closes", async () => {
    const server = createServer();
    server.on("upgrade", (_req, socket: Socket) =>
      socket.end("HTTP/1.1 421 Misdirected Request\r\ncontent-length: 0\r\n\r\n"),
    );
    const { port, failures } = await front(to(await listen(server), not421));
    const socket = connect(port, "127.0.0.1");
    socket.write(UPGRADE);
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    await within(5_000, "the refusal and close", once(socket, "close"));
    assert.match(text, /^HTTP\/1\.1 502 ResponseRefused/);
    assert.equal(failures.length, 1);
  });
});

describe("createHttpProxy: pools fit for one upstream per sandbox", () => {
  /** An upstream that counts its open connections and keeps idle ones a minute (longer than any pool here). */
  const counting = (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const open = new Set<Socket>();
    const server = createServer(handler);
    server.keepAliveTimeout = 60_000;
    server.on("connection", (socket: Socket) => {
      open.add(socket);
      socket.once("close", () => open.delete(socket));
    });
    return { server, open };
  };

  it("keeps at most maxFreeSockets idle connections per upstream", async () => {
    const held: ServerResponse[] = [];
    const { server, open } = counting((_req, res) => {
      held.push(res);
      // All 12 in flight at once, so the pool opened 12 connections.
      if (held.length === 12) for (const r of held) r.end("ok");
    });
    const { port } = await front(to(await listen(server)), { maxFreeSockets: 4 });
    const answers = await within(
      10_000,
      "12 answers",
      Promise.all(Array.from({ length: 12 }, (_, i) => get(port, `/${i}`))),
    );
    assert.ok(answers.every((a) => a.body === "ok"));
    await eventually(
      "idle connections down to 4",
      () => open.size,
      (n) => n === 4,
      5_000,
      20,
    );
  });

  it("holds at most maxTotalSockets connections across upstreams; a request beyond waits for one", async () => {
    const events: string[] = [];
    const b = counting((_req, res) => {
      events.push("b served");
      res.end("b");
    });
    b.server.on("connection", () => events.push("b connected"));
    // A holds its one request for a bounded window in which B must see nothing, then answers.
    const a = counting((_req, res) => {
      events.push("a holding");
      setTimeout(() => {
        events.push("a answers");
        res.writeHead(200, { connection: "close" }).end("a");
      }, 300);
    });
    const ports = { a: await listen(a.server), b: await listen(b.server) };
    const { port } = await front((req) => to(req.url === "/a" ? ports.a : ports.b)(req), {
      maxTotalSockets: 1,
    });
    const first = get(port, "/a");
    await eventually("A holds", () => events.includes("a holding"), Boolean, 5_000, 10);
    const second = get(port, "/b");
    const answers = await within(10_000, "both answers", Promise.all([first, second]));
    assert.deepEqual(
      answers.map((answer) => answer.body),
      ["a", "b"],
    );
    assert.deepEqual(events, ["a holding", "a answers", "b connected", "b served"]);
  });

  it("answers 503 UpstreamBusy to a request that waits past queueTimeoutMs for a connection; the pool then serves again", async () => {
    const held: ServerResponse[] = [];
    const { server } = counting((req, res) => {
      if (req.url === "/hang") held.push(res);
      else res.end("ok");
    });
    const upstreamPort = await listen(server);
    const { port, failures } = await front(to(upstreamPort), {
      maxSockets: 1,
      queueTimeoutMs: 300,
    });
    const hanging = get(port, "/hang");
    await eventually(
      "the first request holds the one connection",
      () => held.length,
      (n) => n === 1,
      5_000,
      10,
    );
    const started = performance.now();
    const queued = await within(5_000, "the queued request's answer", get(port, "/queued"));
    const waited = performance.now() - started;
    assert.equal(queued.status, 503);
    assert.equal(queued.body, "UpstreamBusy");
    assert.ok(waited >= 250 && waited < 3_000, `answered after ${Math.round(waited)} ms`);
    assert.deepEqual(
      failures.map((f) => f.reason),
      ["UpstreamBusy"],
    );
    // The refused request left the queue: once the connection is free the next one is served.
    held[0]?.end("done");
    assert.equal((await within(5_000, "the hanging request", hanging)).body, "done");
    assert.equal((await within(5_000, "a request after", get(port, "/after"))).body, "ok");
  });

  it("at maxTotalSockets, closes another upstream's idle connection for a new upstream instead of waiting for its idle timeout", async () => {
    const a = counting((_req, res) => res.end("a"));
    const b = counting((_req, res) => res.end("b"));
    const ports = { a: await listen(a.server), b: await listen(b.server) };
    // Idle connections kept for a minute: a request waiting for one to time out would fail the bound below.
    const { port } = await front((req) => to(req.url === "/a" ? ports.a : ports.b)(req), {
      maxTotalSockets: 1,
      freeSocketTimeoutMs: 60_000,
    });
    assert.equal((await get(port, "/a")).body, "a");
    await eventually(
      "A's connection idle in the pool",
      () => a.open.size,
      (n) => n === 1,
      5_000,
      10,
    );
    assert.equal((await within(5_000, "B's answer", get(port, "/b"))).body, "b");
    await eventually(
      "A's idle connection closed",
      () => a.open.size,
      (n) => n === 0,
      5_000,
      10,
    );
    // And back: B's idle connection gives way to A.
    assert.equal((await within(5_000, "A's answer", get(port, "/a"))).body, "a");
    await eventually(
      "B's idle connection closed",
      () => b.open.size,
      (n) => n === 0,
      5_000,
      10,
    );
  });

  it("at maxTotalSockets, a request whose upstream is at its own maxSockets closes no other upstream's idle connection", async () => {
    // One tenant's upstream, busy at its own cap, must not churn another's idle connections.
    let release: (() => void) | undefined;
    let secondSent = false;
    const a = counting((req, res) => {
      if (req.url === "/first") release = () => res.end("a");
      else res.end("a");
    });
    const b = counting((_req, res) => res.end("b"));
    let bConnections = 0;
    b.server.on("connection", () => bConnections++);
    const ports = { a: await listen(a.server), b: await listen(b.server) };
    const { port } = await front(
      (req) => {
        if (req.url === "/second") secondSent = true;
        return to(req.url === "/b" ? ports.b : ports.a)(req);
      },
      { maxTotalSockets: 2, maxSockets: 1, freeSocketTimeoutMs: 60_000 },
    );
    assert.equal((await get(port, "/b")).body, "b");
    const first = get(port, "/first");
    await eventually("A holds its one connection", () => release !== undefined, Boolean, 5_000, 10);
    // The pool is at its total (A busy, B idle); A's second request waits for A's own connection.
    const second = get(port, "/second");
    await eventually("A's second request handed to the pool", () => secondSent, Boolean, 5_000, 10);
    release?.();
    const answers = await within(10_000, "A's answers", Promise.all([first, second]));
    assert.deepEqual(
      answers.map((answer) => answer.body),
      ["a", "a"],
    );
    assert.equal((await get(port, "/b")).body, "b");
    assert.equal(bConnections, 1, "B's idle connection was kept and reused");
  });

  it("pools shared upstreams apart, with their own bounds", async () => {
    const held: ServerResponse[] = [];
    const { server, open } = counting((_req, res) => {
      held.push(res);
      if (held.length === 12) for (const r of held) r.end("ok");
    });
    const upstreamPort = await listen(server);
    // The per-sandbox pool keeps 1 idle connection; the shared one keeps 8.
    const { port } = await front(to(upstreamPort, { shared: true }), {
      maxFreeSockets: 1,
      shared: { maxFreeSockets: 8, maxTotalSockets: 64 },
    });
    const answers = await within(
      10_000,
      "12 answers",
      Promise.all(Array.from({ length: 12 }, (_, i) => get(port, `/${i}`))),
    );
    assert.ok(answers.every((a) => a.body === "ok"));
    await eventually(
      "idle connections down to 8",
      () => open.size,
      (n) => n === 8,
      5_000,
      20,
    );
  });

  it("closes an idle pooled connection after freeSocketTimeoutMs, never one in use", async () => {
    const { server, open } = counting((req, res) => {
      if (req.url !== "/slow") return res.end("fast");
      res.writeHead(200);
      res.write("first");
      // Quiet for longer than the pool's idle bound, with the connection in use.
      setTimeout(() => res.end(" last"), 600);
    });
    const { port } = await front(to(await listen(server)), { freeSocketTimeoutMs: 200 });
    const slow = await within(5_000, "the slow answer", get(port, "/slow"));
    assert.equal(slow.body, "first last");
    assert.equal(open.size, 1, "pooled after use");
    const closed = performance.now();
    await eventually(
      "the idle connection closed",
      () => open.size,
      (n) => n === 0,
      5_000,
      20,
    );
    const took = performance.now() - closed;
    assert.ok(took < 2_000, `closed after ${took.toFixed(0)} ms`);
  });

  it("resumes TLS sessions with more https upstreams than Node's default session cache holds", async () => {
    const tls = await testServingCertificate("proxy-resume");
    const resumed: boolean[] = [];
    const upstreamPorts: number[] = [];
    // Node's https.Agent remembers 100 sessions by default; a node holds more sandboxes than that.
    for (let i = 0; i < 110; i++) {
      const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        resumed.push((req.socket as TLSSocket).isSessionReused());
        // A new connection each time, so each request is a handshake.
        res.writeHead(200, { connection: "close" }).end("ok");
      });
      upstreamPorts.push(await listen(server));
    }
    const viaPort = new Map<number, number>();
    const proxied = createHttpProxy({ connectTimeoutMs: 5_000, tls: { ca: tls.ca } });
    cleanups.push(() => proxied.close());
    const via = createServer((req, res) => {
      const upstreamPort = viaPort.get(Number(req.url?.slice(1)));
      proxied.web(req, res, {
        origin: new URL(`https://127.0.0.1:${upstreamPort}`),
        path: "/",
        headers: (h) => h,
        onFailure: (failure, answer) => {
          if (answer && "writeHead" in answer)
            answer.writeHead(failure.status).end(failure.message);
        },
      });
    });
    const port = await listen(via);
    upstreamPorts.forEach((p, i) => {
      viaPort.set(i, p);
    });
    for (const round of [0, 1])
      for (let i = 0; i < upstreamPorts.length; i++) {
        const answer = await get(port, `/${i}`);
        assert.equal(answer.status, 200, `round ${round}, upstream ${i}: ${answer.body}`);
      }
    assert.equal(resumed.slice(0, 110).filter(Boolean).length, 0, "first round: full handshakes");
    assert.equal(resumed.slice(110).filter(Boolean).length, 110, "second round: all resumed");
  });
});

/**
 * A listening socket whose process never accepts: a child that listens with
 * a backlog of one, then blocks its event loop for good. Once its accept
 * queue is full the kernel drops new SYNs, so a connect there hangs.
 */
async function unacceptingListener(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("node:net").createServer();
       s.listen(0, "127.0.0.1", 1, () => {
         process.stdout.write(s.address().port + "\\n");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
       });`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const [line] = await within(10_000, "the listener's port", once(child.stdout as never, "data"));
  return { port: Number(String(line).trim()), child };
}

/** Connects to `port` until a connect no longer completes (the accept queue is full), at most 16 times. */
async function fillAcceptQueue(port: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    sockets.push(socket);
    const connected = await within(500, "filler", once(socket, "connect")).then(
      () => true,
      () => false,
    );
    if (!connected) return sockets;
  }
  throw new Error("the accept queue never filled");
}

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
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { withoutHopByHop } from "./hop-by-hop.ts";
import {
  createHttpProxy,
  type HttpProxyOptions,
  type ProxyFailure,
  type Upstream,
} from "./proxy.ts";

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function listen(server: Server): Promise<number> {
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

/**
 * A sandbox's ingress front without a VM: in process (credentials, modes,
 * connections before credentials), and in real supervisor processes started
 * by a manager for suspended sandboxes (no VM boots): the port in the hello,
 * the record and the observed sandbox, the credentials pushed, and another
 * process on the port.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { request as httpsRequest } from "node:https";
import { type AddressInfo, connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import {
  DesiredSandbox,
  INGRESS_TICKET_HEADER,
  SANDBOX_HEADER,
  signIngressTicket,
} from "@turgon/api/agent";
import { type SupervisorFront, SupervisorRecord } from "@turgon/api/supervisor";
import { ensureAgentPki, eventually } from "@turgon/dev/testing";
import WebSocket, { WebSocketServer } from "ws";
import { logger } from "../logger.ts";
import { SandboxManager } from "../sandboxes/manager.ts";
import { SupervisorCallError, SupervisorClient } from "./client.ts";
import { supervisorPaths, supervisorSpoolDir } from "./config.ts";
import { SandboxFront } from "./front.ts";
import { FrontPorts, FrontPortsExhausted } from "./ports.ts";
import { stopSupervisors } from "./processes.ts";
import { SupervisedSandbox } from "./supervised.ts";

const log = logger.child({ test: "front" }, { level: "silent" });
const token = randomUUID();
const closers: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

const headers = (uid: string, ticketFor = uid) => ({
  [SANDBOX_HEADER]: uid,
  [INGRESS_TICKET_HEADER]: signIngressTicket(token, ticketFor),
});

/** A front for a suspended sandbox `uid` (503 to whoever may reach it), listening on loopback. */
async function suspendedFront(uid: string, materialWaitMs?: number) {
  const sandbox = {
    desired: DesiredSandbox.parse({
      uid,
      name: "front",
      namespace: "team-a",
      generation: 1,
      image: "img:test",
      resources: { cpus: 1, memoryMiB: 256 },
    }),
    phase: "Suspended" as const,
    gateway: () => undefined,
    touch: () => {},
  };
  const front = new SandboxFront({
    lookup: (id) => (id === uid ? sandbox : "misdirected"),
    log,
    ...(materialWaitMs ? { materialWaitMs } : {}),
  });
  const port = await front.listen("127.0.0.1", 0);
  closers.push(() => front.close());
  return { front, port };
}

/** The SHA-256 fingerprint of the certificate a TLS port presents. */
async function presented(port: number): Promise<string> {
  const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  try {
    await once(socket, "secureConnect");
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

const fingerprintOf = async (file: string) =>
  new (await import("node:crypto")).X509Certificate(await readFile(file)).fingerprint256;

/** A running sandbox `uid` whose gateway is `gatewayPort`, behind a front on loopback. */
async function runningFront(uid: string, gatewayPort: number, headerTimeoutMs?: number) {
  const sandbox = {
    desired: DesiredSandbox.parse({
      uid,
      name: "front",
      namespace: "team-a",
      generation: 1,
      image: "img:test",
      resources: { cpus: 1, memoryMiB: 256 },
    }),
    phase: "Running" as const,
    gateway: () => ({ host: "127.0.0.1", port: gatewayPort }),
    touch: () => {},
  };
  const front = new SandboxFront({
    lookup: (id) => (id === uid ? sandbox : "misdirected"),
    log,
    ...(headerTimeoutMs ? { headerTimeoutMs } : {}),
  });
  const port = await front.listen("127.0.0.1", 0);
  closers.push(() => front.close());
  return { front, port };
}

/** A gateway stand-in on loopback: answers "app" after `delayMs`, and echoes WebSocket messages. */
async function gatewayStandIn(delayMs = 0): Promise<number> {
  const server = createHttpServer((_req, res) => {
    setTimeout(() => res.end("app"), delayMs);
  });
  const echo = new WebSocketServer({ server });
  echo.on("connection", (socket) => socket.on("message", (data) => socket.send(String(data))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => {
    echo.close();
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Resolves with how long `promise` took, or rejects once `ms` passed. */
async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
  return performance.now() - started;
}

/** A connection to `port` that sends half a request head and then nothing. */
async function halfSentRequest(port: number) {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  socket.write(`GET / HTTP/1.1\r\nhost: front\r\n${SANDBOX_HEADER}: `);
  closers.push(() => socket.destroy());
  return { socket, closed: closedOf(socket) };
}

/** The socket's close, however it comes (a reset included). */
const closedOf = (socket: import("node:net").Socket) =>
  new Promise<void>((resolve) => socket.once("close", () => resolve()));

describe("a sandbox's front, in process", () => {
  it("holds a connection that comes before the credentials, and serves it once they come", async () => {
    const uid = randomUUID();
    const { front, port } = await suspendedFront(uid);
    const answer = fetch(`http://127.0.0.1:${port}/`, { headers: headers(uid) });
    // The connection is accepted (paused) before any credentials exist.
    await eventually(
      "a waiting connection",
      () => front.waitingConnections,
      (n) => n === 1,
      5_000,
      10,
    );
    front.configure({ mode: "token", token });
    const response = await answer;
    assert.equal(response.status, 503, "the suspended sandbox's own answer");
    assert.equal(
      (await fetch(`http://127.0.0.1:${port}/`, { headers: headers(randomUUID()) })).status,
      421,
    );
  });

  it("drops a connection after the wait when no credentials come", async () => {
    const { port } = await suspendedFront(randomUUID(), 200);
    const started = performance.now();
    await assert.rejects(
      fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) }),
      {
        name: "TypeError",
      },
    );
    const waited = performance.now() - started;
    assert.ok(waited >= 150 && waited < 5_000, `dropped after ${waited} ms`);
  });

  it("changes mode and certificate on the same port, and keeps its credentials on bad material", async () => {
    const uid = randomUUID();
    const { front, port } = await suspendedFront(uid);
    front.configure({ mode: "token", token });
    assert.equal((await fetch(`http://127.0.0.1:${port}/`, { headers: headers(uid) })).status, 503);
    const dir = await mkdtemp(join(tmpdir(), "turgon-front-pki-"));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const pki = await ensureAgentPki(dir, "front-a");
    const other = await ensureAgentPki(dir, "front-b");
    const material = async (files: { cert: string; key: string }) => ({
      mode: "certificate" as const,
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
      clientCa: await readFile(pki.ca, "utf8"),
    });
    front.configure(await material(pki.agent));
    assert.equal(await presented(port), await fingerprintOf(pki.agent.cert));
    front.configure(await material(other.agent));
    assert.equal(await presented(port), await fingerprintOf(other.agent.cert));
    const mismatched = { ...(await material(pki.agent)), key: (await material(other.agent)).key };
    assert.throws(() => front.configure(mismatched));
    assert.equal(await presented(port), await fingerprintOf(other.agent.cert), "unchanged");
    // And back to plain HTTP with a token.
    front.configure({ mode: "token", token });
    assert.equal((await fetch(`http://127.0.0.1:${port}/`, { headers: headers(uid) })).status, 503);
  });

  it("cuts a connection whose request head does not come within the header timeout", async () => {
    const uid = randomUUID();
    const { front, port } = await runningFront(uid, await gatewayStandIn(), 300);
    front.configure({ mode: "token", token });
    const { closed } = await halfSentRequest(port);
    const took = await within("the half-sent request is cut", closed, 5_000);
    assert.ok(took >= 200, `cut after ${took} ms`);
    await eventually(
      "the front let go of it",
      () => front.openConnections,
      (n) => n === 0,
      5_000,
      10,
    );
    // So is an idle kept-alive connection that starts a second head and stops.
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await once(socket, "connect");
    const { [SANDBOX_HEADER]: sandboxHeader, [INGRESS_TICKET_HEADER]: ticket } = headers(uid);
    socket.write(
      `GET / HTTP/1.1\r\nhost: front\r\n${SANDBOX_HEADER}: ${sandboxHeader}\r\n${INGRESS_TICKET_HEADER}: ${ticket}\r\n\r\n`,
    );
    const [first] = (await once(socket, "data")) as [Buffer];
    assert.match(String(first), /^HTTP\/1\.1 200/);
    socket.write("GET / HTTP/1.1\r\nhost: fr");
    await within("the half-sent second head is cut", closedOf(socket), 5_000);
  });

  it("lets an answer take longer than the header timeout once the head came (certificate mode)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "turgon-front-pki-"));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const pki = await ensureAgentPki(dir, "front-slow");
    const uid = randomUUID();
    const { front, port } = await runningFront(uid, await gatewayStandIn(700), 300);
    front.configure({
      mode: "certificate",
      cert: await readFile(pki.agent.cert, "utf8"),
      key: await readFile(pki.agent.key, "utf8"),
      clientCa: await readFile(pki.ca, "utf8"),
    });
    const answer = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/",
          headers: { [SANDBOX_HEADER]: uid },
          cert: readFileSync(pki.router.cert),
          key: readFileSync(pki.router.key),
          rejectUnauthorized: false,
          agent: false,
        },
        (res) => {
          let body = "";
          res.on("data", (chunk) => {
            body += chunk;
          });
          res.on("end", () =>
            resolve({ ...(res.statusCode ? { status: res.statusCode } : {}), body }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.deepEqual(answer, { status: 200, body: "app" });
  });

  it("closes at once with a half-sent request and an open WebSocket tunnel", async () => {
    const uid = randomUUID();
    const { front, port } = await runningFront(uid, await gatewayStandIn());
    front.configure({ mode: "token", token });
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: headers(uid) });
    client.on("error", () => {});
    closers.push(() => client.terminate());
    await once(client, "open");
    client.send("ping");
    assert.equal(String((await once(client, "message"))[0]), "ping");
    const half = await halfSentRequest(port);
    assert.equal(front.openConnections, 2);
    // The default header timeout (60 s) is far off: only close() ends them.
    await within("close()", front.close(), 3_000);
    await within("the tunnel ends", new Promise((resolve) => client.once("close", resolve)), 3_000);
    await within("the half-sent request ends", half.closed, 3_000);
  });

  it("never takes an older push of the same agent over a newer one", async () => {
    const uid = randomUUID();
    const { front, port } = await suspendedFront(uid);
    const older = randomUUID();
    assert.equal(front.configure({ mode: "token", token }, { agent: "a", sequence: 2 }), true);
    assert.equal(
      front.configure({ mode: "token", token: older }, { agent: "a", sequence: 1 }),
      false,
      "a late push of older material",
    );
    assert.equal((await fetch(`http://127.0.0.1:${port}/`, { headers: headers(uid) })).status, 503);
    // A restarted agent's pushes count afresh: its first is taken.
    assert.equal(
      front.configure({ mode: "token", token: older }, { agent: "b", sequence: 1 }),
      true,
    );
    assert.equal((await fetch(`http://127.0.0.1:${port}/`, { headers: headers(uid) })).status, 401);
  });
});

describe("pushing a front's credentials (a supervisor that fails the first pushes)", () => {
  it("reports the front only once it took them, retrying until it does", async () => {
    const uid = randomUUID();
    const desired = DesiredSandbox.parse({
      uid,
      name: "front",
      namespace: "team-a",
      generation: 1,
      image: "img:test",
      resources: { cpus: 1, memoryMiB: 256 },
      operatingMode: "Suspended",
    });
    let calls = 0;
    const pushed: SupervisorFront[] = [];
    const client = {
      putFront: async (front: SupervisorFront) => {
        calls++;
        if (calls <= 2) throw new SupervisorCallError(0, "Unreachable", "not yet");
        pushed.push(front);
      },
      subscribe: () => () => {},
      touch: async () => {},
    } as unknown as SupervisorClient;
    let sequence = 0;
    const changes: (number | undefined)[] = [];
    const sandbox = SupervisedSandbox.adopt(
      client,
      { pid: process.pid, frontPort: 40_123 },
      {
        sandbox: {
          uid,
          name: "front",
          namespace: "team-a",
          generation: 1,
          phase: "Suspended",
          routes: [],
          secretNames: [],
        },
        ssh: { state: "off" },
        timings: [],
        desired,
      },
      {
        stateDir: tmpdir(),
        log,
        onTiming: () => {},
        onChange: (s) => changes.push(s.observe().frontPort),
        frontAuth: () => ({
          auth: { mode: "token", token },
          generation: { agent: "test", sequence: ++sequence },
        }),
      },
    );
    closers.push(() => sandbox.detach());
    await sandbox.pushFront();
    assert.equal(calls, 1);
    assert.equal(
      sandbox.observe().frontPort,
      undefined,
      "not reported while it has no credentials",
    );
    await eventually(
      "the retried push",
      () => calls,
      (n) => n >= 3,
      10_000,
      20,
    );
    await eventually(
      "the front reported",
      () => sandbox.observe().frontPort,
      (port) => port === 40_123,
      5_000,
      20,
    );
    assert.equal(changes.at(-1), 40_123, "the agent was told");
    // Each attempt read the credentials afresh: the one taken is the newest.
    assert.deepEqual(pushed.at(-1)?.generation, { agent: "test", sequence: 3 });
    assert.equal(calls, 3, "no push after the one taken");
  });
});

/** Whether `port` can be bound on loopback now. */
async function bindable(port: number): Promise<boolean> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(port, "127.0.0.1", resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

/** `count` adjacent ports free on loopback (bounded search). */
async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 20_000);
    let all = true;
    for (let port = first; port < first + count && all; port++) all = await bindable(port);
    if (all) return first;
  }
  throw new Error(`no ${count} adjacent free ports`);
}
const twoFreePorts = () => freePorts(2);

describe("fronts of real supervisor processes (suspended sandboxes, no VM)", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-front-unit-"));
  closers.push(async () => {
    await stopSupervisors(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });
  const managerWith = (ports: FrontPorts, onFrontRequests?: (code: string, n: number) => void) =>
    new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 8 },
      log,
      ...(onFrontRequests ? { onFrontRequests } : {}),
      supervision: {
        stateDir,
        spoolDirOf: (uid) => supervisorSpoolDir(join(stateDir, "spool"), uid),
        spoolMaxMiB: 8,
        version: "test",
        vm: {
          nodeName: "front-test",
          accelerator: "auto",
          tcgTranslationCacheMiB: 64,
          ingressHeaderTimeoutMs: 1000,
          platformCidrs: [],
        },
        front: { host: "127.0.0.1", ports, auth: () => ({ auth: { mode: "token", token } }) },
      },
    });
  const suspended = (uid: string) =>
    DesiredSandbox.parse({
      uid,
      name: "front",
      namespace: "team-a",
      generation: 1,
      image: "img:test",
      resources: { cpus: 1, memoryMiB: 256 },
      operatingMode: "Suspended",
    });

  it("binds the front before hello, reports its port everywhere, and serves with the pushed credentials", async () => {
    const first = await twoFreePorts();
    const ports = new FrontPorts({ first, last: first + 1 });
    const counted: Record<string, number> = {};
    const manager = managerWith(ports, (code, n) => {
      counted[code] = (counted[code] ?? 0) + n;
    });
    const uid = randomUUID();
    const { sandbox } = await manager.put(suspended(uid));
    assert.equal(sandbox.phase, "Suspended");
    assert.equal(sandbox.frontPort, first);
    assert.equal(ports.portOf(uid), first);
    const record = SupervisorRecord.parse(
      JSON.parse(await readFile(supervisorPaths(stateDir, uid).record, "utf8")),
    );
    assert.equal(record.frontPort, first, "record.json has it for a starting agent");
    const at = (h: Record<string, string>) => fetch(`http://127.0.0.1:${first}/`, { headers: h });
    assert.equal((await at(headers(uid))).status, 503, "the credentials were pushed at start");
    assert.equal((await at({ [SANDBOX_HEADER]: uid })).status, 401);
    assert.equal((await at(headers(uid, randomUUID()))).status, 401);
    assert.equal((await at(headers(randomUUID()))).status, 421);
    // A late push of older material is refused by name; the front keeps the newer.
    const control = new SupervisorClient(supervisorPaths(stateDir, uid).socket);
    await control.putFront({
      auth: { mode: "token", token },
      generation: { agent: "later", sequence: 5 },
    });
    await assert.rejects(
      control.putFront({
        auth: { mode: "token", token: randomUUID() },
        generation: { agent: "later", sequence: 4 },
      }),
      (error) => error instanceof SupervisorCallError && error.code === "StaleFront",
    );
    assert.equal((await at(headers(uid))).status, 503, "still the newer token");
    // The front counted what it answered, and the agent's metrics get it within 5 s.
    await eventually(
      "the front's requests counted by the agent",
      () => ({ ...counted }),
      // undici's fetch sends a request that met a 421 once more, on a new connection.
      (seen) => seen["503"] === 2 && seen["401"] === 2 && (seen["421"] ?? 0) >= 1,
      10_000,
      50,
    );
    await manager.delete(uid);
    assert.equal(ports.portOf(uid), undefined, "released");
    assert.equal(await bindable(first), true, "the supervisor let go of the port");
  });

  it("tries another port when another process holds the one it was given, and sets that one aside", async () => {
    const first = await twoFreePorts();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(first, "127.0.0.1", resolve));
    closers.push(() => squatter.close());
    const ports = new FrontPorts({ first, last: first + 1 });
    const manager = managerWith(ports);
    const uid = randomUUID();
    const { sandbox } = await manager.put(suspended(uid));
    assert.equal(sandbox.phase, "Suspended", JSON.stringify(sandbox));
    assert.equal(sandbox.frontPort, first + 1);
    await manager.delete(uid);
    squatter.close();
    // The refused port stays set aside even once free: the next sandbox gets the other one.
    const next = randomUUID();
    assert.equal((await manager.put(suspended(next))).sandbox.frontPort, first + 1);
    await manager.delete(next);
  });

  it("sets aside the last port it tried too when every attempt finds its port taken", async () => {
    const first = await freePorts(4);
    for (let port = first; port < first + 4; port++) {
      const squatter: Server = createServer();
      await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
      closers.push(() => squatter.close());
    }
    const ports = new FrontPorts({ first, last: first + 3 });
    const manager = managerWith(ports);
    const uid = randomUUID();
    const { sandbox } = await manager.put(suspended(uid));
    assert.equal(sandbox.phase, "Failed", JSON.stringify(sandbox));
    assert.equal(ports.portOf(uid), undefined, "no port held for a supervisor that never ran");
    assert.throws(() => ports.reserve(randomUUID()), FrontPortsExhausted, "all four set aside");
    await manager.delete(uid);
  });
});

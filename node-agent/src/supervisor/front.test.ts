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
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
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
import { SupervisorRecord } from "@turgon/api/supervisor";
import { ensureAgentPki, eventually } from "@turgon/dev/testing";
import { logger } from "../logger.ts";
import { SandboxManager } from "../sandboxes/manager.ts";
import { supervisorPaths, supervisorSpoolDir } from "./config.ts";
import { SandboxFront } from "./front.ts";
import { FrontPorts } from "./ports.ts";
import { stopSupervisors } from "./processes.ts";

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

/** Two adjacent ports free on loopback (bounded search). */
async function twoFreePorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await bindable(first)) && (await bindable(first + 1))) return first;
  }
  throw new Error("no two adjacent free ports");
}

describe("fronts of real supervisor processes (suspended sandboxes, no VM)", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-front-unit-"));
  closers.push(async () => {
    await stopSupervisors(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });
  const managerWith = (ports: FrontPorts) =>
    new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 8 },
      log,
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
    const manager = managerWith(ports);
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
});

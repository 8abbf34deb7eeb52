/**
 * SandboxManager.adopt without VMs: stand-in supervisors (a node:http server
 * on the socket, as a real one serves it) show which ones a starting agent
 * re-adopts (it reports them as they report themselves) and which it reaps.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DesiredSandbox } from "@turgon/api/agent";
import {
  SUPERVISOR_PROTOCOL,
  type SupervisorFront,
  type SupervisorState,
} from "@turgon/api/supervisor";
import { logger } from "../logger.ts";
import { SandboxManager } from "../sandboxes/manager.ts";
import { supervisorPaths } from "./config.ts";
import { FrontPorts } from "./ports.ts";
import { SupervisedSandbox } from "./supervised.ts";

const STARTED_AT = "2026-01-02T03:04:05.000Z";

describe("re-adopting supervisors", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-adopt-unit-"));
  const servers: Server[] = [];
  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await rm(stateDir, { recursive: true, force: true });
  });

  /** The bodies of PUT /front each stand-in received, by uid. */
  const fronts = new Map<string, unknown[]>();
  /** A stand-in supervisor for `uid` that answers hello with `protocol` (and `frontPort`). */
  const standIn = async (
    uid: string,
    protocol: number,
    frontPort?: number,
    warm?: { poolUid: string; claimed: boolean; claimedBy?: string },
  ) => {
    const paths = supervisorPaths(stateDir, uid);
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const desired = DesiredSandbox.parse({
      uid: warm?.claimedBy ?? uid,
      name: "adopted",
      namespace: "team-a",
      generation: 3,
      image: "debian-python:test",
      resources: { cpus: 1, memoryMiB: 256 },
    });
    const state: SupervisorState = {
      desired,
      ...(warm ? { warm: { poolUid: warm.poolUid, claimed: warm.claimed } } : {}),
      sandbox: {
        uid: desired.uid,
        name: desired.name,
        namespace: desired.namespace,
        generation: desired.generation,
        phase: "Running",
        startedAt: STARTED_AT,
        routes: [],
        secretNames: [],
      },
      ssh: { state: "off" },
      timings: [{ kind: "boot", seconds: 4 }],
    };
    const hello = {
      uid,
      protocol,
      version: "old-build",
      pid: process.pid,
      startedAt: STARTED_AT,
      ...(frontPort ? { frontPort } : {}),
    };
    const server = createServer(async (req, res) => {
      const json = (body: unknown) =>
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.method === "PUT" && req.url === "/front") {
        let body = "";
        for await (const chunk of req) body += chunk;
        fronts.set(uid, [...(fronts.get(uid) ?? []), JSON.parse(body)]);
        return json({ frontPort });
      }
      if (req.url === "/hello") return json(hello);
      if (req.url === "/state") return json(state);
      if (req.url === "/events") {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.write(`${JSON.stringify(state)}\n`);
        return;
      }
      res.writeHead(404).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(paths.socket, resolve));
    servers.push(server);
    await writeFile(paths.record, JSON.stringify(hello));
    return paths;
  };

  /** The manager of a new agent build on this state directory, as a restarted agent makes it. */
  const newBuildManager = (test: string, onTiming?: (kind: string) => void) =>
    new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 8 },
      log: logger.child({ test }, { level: "silent" }),
      ...(onTiming ? { onTiming } : {}),
      supervision: {
        stateDir,
        spoolDirOf: (uid) => join(stateDir, "spool", uid),
        spoolMaxMiB: 8,
        version: "new-build",
        vm: {
          nodeName: "adopt-test",
          accelerator: "auto",
          tcgTranslationCacheMiB: 64,
          ingressHeaderTimeoutMs: 1000,
          platformCidrs: [],
        },
      },
    });

  it("adopts a supervisor of its protocol as it reports itself, and reaps one of another", async () => {
    const kept = randomUUID();
    const foreign = randomUUID();
    const silent = randomUUID();
    await standIn(kept, SUPERVISOR_PROTOCOL);
    const foreignPaths = await standIn(foreign, SUPERVISOR_PROTOCOL + 1);
    // A directory whose supervisor is gone: no socket answers.
    await mkdir(supervisorPaths(stateDir, silent).dir, { recursive: true });

    const timings: string[] = [];
    const manager = newBuildManager("adopt", (kind) => timings.push(kind));
    const { adopted, reaped } = await manager.adopt();
    assert.deepEqual(adopted, [kept]);
    assert.deepEqual(reaped.sort(), [foreign, silent].sort());
    const observed = manager.get(kept)?.observe();
    assert.equal(observed?.phase, "Running");
    assert.equal(observed?.startedAt, STARTED_AT, "the original startedAt");
    assert.equal(manager.get(kept)?.desired.generation, 3, "the desired state it holds");
    assert.deepEqual(timings, [], "timings from before the adoption are not counted again");
    await assert.rejects(access(foreignPaths.dir), { code: "ENOENT" });
    await assert.rejects(access(supervisorPaths(stateDir, silent).dir), { code: "ENOENT" });
    await manager.detachAll();
  });

  it("adopts a claimed warm VM under its sandbox's UID, and stops an unclaimed one and one caught mid-claim", async () => {
    const poolUid = randomUUID();
    const [unclaimed, midClaim, claimed, claimant] = [
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
    ];
    await standIn(unclaimed, SUPERVISOR_PROTOCOL, undefined, { poolUid, claimed: false });
    // Marked claimed a moment before it took the sandbox's desired state: still its own.
    await standIn(midClaim, SUPERVISOR_PROTOCOL, undefined, { poolUid, claimed: true });
    await standIn(claimed, SUPERVISOR_PROTOCOL, undefined, {
      poolUid,
      claimed: true,
      claimedBy: claimant,
    });
    const manager = newBuildManager("adopt-warm");
    const { adopted, reaped } = await manager.adopt();
    // Earlier cases' stand-ins share the state directory: only these three are looked at.
    const ours = new Set<string>([unclaimed, midClaim, claimed, claimant]);
    assert.deepEqual(
      adopted.filter((id) => ours.has(id)),
      [claimant],
    );
    assert.deepEqual(reaped.filter((id) => ours.has(id)).sort(), [unclaimed, midClaim].sort());
    assert.equal(manager.get(midClaim), undefined);
    assert.equal(manager.get(claimant)?.desired.uid, claimant);
    await manager.detachAll();
  });

  it("takes the front ports running supervisors report, and hands their fronts the credentials", async () => {
    const withFront = randomUUID();
    const older = randomUUID();
    await standIn(withFront, SUPERVISOR_PROTOCOL, 41_005);
    // A supervisor of a build before fronts: adopted, served by the agent's port alone.
    await standIn(older, SUPERVISOR_PROTOCOL);
    const ports = new FrontPorts({ first: 41_000, last: 41_009 });
    const manager = new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 8 },
      log: logger.child({ test: "adopt" }, { level: "silent" }),
      supervision: {
        stateDir,
        spoolDirOf: (uid) => join(stateDir, "spool", uid),
        spoolMaxMiB: 8,
        version: "new-build",
        vm: {
          nodeName: "adopt-test",
          accelerator: "auto",
          tcgTranslationCacheMiB: 64,
          ingressHeaderTimeoutMs: 1000,
          platformCidrs: [],
        },
        front: {
          host: "127.0.0.1",
          ports,
          auth: () => ({ auth: { mode: "token", token: "a-token-of-sixteen-chars" } }),
        },
      },
    });
    const { adopted } = await manager.adopt();
    assert.ok(adopted.includes(withFront) && adopted.includes(older), adopted.join());
    assert.equal(manager.get(withFront)?.observe().frontPort, 41_005);
    assert.equal(manager.get(older)?.observe().frontPort, undefined);
    assert.equal(ports.portOf(withFront), 41_005, "the allocator holds the adopted port");
    assert.notEqual(ports.reserve(randomUUID()), 41_005);
    const pushed = () => fronts.get(withFront) as SupervisorFront[];
    assert.deepEqual(
      pushed().map(({ auth }) => auth),
      [{ mode: "token", token: "a-token-of-sixteen-chars" }],
    );
    assert.equal(fronts.get(older), undefined, "no front, nothing pushed");
    await manager.pushFrontAuth();
    assert.equal(pushed().length, 2, "pushed again (a rotation)");
    // Numbered in the order read, by one agent: a front never takes the first over the second.
    const [first, second] = pushed().map(({ generation }) => generation);
    assert.ok(first && second && first.agent === second.agent, JSON.stringify(pushed()));
    assert.ok(second.sequence > first.sequence, JSON.stringify(pushed()));
    await manager.detachAll();
  });

  it("frees a deleted sandbox's front port even when its stop fails", async (t) => {
    const uid = randomUUID();
    await standIn(uid, SUPERVISOR_PROTOCOL, 41_107);
    const ports = new FrontPorts({ first: 41_100, last: 41_109 });
    const manager = new SandboxManager({
      allocatable: { cpus: 8, memoryMiB: 8192, vms: 8 },
      log: logger.child({ test: "adopt" }, { level: "silent" }),
      supervision: {
        stateDir,
        spoolDirOf: (id) => join(stateDir, "spool", id),
        spoolMaxMiB: 8,
        version: "new-build",
        vm: {
          nodeName: "adopt-test",
          accelerator: "auto",
          tcgTranslationCacheMiB: 64,
          ingressHeaderTimeoutMs: 1000,
          platformCidrs: [],
        },
        front: {
          host: "127.0.0.1",
          ports,
          auth: () => ({ auth: { mode: "token", token: "a-token-of-sixteen-chars" } }),
        },
      },
    });
    const { adopted } = await manager.adopt();
    assert.ok(adopted.includes(uid), adopted.join());
    assert.equal(ports.portOf(uid), 41_107);
    t.mock.method(SupervisedSandbox.prototype, "stop", async () => {
      throw new Error("the supervisor did not stop");
    });
    await assert.rejects(manager.delete(uid), /did not stop/);
    assert.equal(ports.portOf(uid), undefined, "released all the same");
    t.mock.restoreAll();
    await manager.detachAll();
  });

  it("never puts a deep state directory's socket in a temporary directory someone else made first", async () => {
    const deep = join(stateDir, "x".repeat(120), "state");
    const previous = process.env.TMPDIR;
    const tmp = await mkdtemp(join(tmpdir(), "turgon-foreign-tmp-"));
    try {
      process.env.TMPDIR = tmp;
      // Another user got there first: the directory is open to everyone.
      const squatted = join(tmp, `turgon-supervisors-${process.getuid?.() ?? 0}`);
      await mkdir(squatted, { mode: 0o777 });
      await chmod(squatted, 0o777);
      assert.throws(() => supervisorPaths(deep, randomUUID()), {
        message: new RegExp(`${squatted} is not a private directory`),
      });
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("gives a deep state directory a socket path a Unix socket can take", async () => {
    const deep = join(
      stateDir,
      "a-state-directory-nested-deep-enough",
      "that-its-socket-path",
      "state",
    );
    const uid = randomUUID();
    const { socket } = supervisorPaths(deep, uid);
    assert.ok(Buffer.byteLength(socket) <= 107, socket);
    assert.equal(supervisorPaths(deep, uid).socket, socket, "both sides find the same one");
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socket, resolve);
    });
    servers.push(server);
    const short = supervisorPaths(stateDir, uid).socket;
    assert.equal(
      short,
      join(stateDir, "supervisors", uid, "control.sock"),
      "in its directory when it fits",
    );
  });
});

/**
 * VMs outlive the node agent (issue 17): real agent processes, one real VM
 * in its supervisor. The agent is stopped (SIGTERM) or killed (SIGKILL) and
 * started again from the same state directory: the guest's files, processes
 * and uptime are all still there, startedAt has not moved, exec and live
 * policy work. While the agent is down the supervisor still mediates and
 * audits egress; the events reach Redis when the agent is back, none lost.
 * A supervisor that dies is a VM that died. Each case boots the VM if a
 * case before it has not (so each passes alone under --test-name-pattern).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { access, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SANDBOX_HEADER } from "@turgon/api/agent";
import { agentIngressHeaders } from "@turgon/api/agent/credentials";
import { AUDIT_QUEUE, type AuditBatch, EgressAuditEvent } from "@turgon/api/audit";
import { freePort } from "@turgon/dev/ports";
import {
  type ExternalHost,
  installCrds,
  kubectl,
  type ScratchRedis,
  startExternalHost,
  startScratchRedis,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import {
  type AgentProcess,
  agentApiCaller,
  guestFacts as readGuestFacts,
  startAgentProcess,
  startGuestMarker,
  stopSupervisors,
  testAgentFlags,
} from "../testing.ts";
import { SupervisorClient } from "./client.ts";
import { supervisorPaths } from "./config.ts";
import { isQemu, isSupervisor } from "./process-identity.ts";
import { readSupervisorRecord } from "./record.ts";

/** curl through Gondolin's egress proxy; prints the HTTP status. */
const curl = (url: string) =>
  `curl -s -o /dev/null -m 20 -x http://192.0.2.1:80 -w '%{http_code}' '${url}'`;
/** An address no policy here allows (TEST-NET-2): the guard refuses it before connecting. */
const DENIED_URL = "http://198.51.100.7/denied";

interface Observed {
  phase: string;
  reason?: string;
  startedAt?: string;
  lastActivityAt?: string;
  frontPort?: number;
}

describe("supervisors: VMs outlive the agent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-adopt-"));
  const stateDir = join(dir, "state");
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("adopt");
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  let redis: ScratchRedis;
  let upstream: ExternalHost;
  let agent: AgentProcess | undefined;
  let uid = "";

  const call = agentApiCaller(apiUrl, token);

  const startAgent = () =>
    startAgentProcess({
      args: testAgentFlags(dir, nodeName, redis.url, { "api-port": String(apiPort) }),
      apiUrl,
    });

  const stopAgent = async (signal: NodeJS.Signals) => {
    const running = agent;
    agent = undefined;
    await running?.stop(signal);
  };

  const observe = async () => (await call("GET", `/v1/sandboxes/${uid}`)).json as Observed;

  const waitForPhase = async (phase: string, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    let observed = await observe();
    while (observed.phase !== phase && Date.now() < deadline) {
      await sleep(250);
      observed = await observe();
    }
    assert.equal(observed.phase, phase, JSON.stringify(observed));
    return observed;
  };

  const policy = (allowedHosts: string[]) => ({ allowedHosts, policyName: "adoption-test" });
  const desired = (allowedHosts: string[]) => ({
    uid,
    name: "adopt",
    namespace: "team-a",
    generation: 1,
    image: testEnvironment().guestImage,
    resources: { cpus: 1, memoryMiB: 256 },
    policy: policy(allowedHosts),
    // An app the sandbox's URL serves (its front, or the agent's ingress port).
    command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/etc"],
    ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
  });

  const exec = async (command: string) => {
    const { status, json } = await call("POST", `/v1/sandboxes/${uid}/exec`, { command });
    assert.equal(status, 200, JSON.stringify(json));
    return json as { exitCode: number; stdout: string; stderr: string };
  };

  const record = async () => {
    const found = await readSupervisorRecord(supervisorPaths(stateDir, uid).dir);
    assert.ok(found, "the supervisor's record");
    return found;
  };

  /** The agent runs, and so does the shared VM, with a file written and a process started in it. */
  const ensureVm = async () => {
    agent ??= await startAgent();
    if (uid && (await observe()).phase === "Running") return;
    if (uid) await call("DELETE", `/v1/sandboxes/${uid}`);
    uid = randomUUID();
    assert.equal(
      (await call("PUT", `/v1/sandboxes/${uid}`, desired([upstream.address]))).status,
      201,
    );
    await waitForPhase("Running");
    await exec("echo kept-across-restarts > /srv/kept.txt");
    // A process of the user's, detached from the exec session: it must live on.
    await exec(startGuestMarker());
  };

  /** What shows the guest is the same machine, still running. */
  const guestFacts = () => readGuestFacts(exec, "/srv/kept.txt");

  before(async () => {
    await installCrds();
    redis = await startScratchRedis();
    upstream = await startExternalHost();
    await writeFile(join(dir, "token"), token, { mode: 0o600 });
  });

  after(async () => {
    await stopAgent("SIGTERM");
    await stopSupervisors(stateDir);
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await redis?.remove();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`keeps the VM across an agent ${signal}: files, processes, uptime, startedAt; exec and live policy work`, async () => {
      await ensureVm();
      const first = await guestFacts();
      assert.equal(first.kept, "kept-across-restarts");
      assert.ok(first.marker, "the background process runs");
      const { startedAt, lastActivityAt } = await observe();
      assert.ok(startedAt);
      assert.ok(lastActivityAt, "exec counted as activity");
      const { pid, qemuPid } = await record();

      await stopAgent(signal);
      assert.equal(await isSupervisor(pid, uid), true, "the supervisor outlives the agent");
      assert.ok(qemuPid && (await isQemu(qemuPid)), "so does its QEMU");

      agent = await startAgent();
      const adopted = await observe();
      assert.equal(adopted.phase, "Running", "reported from the agent's first answer");
      assert.equal(adopted.startedAt, startedAt, "startedAt is the original one");
      assert.ok(
        (adopted.lastActivityAt ?? "") >= lastActivityAt,
        "lastActivityAt did not go back (the operator's idleTimeout reads it)",
      );
      const again = await guestFacts();
      assert.equal(again.bootId, first.bootId, "the same boot");
      assert.ok(again.uptime >= first.uptime, `uptime went on (${first.uptime} → ${again.uptime})`);
      assert.equal(again.marker, first.marker, "the background process is the same one");
      assert.equal(again.kept, "kept-across-restarts");
      assert.equal((await record()).qemuPid, qemuPid, "the same QEMU");

      // Live policy through the re-adopted supervisor: denied, then allowed again.
      const denied = await call("PUT", `/v1/sandboxes/${uid}/policy`, policy([]));
      assert.equal(denied.json.outcome, "updated");
      assert.equal((await exec(curl(`${upstream.url}/adopted-denied`))).stdout, "403");
      const allowed = await call("PUT", `/v1/sandboxes/${uid}/policy`, policy([upstream.address]));
      assert.equal(allowed.json.outcome, "updated");
      assert.equal((await exec(curl(`${upstream.url}/adopted-allowed`))).stdout, "200");
    });
  }

  it("serves the sandbox's URL from its own front while the agent is killed; the re-adopted sandbox keeps the port", async () => {
    await ensureVm();
    const { frontPort } = await observe();
    assert.ok(frontPort, "a supervised sandbox reports its front port");
    const credentials = { mode: "token" as const, token };
    const front = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${frontPort}/hostname`, { headers });
    const ticketed = (target: string, ticketFor = target) => ({
      [SANDBOX_HEADER]: target,
      ...agentIngressHeaders(credentials, ticketFor),
    });
    // The app starts with the VM: bounded wait for it to answer through the front.
    const deadline = Date.now() + 60_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await front(ticketed(uid)).catch(() => undefined))?.status ?? 0;
      if (status !== 200) await sleep(250);
    }
    assert.equal(status, 200, "the app answers through the front");

    await stopAgent("SIGKILL");
    const served = await front(ticketed(uid));
    assert.equal(served.status, 200, "the app's answer, with no agent");
    assert.ok((await served.text()).length > 0, "the guest's /etc/hostname");
    assert.equal((await front({ [SANDBOX_HEADER]: uid })).status, 401, "no ticket");
    const other = randomUUID();
    assert.equal((await front(ticketed(uid, other))).status, 401, "a ticket for another sandbox");
    assert.equal((await front(ticketed(other))).status, 421, "another sandbox, its own ticket");

    agent = await startAgent();
    const adopted = await observe();
    assert.equal(adopted.frontPort, frontPort, "the same front port after re-adoption");
    assert.equal((await front(ticketed(uid))).status, 200);
  });

  it("lets no other user of the host reach a supervisor's control socket", async () => {
    await ensureVm();
    const paths = supervisorPaths(stateDir, uid);
    assert.equal((await stat(paths.dir)).mode & 0o777, 0o700, "its directory");
    assert.equal((await stat(paths.socket)).mode & 0o777, 0o600, "the socket");
    // An attacker on the host as another user (nobody) tries to connect.
    const attempt = spawnSync(
      process.execPath,
      [
        "-e",
        `require("node:net").connect(${JSON.stringify(paths.socket)})
          .on("connect", () => { console.log("connected"); process.exit(0); })
          .on("error", (e) => { console.log(e.code); process.exit(3); });`,
      ],
      { uid: 65534, gid: 65534, encoding: "utf8", timeout: 10_000 },
    );
    assert.equal(attempt.stdout.trim(), "EACCES", attempt.stderr);
  });

  it("mediates and audits egress while the agent is down; Redis gets every event once it is back", async () => {
    await ensureVm();
    await stopAgent("SIGKILL");
    // The agent is down: the test speaks to the supervisor as the agent would.
    const supervisor = new SupervisorClient(supervisorPaths(stateDir, uid).socket);
    const run = randomBytes(4).toString("hex");
    const allowed = 4;
    const denied = 3;
    for (let i = 0; i < allowed; i++) {
      const result = await supervisor.exec({
        command: curl(`${upstream.url}/down-${run}-${i}`),
        timeoutMs: 30_000,
      });
      assert.equal(result.stdout, "200", "an allowed host works with the agent down");
    }
    for (let i = 0; i < denied; i++) {
      const result = await supervisor.exec({
        command: curl(`${DENIED_URL}-${run}-${i}`),
        timeoutMs: 30_000,
      });
      assert.equal(result.stdout, "403", "a denied host is refused with the agent down");
    }

    agent = await startAgent();
    const mine = (event: EgressAuditEvent) => event.path.includes(`-${run}-`);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const queue = new Queue(AUDIT_QUEUE, { connection });
    try {
      let events: EgressAuditEvent[] = [];
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const jobs = await queue.getJobs(["waiting", "active", "completed", "delayed"]);
        events = jobs
          .flatMap((job) => (job.data as AuditBatch).lines)
          .map((line) => EgressAuditEvent.parse(JSON.parse(line)))
          .filter(mine);
        if (events.length >= allowed + denied) break;
        await sleep(250);
      }
      const ids = new Set(events.map((e) => e.id));
      assert.equal(ids.size, allowed + denied, "none lost");
      assert.equal(events.length, ids.size, "none twice");
      assert.equal(events.filter((e) => e.decision === "allowed").length, allowed);
      assert.equal(events.filter((e) => e.decision === "denied").length, denied);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it("cleans up a re-adopted supervisor whose sandbox is no longer wanted", async () => {
    await ensureVm();
    const { pid, qemuPid } = await record();
    await stopAgent("SIGKILL");
    agent = await startAgent();
    // The operator's orphan collector lists the agent's sandboxes and deletes
    // the ones no Sandbox wants, as this test does for a Sandbox deleted meanwhile.
    const listed = (await call("GET", "/v1/sandboxes")).json as { items: { uid: string }[] };
    assert.deepEqual(
      listed.items.map((item) => item.uid),
      [uid],
    );
    assert.equal((await call("DELETE", `/v1/sandboxes/${uid}`)).status, 200);
    assert.equal(await isSupervisor(pid, uid), false, "the supervisor is gone");
    assert.equal(await isQemu(qemuPid as number), false, "its QEMU is gone");
    await assert.rejects(access(supervisorPaths(stateDir, uid).dir), { code: "ENOENT" });
  });

  it("reports a sandbox whose supervisor is killed as Failed (VMExited) and stops its QEMU", async () => {
    await ensureVm();
    const { pid, qemuPid } = await record();
    process.kill(pid, "SIGKILL");
    const failed = await waitForPhase("Failed", 30_000);
    assert.equal(failed.reason, "VMExited");
    assert.equal(await isQemu(qemuPid as number), false, "its QEMU was stopped");
    assert.equal((await call("DELETE", `/v1/sandboxes/${uid}`)).status, 200);
    await assert.rejects(access(supervisorPaths(stateDir, uid).dir), { code: "ENOENT" });
  });
});

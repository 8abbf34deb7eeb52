/**
 * Suspend and resume of one real VM through the agent API: the disk is
 * checkpointed (Gondolin's `vm.checkpoint`) and QEMU stops; resuming boots
 * from that disk, so files written before suspend are still there, and the
 * command and routes come back. A restarted agent picks the checkpoint of a
 * suspended sandbox up again; SSH, turned on while suspended, is up when the
 * resumed VM is Running and closed by suspend. One cold boot and two resumes.
 *
 * Only the guest's disk is kept: /root, /tmp, /var/log and /var/cache are
 * tmpfs in Turgon's images, so the test writes under /srv.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ObservedSandbox, SandboxEvent } from "@turgon/api/agent";
import {
  installCrds,
  kubectl,
  type ScratchRedis,
  startScratchRedis,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { type RunningAgent, startAgent } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { logger } from "../logger.ts";
import { sshExec } from "../ssh/testing.ts";
import { insecureIngressHeaders, stopSupervisors, testAgentFlags } from "../testing.ts";

describe("suspend and resume through a disk checkpoint", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-suspend-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("suspend");
  const uid = randomUUID();
  const checkpoint = join(dir, "state", "checkpoints", `${uid}.qcow2`);
  let redis: ScratchRedis;
  let agent: RunningAgent;
  const events: SandboxEvent[] = [];
  const record = (event: SandboxEvent) => {
    if (event.sandbox.uid === uid) events.push(event);
  };

  const start = async () => {
    const config = loadConfig(
      testAgentFlags(dir, nodeName, redis.url, { cpus: "2", "memory-mib": "2048", "max-vms": "4" }),
    );
    agent = await startAgent(config, logger.child({ test: "suspend" }, { level: "warn" }));
    agent.manager.on("event", record);
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${agent.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const put = (operatingMode: "Running" | "Suspended", ssh = false) =>
    call("PUT", `/v1/sandboxes/${uid}`, {
      uid,
      name: "sleepy",
      namespace: "team-a",
      generation: 1,
      image: testEnvironment().guestImage,
      resources: { cpus: 1, memoryMiB: 512 },
      command: [
        "python3",
        "-m",
        "http.server",
        "8000",
        "--bind",
        "127.0.0.1",
        "--directory",
        "/srv",
      ],
      ingress: { enabled: true, routes: [{ prefix: "/", port: 8000 }] },
      ssh: { enabled: ssh },
      operatingMode,
    });
  /** SSH through the agent's credentials and tunnel, as the router does. */
  const overSsh = (command: string) => sshExec({ apiUrl: agent.apiUrl, token, uid, command });
  /** Polls GET until the phase is reached; returns it and how long it took. */
  const waitFor = async (phase: string, since = performance.now()) => {
    const deadline = Date.now() + 180_000;
    for (;;) {
      const { body } = await call("GET", `/v1/sandboxes/${uid}`);
      if (body.phase === phase)
        return { observed: body as unknown as ObservedSandbox, ms: performance.now() - since };
      if (body.phase === "Failed" || Date.now() > deadline)
        throw new Error(`sandbox is ${String(body.phase)}: ${String(body.message)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const ingress = (path: string) =>
    fetch(`${agent.ingressUrl}${path}`, { headers: insecureIngressHeaders(token, uid) });
  /** The detached http.server takes a moment after Running to listen. */
  const ingressText = async (path: string) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const response = await ingress(path);
      if (response.status === 200) return response.text();
      if (Date.now() > deadline) throw new Error(`${path}: HTTP ${response.status}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const guest = async (command: string) => {
    const vm = agent.manager.get(uid)?.vm;
    assert.ok(vm, "the VM runs");
    const result = await vm.exec(command);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout;
  };
  const alive = (pid: number) =>
    access(`/proc/${pid}`).then(
      () => true,
      () => false,
    );

  before(async () => {
    await installCrds();
    redis = await startScratchRedis();
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    await start();
  });

  after(async () => {
    await agent?.stop();
    if (agent) await stopSupervisors(agent.stateDir);
    await redis?.remove();
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  let pid: number | undefined;

  it("boots, and counts an ingress request as activity", async (t) => {
    const created = await put("Running");
    assert.equal(created.status, 201);
    const { ms } = await waitFor("Running");
    t.diagnostic(`cold boot to Running: ${Math.round(ms)} ms`);
    pid = agent.manager.get(uid)?.hostPid();
    assert.ok(pid);
    await guest("echo written-before-suspend > /srv/kept.txt");
    const before = Date.now();
    assert.equal(await ingressText("/kept.txt"), "written-before-suspend\n");
    const { body } = await call("GET", `/v1/sandboxes/${uid}`);
    assert.ok(body.lastActivityAt, "lastActivityAt is reported");
    assert.ok(Date.parse(String(body.lastActivityAt)) >= before - 1000);
    const label = await kubectl([
      "get",
      "sandboxnode",
      nodeName,
      "-o",
      "jsonpath={.metadata.labels.turgon\\.dev/runtime}",
    ]);
    assert.equal(label.stdout, "qemu");
  });

  it("suspends: the disk is checkpointed, QEMU is gone, the slot is kept", async (t) => {
    assert.ok(pid);
    const started = performance.now();
    const suspend = await put("Suspended");
    assert.equal(suspend.body.outcome, "updated", "operatingMode is not a reboot");
    const { observed, ms } = await waitFor("Suspended", started);
    t.diagnostic(`suspend (PUT to Suspended): ${Math.round(ms)} ms`);
    assert.equal(observed.reason, "Checkpointed");
    assert.equal(await alive(pid), false, "the QEMU process is gone");
    await access(checkpoint);
    assert.equal((await ingress("/kept.txt")).status, 503);
    assert.equal(agent.manager.free().vms, 3, "a suspended sandbox keeps its slot");
    const metrics = await (await fetch(`${agent.apiUrl}/metrics`)).text();
    assert.match(metrics, /^turgon_agent_vms\{phase="Suspended"\} 1$/m);
    assert.match(metrics, /^turgon_agent_vm_suspend_seconds_count 1$/m);
  });

  it("resumes from the checkpoint: files written before suspend, command and routes are back, SSH on", async (t) => {
    const started = performance.now();
    const resumedAt = Date.now();
    // SSH turned on while suspended: the resumed VM has it before it is Running.
    assert.equal((await put("Running", true)).body.outcome, "updated");
    const { observed, ms } = await waitFor("Running", started);
    t.diagnostic(`resume with SSH enabled (PUT to Running): ${Math.round(ms)} ms`);
    const ssh = await overSsh("cat /srv/kept.txt");
    assert.deepEqual(ssh, { stdout: "written-before-suspend\n", code: 0 });
    assert.ok(
      Date.parse(String(observed.lastActivityAt)) >= resumedAt - 1000,
      "resume is activity",
    );
    assert.equal(await guest("cat /srv/kept.txt"), "written-before-suspend\n");
    assert.equal(await ingressText("/kept.txt"), "written-before-suspend\n");
    const newPid = agent.manager.get(uid)?.hostPid();
    assert.ok(newPid && newPid !== pid, "a new QEMU process");
    pid = newPid;
    assert.deepEqual(
      events.map((e) => e.sandbox.phase).filter((phase, i, all) => phase !== all[i - 1]),
      ["Booting", "Running", "Suspending", "Suspended", "Booting", "Running"],
    );
  });

  it("keeps a suspended sandbox's disk across an agent restart", async (t) => {
    await guest("echo written-after-resume > /srv/second.txt");
    const ssh = agent.manager.get(uid)?.sshState();
    assert.equal(ssh?.state, "ready");
    const keyFile = ssh.state === "ready" ? ssh.identityFile : "";
    await put("Suspended", true);
    const { ms } = await waitFor("Suspended");
    t.diagnostic(`second suspend (from a resumed VM): ${Math.round(ms)} ms`);
    await assert.rejects(access(keyFile), { code: "ENOENT" }, "suspend removed the SSH key");
    const credentials = await call("GET", `/v1/sandboxes/${uid}/ssh/credentials`);
    assert.deepEqual([credentials.status, credentials.body.error], [409, "NotRunning"]);
    // The agent and the sandbox's supervisor both stop (as on a node restart): the disk is kept.
    await agent.stop();
    await stopSupervisors(agent.stateDir);
    await access(checkpoint);

    await start();
    const adopted = await put("Suspended", true);
    assert.equal(adopted.status, 201);
    assert.equal((await waitFor("Suspended")).observed.reason, "Checkpointed");
    await put("Running", true);
    await waitFor("Running");
    assert.equal(
      (await overSsh("cat /srv/kept.txt /srv/second.txt")).stdout,
      "written-before-suspend\nwritten-after-resume\n",
    );
  });

  it("DELETE stops the VM and removes the checkpoint", async () => {
    const running = agent.manager.get(uid)?.hostPid();
    assert.ok(running);
    assert.equal((await call("DELETE", `/v1/sandboxes/${uid}`)).status, 200);
    assert.equal(await alive(running), false);
    await assert.rejects(access(checkpoint), { code: "ENOENT" });
  });
});

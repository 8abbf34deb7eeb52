/**
 * The agent as a real process: SIGTERM stops the agent alone and exits
 * cleanly (its VMs live on in their supervisors, which `stopSupervisors`
 * ends); when a supervisor died while the agent was down, the next agent
 * reports no phantom sandbox and kills the QEMU left behind. (Re-adoption of
 * live supervisors: `supervisor/adoption.test.ts`.)
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "@turgon/dev/ports";
import {
  installCrds,
  kubectl,
  type ScratchRedis,
  startScratchRedis,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { supervisorPaths } from "./supervisor/config.ts";
import { isQemu, isSupervisor, waitGone } from "./supervisor/process-identity.ts";
import { readSupervisorRecord } from "./supervisor/record.ts";
import { stopSupervisors, testAgentFlags } from "./testing.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** A sandbox's supervisor's record (there once the sandbox was created). */
async function recordOf(stateDir: string, uid: string) {
  const record = await readSupervisorRecord(supervisorPaths(stateDir, uid).dir);
  assert.ok(record, `the supervisor of ${uid} has a record`);
  return record;
}

/** The QEMU of a sandbox's supervisor, from its record. */
async function qemuOf(stateDir: string, uid: string): Promise<number | undefined> {
  return (await recordOf(stateDir, uid)).qemuPid;
}

describe("node agent process", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-proc-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("proc");
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const stateDir = join(dir, "state");
  let redis: ScratchRedis;

  const startProcess = async (): Promise<ChildProcess> => {
    const child = spawn(
      process.execPath,
      [MAIN, ...testAgentFlags(dir, nodeName, redis.url, { "api-port": String(apiPort) })],
      { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, TURGON_LOG_LEVEL: "warn" } },
    );
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if ((await fetch(`${apiUrl}/healthz`).catch(() => undefined))?.ok) return child;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error("the agent process did not come up");
  };
  const put = async (uid: string) => {
    const body = {
      uid,
      name: "proc",
      namespace: "team-a",
      generation: 1,
      image: testEnvironment().guestImage,
      resources: { cpus: 1, memoryMiB: 256 },
    };
    const response = await fetch(`${apiUrl}/v1/sandboxes/${uid}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 201);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const observed = (await (
        await fetch(`${apiUrl}/v1/sandboxes/${uid}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as { phase: string };
      if (observed.phase === "Running") return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error("sandbox did not reach Running");
  };
  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  before(async () => {
    await installCrds();
    redis = await startScratchRedis();
    await writeFile(join(dir, "token"), token, { mode: 0o600 });
  });
  after(async () => {
    await stopSupervisors(stateDir);
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await redis?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it("stops only itself on SIGTERM (exit 0): the VM lives on until stopSupervisors ends it", async () => {
    const agent = await startProcess();
    const uid = randomUUID();
    await put(uid);
    const qemu = await qemuOf(stateDir, uid);
    assert.ok(qemu, "the supervisor started QEMU");
    const code = exited(agent);
    agent.kill("SIGTERM");
    assert.equal(await code, 0);
    assert.equal(await isQemu(qemu), true, "the VM outlives the agent");
    assert.deepEqual(await stopSupervisors(stateDir), [uid]);
    assert.equal(await isQemu(qemu), false, "stopSupervisors closed QEMU");
    await assert.rejects(readdir(supervisorPaths(stateDir, uid).dir), { code: "ENOENT" });
  });

  it("after a supervisor died while the agent was down, the next agent reports no phantom VM and kills its QEMU", async () => {
    const crashed = await startProcess();
    const uid = randomUUID();
    await put(uid);
    const orphan = await qemuOf(stateDir, uid);
    const { pid } = await recordOf(stateDir, uid);
    assert.ok(orphan);
    const gone = exited(crashed);
    crashed.kill("SIGKILL");
    await gone;
    process.kill(pid, "SIGKILL");
    await waitGone(() => isSupervisor(pid, uid), 5_000);
    assert.equal(await isQemu(orphan), true, "QEMU outlives its dead supervisor");

    const restarted = await startProcess();
    try {
      const list = (await (
        await fetch(`${apiUrl}/v1/sandboxes`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { items: unknown[] };
      assert.deepEqual(list.items, []);
      assert.equal(await isQemu(orphan), false, "the orphaned QEMU was killed");
    } finally {
      const code = exited(restarted);
      restarted.kill("SIGTERM");
      await code;
    }
  });
});

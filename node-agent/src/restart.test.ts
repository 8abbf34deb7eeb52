/**
 * The agent as a real process: SIGTERM closes its VMs and exits cleanly; a
 * crashed agent's successor reports no phantom sandboxes and kills the QEMU
 * processes left behind.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
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

import { testAgentFlags } from "./testing.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function qemuChildren(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      if (ppid === parent && cmdline.includes("qemu-system")) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

describe("node agent process", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-agent-proc-"));
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("proc");
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
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
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await redis?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it("closes its VMs and exits 0 on SIGTERM", async () => {
    const agent = await startProcess();
    await put(randomUUID());
    const [qemu] = await qemuChildren(agent.pid as number);
    assert.ok(qemu, "the agent started QEMU");
    const code = exited(agent);
    agent.kill("SIGTERM");
    assert.equal(await code, 0);
    assert.equal(await alive(qemu), false, "QEMU was closed");
  });

  it("after a crash, the next agent reports no phantom VMs and kills the orphaned QEMU", async () => {
    const crashed = await startProcess();
    await put(randomUUID());
    const [orphan] = await qemuChildren(crashed.pid as number);
    assert.ok(orphan);
    const gone = exited(crashed);
    crashed.kill("SIGKILL");
    await gone;
    assert.equal(await alive(orphan), true, "QEMU outlives a crashed agent");

    const restarted = await startProcess();
    try {
      const list = (await (
        await fetch(`${apiUrl}/v1/sandboxes`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { items: unknown[] };
      assert.deepEqual(list.items, []);
      assert.equal(await alive(orphan), false, "the orphaned QEMU was killed");
    } finally {
      const code = exited(restarted);
      restarted.kill("SIGTERM");
      await code;
    }
  });
});

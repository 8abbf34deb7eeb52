/**
 * An upgrade keeps the VMs (issue 17): agent A, started from this checkout,
 * boots a real VM; it is stopped (SIGTERM) and agent B, started from a
 * changed copy of the node agent's code (another version in its
 * package.json, and a log line of its own), takes over the same state
 * directory. B re-adopts the VM that A's build supervises: the guest's file,
 * process, boot and startedAt are the same, exec works through B, and
 * B's DELETE stops the old build's supervisor and its QEMU.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "@turgon/dev/ports";
import {
  installCrds,
  kubectl,
  type ScratchRedis,
  startScratchRedis,
  uniqueName,
} from "@turgon/dev/testing";
import {
  type AgentProcess,
  agentApiCaller,
  bootMarkedSandbox,
  startAgentProcess,
  stopSupervisors,
  testAgentFlags,
} from "../testing.ts";
import { SupervisorClient } from "./client.ts";
import { supervisorPaths } from "./config.ts";
import { isQemu, isSupervisor, waitGone } from "./process-identity.ts";
import { readSupervisorRecord } from "./record.ts";

/** This checkout's node agent workspace, and the repository around it. */
const WORKSPACE = new URL("../../", import.meta.url).pathname;
const REPOSITORY = new URL("../../../", import.meta.url).pathname;
/** Where build B's agent.ts logs its own line: the start of `startAgent`. */
/** The first line of startAgent's body, whatever its parameters: build B logs its marker there. */
const ANCHOR = /export async function startAgent\([^)]*\): Promise<RunningAgent> \{\n/;

/** A copy of the node agent that differs from this checkout: its version and one log line. */
async function changedBuild(root: string, version: string, marker: string): Promise<string> {
  const workspace = join(root, "node-agent");
  await cp(WORKSPACE, workspace, { recursive: true });
  // The copy resolves its dependencies (api, toolkit, npm packages) as the checkout does.
  await symlink(join(REPOSITORY, "node_modules"), join(root, "node_modules"));
  const manifest = join(workspace, "package.json");
  const pkg = JSON.parse(await readFile(manifest, "utf8")) as { version: string };
  assert.notEqual(pkg.version, version);
  await writeFile(manifest, JSON.stringify({ ...pkg, version }, null, 2));
  const agentTs = join(workspace, "src", "agent.ts");
  const source = await readFile(agentTs, "utf8");
  assert.match(source, ANCHOR, "build B's change finds its place in agent.ts");
  await writeFile(
    agentTs,
    source.replace(ANCHOR, (head) => `${head}  log.warn(${JSON.stringify(marker)});\n`),
  );
  return join(workspace, "src", "main.ts");
}

describe("supervisors: an upgraded agent re-adopts the VMs of the build before", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-upgrade-"));
  const buildRoot = await mkdtemp(join(tmpdir(), "turgon-build-b-"));
  const stateDir = join(dir, "state");
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("upgrade");
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const versionB = `0.0.0-upgrade.${randomBytes(3).toString("hex")}`;
  const marker = `build B (${versionB}) starting`;
  let redis: ScratchRedis;
  let mainB = "";
  let agent: AgentProcess | undefined;
  const call = agentApiCaller(apiUrl, token);

  /** Starts the agent whose entry is `main`, logging at info, once it says it started. */
  const startAgent = (main: string) =>
    startAgentProcess({
      main,
      args: testAgentFlags(dir, nodeName, redis.url, { "api-port": String(apiPort) }),
      apiUrl,
      logLevel: "info",
      // The API answers before the agent registers its node and says it started.
      untilLogged: "node agent started",
    });

  const stopAgent = async () => {
    const running = agent;
    agent = undefined;
    await running?.stop();
  };

  /** Every log line of the running agent, parsed. */
  const logLines = () =>
    (agent?.output() ?? "")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg?: string; version?: string });

  before(async () => {
    await installCrds();
    redis = await startScratchRedis();
    await writeFile(join(dir, "token"), token, { mode: 0o600 });
    mainB = await changedBuild(buildRoot, versionB, marker);
  });

  after(async () => {
    await stopAgent();
    await stopSupervisors(stateDir);
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await redis?.remove();
    await rm(dir, { recursive: true, force: true });
    await rm(buildRoot, { recursive: true, force: true });
  });

  it("keeps the VM, its files, processes, boot and startedAt; exec and DELETE work through the new build", async () => {
    // Agent A, this checkout's build.
    agent = await startAgent(join(WORKSPACE, "src", "main.ts"));
    const versionA = logLines().find((line) => line.msg === "node agent started")?.version;
    assert.ok(versionA, "agent A logs its version");
    const { uid, observe, facts, observed, before } = await bootMarkedSandbox(
      call,
      "upgrade",
      "kept-across-upgrades",
    );
    const record = await readSupervisorRecord(supervisorPaths(stateDir, uid).dir);
    assert.ok(record?.qemuPid, "the supervisor recorded its QEMU");
    assert.ok(record.qemuStartTime !== undefined, "and its start time");
    const { pid, qemuPid, qemuStartTime } = record;

    // The upgrade: A stops, B (another build) starts on the same state directory.
    await stopAgent();
    agent = await startAgent(mainB);
    const lines = logLines();
    assert.ok(
      lines.some((line) => line.msg === marker),
      "agent B runs the changed code (its own log line)",
    );
    assert.equal(lines.find((line) => line.msg === "node agent started")?.version, versionB);
    const hello = await new SupervisorClient(supervisorPaths(stateDir, uid).socket).hello();
    assert.equal(hello.version, versionA, "the supervisor is the old build's");
    assert.notEqual(hello.version, versionB, "so it differs from the agent's");
    assert.equal(hello.pid, pid, "the same supervisor process");
    assert.equal(hello.qemuStartTime, qemuStartTime);
    const node = JSON.parse(
      (await kubectl(["get", "sandboxnode", nodeName, "-o", "json"])).stdout,
    ) as { status?: { agentVersion?: string } };
    assert.equal(node.status?.agentVersion, versionB, "the SandboxNode reports the new build");

    const adopted = await observe();
    assert.equal(adopted.phase, "Running", "reported from B's first answer");
    assert.equal(adopted.startedAt, observed.startedAt, "startedAt is the original one");
    const after = await facts();
    assert.equal(after.bootId, before.bootId, "the same boot");
    assert.ok(after.uptime >= before.uptime, `uptime went on (${before.uptime} → ${after.uptime})`);
    assert.equal(after.marker, before.marker, "the background process is the same one");
    assert.equal(after.kept, "kept-across-upgrades");

    // B deletes the sandbox: the old build's supervisor and its QEMU go.
    assert.equal((await call("DELETE", `/v1/sandboxes/${uid}`)).status, 200);
    assert.equal(await waitGone(() => isSupervisor(pid, uid), 10_000), true, "supervisor gone");
    assert.equal(await waitGone(() => isQemu(qemuPid, qemuStartTime), 10_000), true, "QEMU gone");
    await assert.rejects(access(supervisorPaths(stateDir, uid).dir), { code: "ENOENT" });
    await stopAgent();
  });
});

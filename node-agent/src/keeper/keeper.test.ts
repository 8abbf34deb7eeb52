/**
 * The keeper turns an agent crash into a process restart (issue 17, in a
 * container): a real keeper process runs a real agent that boots a real VM;
 * the agent alone is SIGKILLed, and the keeper logs its exit and starts a
 * new one, which re-adopts the VM: the guest's file, process, boot and the
 * sandbox's startedAt are the same, exec works. SIGTERM to the keeper then
 * stops the agent and the keeper, and leaves the supervisor running.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "@turgon/dev/ports";
import {
  installCrds,
  kubectl,
  type ScratchRedis,
  startScratchRedis,
  uniqueName,
} from "@turgon/dev/testing";
import { SupervisorClient } from "../supervisor/client.ts";
import { supervisorPaths } from "../supervisor/config.ts";
import { isProcess, isQemu, isSupervisor, killAndWait } from "../supervisor/process-identity.ts";
import { readSupervisorRecord } from "../supervisor/record.ts";
import {
  type AgentProcess,
  agentApiCaller,
  bootMarkedSandbox,
  startAgentProcess,
  stopSupervisors,
  testAgentFlags,
} from "../testing.ts";
import { AGENT_MAIN } from "./keeper.ts";

const KEEPER_MAIN = new URL("./main.ts", import.meta.url).pathname;

interface LogLine {
  name?: string;
  msg?: string;
  agentPid?: number;
  code?: number | null;
  signal?: string | null;
}

describe("the keeper: an agent crash is a process restart, and the VMs stay", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-keeper-"));
  const stateDir = join(dir, "state");
  const token = randomBytes(24).toString("hex");
  const nodeName = uniqueName("keeper");
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const call = agentApiCaller(apiUrl, token);
  let redis: ScratchRedis;
  let keeper: AgentProcess | undefined;
  /** Every agent the keeper started, so that nothing outlives a failed test. */
  const agentPids = new Set<number>();
  const isAgent = (pid: number) => isProcess(pid, [AGENT_MAIN]);

  /** The keeper's and the agents' log lines so far (they share the keeper's stdout). */
  const logLines = (): LogLine[] =>
    (keeper?.output() ?? "")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as LogLine);
  const keeperSaid = (msg: string) =>
    logLines().filter((line) => line.name === "node-agent-keeper" && line.msg === msg);
  const agentsStarted = () =>
    logLines().filter((line) => line.name === "node-agent" && line.msg === "node agent started");
  const untilLogged = async (what: string, ready: () => boolean, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      assert.ok(Date.now() < deadline, `${what}: ${keeper?.output().slice(-3000)}`);
      await sleep(100);
    }
  };
  const currentAgentPid = () => {
    const pid = keeperSaid("started the node agent").at(-1)?.agentPid;
    assert.ok(pid, "the keeper logs the agent's pid");
    agentPids.add(pid);
    return pid;
  };

  before(async () => {
    await installCrds();
    redis = await startScratchRedis();
    await writeFile(join(dir, "token"), token, { mode: 0o600 });
  });

  after(async () => {
    await keeper?.stop("SIGKILL");
    for (const pid of agentPids) await killAndWait(pid, isAgent);
    await stopSupervisors(stateDir);
    await kubectl(["delete", "sandboxnode", nodeName, "--ignore-not-found"]);
    await redis?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it("SIGKILL to the agent: the keeper starts a new one that re-adopts the VM; SIGTERM to the keeper leaves the supervisor", async (t) => {
    keeper = await startAgentProcess({
      main: KEEPER_MAIN,
      args: testAgentFlags(dir, nodeName, redis.url, { "api-port": String(apiPort) }),
      apiUrl,
      logLevel: "info",
      untilLogged: "node agent started",
    });
    const firstAgent = currentAgentPid();
    assert.equal(
      await isAgent(firstAgent),
      true,
      "the keeper runs the agent as a process of its own",
    );

    const { uid, observe, exec, facts, observed, before } = await bootMarkedSandbox(
      call,
      "keeper",
      "kept-across-crashes",
    );
    const record = await readSupervisorRecord(supervisorPaths(stateDir, uid).dir);
    assert.ok(record?.qemuPid, "the supervisor recorded its QEMU");
    const { pid: supervisorPid, qemuPid, qemuStartTime } = record;

    // The crash: the agent alone, not the keeper.
    const crashedAt = performance.now();
    process.kill(firstAgent, "SIGKILL");
    await untilLogged("the keeper logs the exit", () =>
      keeperSaid("the node agent exited: restarting it").some(
        (line) => line.agentPid === firstAgent && line.signal === "SIGKILL" && line.code === null,
      ),
    );
    await untilLogged("a new agent starts", () => agentsStarted().length === 2);
    // The first restart waits 1 s (the backoff), then the agent starts and re-adopts.
    t.diagnostic(`crash to a new agent serving: ${Math.round(performance.now() - crashedAt)} ms`);
    const secondAgent = currentAgentPid();
    assert.notEqual(secondAgent, firstAgent, "a new process");
    assert.equal(keeperSaid("started the node agent").length, 2);
    assert.equal(keeper.child.exitCode, null, "the keeper runs on");
    assert.equal(keeper.child.signalCode, null);

    const adopted = await observe();
    assert.equal(adopted.phase, "Running", JSON.stringify(adopted));
    assert.equal(adopted.startedAt, observed.startedAt, "startedAt is the original one");
    const hello = await new SupervisorClient(supervisorPaths(stateDir, uid).socket).hello();
    assert.equal(hello.pid, supervisorPid, "the same supervisor process");
    assert.equal(hello.qemuStartTime, qemuStartTime, "and the same QEMU");
    const after = await facts();
    assert.equal(after.bootId, before.bootId, "the same boot");
    assert.ok(after.uptime >= before.uptime, `uptime went on (${before.uptime} → ${after.uptime})`);
    assert.equal(after.marker, before.marker, "the background process is the same one");
    assert.equal(after.kept, "kept-across-crashes");
    assert.equal((await exec("echo exec-works")).stdout.trim(), "exec-works");

    // SIGTERM to the keeper: the agent stops, then the keeper; the VM stays in its supervisor.
    const running = keeper;
    keeper = undefined;
    await running.stop("SIGTERM");
    assert.equal(running.child.exitCode, 0, running.output().slice(-2000));
    assert.throws(() => process.kill(secondAgent, 0), { code: "ESRCH" }, "the agent is gone");
    const lines = running
      .output()
      .split("\n")
      .filter((line) => line.includes('"name":"node-agent-keeper"'))
      .map((line) => JSON.parse(line) as LogLine);
    assert.ok(
      lines.some((line) => line.msg === "the node agent stopped" && line.code === 0),
      "the agent stopped gracefully",
    );
    assert.equal(
      lines.filter((line) => line.msg === "started the node agent").length,
      2,
      "no restart after SIGTERM",
    );
    assert.equal(await isSupervisor(supervisorPid, uid), true, "the supervisor runs on");
    assert.equal(await isQemu(qemuPid, qemuStartTime), true, "and its VM");
  });
});

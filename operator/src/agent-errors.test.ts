/**
 * What the user is told when the agent cannot run a sandbox: the operator
 * (a process, under its RBAC identity) against a real agent run in this
 * process, on the simulated runtime, whose PUT is made to fail — the
 * test-only fault — so that the failure is the agent's own code path.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Sandbox } from "@turgon/api/crd";
import { operatorFlags, toArgs } from "@turgon/dev/stack";
import {
  installCrds,
  kubeConfigAs,
  kubectl,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import {
  loadConfig,
  type RunningAgent,
  startAgent,
  testAgentFlags,
} from "@turgon/node-agent/testing";
import pino from "pino";
import { eventually, type RunningProcess, startProcess } from "./testing.ts";

const RBAC = fileURLToPath(new URL("../deploy/rbac.yaml", import.meta.url));

describe("agent failures in a Sandbox's status", () => {
  const run = uniqueName("err");
  const selector = `turgon.dev/test-run=${run}`;
  const namespace = uniqueName("err");
  const node = uniqueName("err-node");
  let dir = "";
  let agent: RunningAgent;
  let operator: RunningProcess;
  const agentLog: { level: number; msg: string; err?: { message: string } }[] = [];
  let puts = 0;

  const sandbox = (name: string, env: string) => ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace, labels: { "turgon.dev/test-run": run } },
    spec: { image: "simulated:latest", env: [{ name: "WAVE", value: env }] },
  });
  const apply = async (object: object) => {
    const file = join(dir, `${Math.random()}.json`);
    await writeFile(file, JSON.stringify(object));
    const result = await kubectl(["apply", "-f", file]);
    assert.equal(result.exitCode, 0, result.tail);
  };
  const getSandbox = async (name: string) =>
    JSON.parse(
      (await kubectl(["get", "sandbox", name, "-n", namespace, "-o", "json"])).stdout,
    ) as Sandbox;
  const ready = (s: Sandbox) => s.status?.conditions?.find((c) => c.type === "Ready");
  /** Error-level lines the agent logged about its API failing. */
  const apiErrors = () => agentLog.filter((l) => l.level >= 50 && l.msg === "agent API error");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-agent-errors-"));
    await installCrds();
    assert.equal((await kubectl(["apply", "-f", RBAC])).exitCode, 0);
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    const token = randomBytes(24).toString("hex");
    await writeFile(join(dir, "token"), token);
    const lines = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n").filter(Boolean))
          agentLog.push(JSON.parse(line));
        done();
      },
    });
    agent = await startAgent(
      loadConfig(
        testAgentFlags(dir, node, testEnvironment().redisUrl, {
          runtime: "simulated",
          "simulated-boot-ms": "0",
          "heartbeat-seconds": "1",
        }),
      ),
      pino({ level: "info" }, lines),
    );
    assert.equal((await kubectl(["label", "sandboxnode", node, selector])).exitCode, 0);
    const kc = await kubeConfigAs("system:serviceaccount:turgon-system:turgon-operator", [
      "system:serviceaccounts",
      "system:serviceaccounts:turgon-system",
    ]);
    await writeFile(join(dir, "operator.kubeconfig"), kc.exportConfig());
    const flags = operatorFlags({
      kubeconfig: join(dir, "operator.kubeconfig"),
      access: { tokenFile: join(dir, "token") },
      metricsPort: 0,
      selector,
      extra: { "leader-elect": "false" },
    });
    operator = await startProcess("operator", toArgs(flags), "operator started");
  });
  after(async () => {
    await operator?.stop();
    await agent?.stop();
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await kubectl(["delete", "sandboxnode", node, "--ignore-not-found"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("an agent that throws gives Ready=False AgentError, never 'booting'; its stack is logged once per generation", async () => {
    const put = agent.manager.put.bind(agent.manager);
    agent.manager.put = async (desired) => {
      if (desired.name !== "throws") return put(desired);
      puts += 1;
      throw new Error("the disk is on fire\n    at someInternalFrame (agent.ts:1:1)");
    };
    try {
      await apply(sandbox("throws", "one"));
      const failing = await eventually(
        "Ready=False AgentError",
        () => getSandbox("throws"),
        (s) => ready(s)?.reason === "AgentError",
        60_000,
      );
      const condition = ready(failing);
      assert.equal(condition?.status, "False");
      assert.match(condition?.message ?? "", /answered 500: the disk is on fire$/);
      assert.doesNotMatch(condition?.message ?? "", /someInternalFrame/, "no stack reaches status");
      // The operator retries with backoff; the agent logs the stack once for this generation.
      await eventually(
        "three attempts",
        async () => puts,
        (n) => n >= 3,
        60_000,
      );
      assert.equal(apiErrors().length, 1, JSON.stringify(apiErrors()));
      assert.equal(apiErrors()[0]?.err?.message.split("\n")[0], "the disk is on fire");
      // A new generation is a new spec: its failure is logged once more.
      await apply(sandbox("throws", "two"));
      const seen = puts;
      await eventually(
        "attempts at the new generation",
        async () => puts,
        (n) => n >= seen + 2,
        60_000,
      );
      assert.equal(apiErrors().length, 2);
    } finally {
      agent.manager.put = put;
    }
    // Once the agent recovers, so does the sandbox.
    const running = await eventually(
      "Running after the fault",
      () => getSandbox("throws"),
      (s) => ready(s)?.status === "True",
      120_000,
    );
    assert.equal(running.status?.phase, "Running");
  });

  it("a spec the agent refuses gives InvalidSpec with the agent's reason, and no retry loop", async () => {
    const put = agent.manager.put.bind(agent.manager);
    let refusals = 0;
    agent.manager.put = async (desired) => {
      if (desired.name !== "refused") return put(desired);
      refusals += 1;
      throw Object.assign(new Error("image: no such image on this node"), { statusCode: 400 });
    };
    try {
      await apply(sandbox("refused", "one"));
      const refused = await eventually(
        "InvalidSpec",
        () => getSandbox("refused"),
        (s) => ready(s)?.reason === "InvalidSpec",
        60_000,
      );
      assert.equal(refused.status?.phase, "Failed");
      assert.match(ready(refused)?.message ?? "", /image: no such image on this node/);
      const count = refusals;
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      assert.equal(refusals, count, "a spec that cannot succeed is not retried");
      // An edit is a new spec: it is tried again.
      agent.manager.put = put;
      await apply(sandbox("refused", "fixed"));
      const fixed = await eventually(
        "Running after the edit",
        () => getSandbox("refused"),
        (s) => ready(s)?.status === "True",
        60_000,
      );
      assert.equal(fixed.status?.phase, "Running");
    } finally {
      agent.manager.put = put;
    }
  });
});

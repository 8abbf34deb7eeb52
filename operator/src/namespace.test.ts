/**
 * Deleting a namespace through the whole stack: the test platform's
 * kube-controller-manager deletes the namespace's Sandboxes, the operator's
 * finalizer has the node agent destroy the VM, and only then does the
 * namespace go away. A node agent, the operator and the router as real
 * processes, a real VM under TCG.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Sandbox } from "@turgon/api/crd";
import { kubectl, testEnvironment, uniqueName } from "@turgon/dev/testing";
import { isQemu, recordedQemuPid } from "@turgon/node-agent/testing";
import { eventually, type Stack, startStack } from "./testing.ts";

describe("deleting a namespace with a running Sandbox", () => {
  let stack: Stack;
  const namespace = uniqueName("nsdel");

  const agentGet = (uid: string) => stack.agentCall(`/v1/sandboxes/${uid}`);
  /**
   * The agent's API reports no host pid; each VM's supervisor records its QEMU pid (so that a
   * starting agent can reap it), and startStack puts the agent's state under
   * `<stack.dir>/agent/state`.
   */
  const qemuPid = (uid: string) => recordedQemuPid(join(stack.dir, "agent", "state"), uid);

  before(async () => {
    stack = await startStack();
  });

  after(async () => {
    await stack?.stop();
  });

  it("destroys its VM, and the namespace goes away", async () => {
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    const sandbox = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "doomed", namespace, labels: stack.labels },
      spec: { image: testEnvironment().guestImage },
    };
    await writeFile(join(stack.dir, "doomed.json"), JSON.stringify(sandbox));
    const applied = await kubectl(["apply", "-f", join(stack.dir, "doomed.json")]);
    assert.equal(applied.exitCode, 0, applied.tail);

    const ready = await eventually(
      "the sandbox Ready",
      async () => {
        const got = await kubectl(["get", "sandbox", "doomed", "-n", namespace, "-o", "json"]);
        assert.equal(got.exitCode, 0, got.tail);
        return JSON.parse(got.stdout) as Sandbox;
      },
      (s) => s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      180_000,
    );
    const uid = ready.metadata.uid as string;
    const observed = (await agentGet(uid)).json as { phase: string };
    assert.equal(observed.phase, "Running");
    const pid = await qemuPid(uid);
    assert.ok(await isQemu(pid), `pid ${pid} runs QEMU before the deletion`);

    const deleted = await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    assert.equal(deleted.exitCode, 0, deleted.tail);

    await eventually(
      "the QEMU process to exit",
      () => isQemu(pid),
      (alive) => !alive,
      120_000,
    );
    await eventually(
      "the agent to forget the sandbox",
      async () => (await agentGet(uid)).status,
      (status) => status === 404,
      30_000,
    );
    const gone = await eventually(
      "the namespace to be gone",
      () => kubectl(["get", "namespace", namespace, "-o", "name"]),
      (result) => result.exitCode !== 0,
      120_000,
    );
    assert.match(gone.tail, /NotFound/);
  });
});

/**
 * deploy/rbac.yaml on the real API server: an agent identity may create and
 * update its own SandboxNode and nothing else.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { API_VERSION, GROUP, VERSION } from "@turgon/api/crd";
import { installCrds, kubeConfigAs, kubectl, uniqueName } from "@turgon/dev/testing";
import { logger } from "../logger.ts";
import { NodeRegistration } from "./registration.ts";

const RBAC = new URL("../../deploy/rbac.yaml", import.meta.url).pathname;

describe("node agent RBAC", () => {
  const own = uniqueName("own");
  const other = uniqueName("other");

  before(async () => {
    await installCrds();
    const applied = await kubectl(["apply", "-f", RBAC]);
    assert.equal(applied.exitCode, 0, applied.tail);
    // The admission policy is enforced once the API server has observed its
    // binding: wait until a probe write to a foreign name is refused.
    const api = (
      await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"])
    ).makeApiClient(CustomObjectsApi);
    const probe = uniqueName("probe");
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await api.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: "sandboxnodes",
          body: {
            apiVersion: API_VERSION,
            kind: "SandboxNode",
            metadata: { name: probe },
            spec: { address: "http://127.0.0.1:4" },
          },
        });
        await kubectl(["delete", "sandboxnode", probe]);
      } catch (error) {
        if ((error as { code?: number }).code === 403) break;
        throw error;
      }
      if (Date.now() > deadline) throw new Error("the admission policy never took effect");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });
  after(() => kubectl(["delete", "sandboxnode", own, other, "--ignore-not-found"]));

  it("lets an agent register and heartbeat its own SandboxNode", async () => {
    const kc = await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"]);
    const registration = new NodeRegistration(
      kc,
      {
        nodeName: own,
        address: "http://127.0.0.1:1",
        ingressAddress: "http://127.0.0.1:2",
        capacity: { cpus: 2, memoryMiB: 2048, vms: 4 },
        allocatable: { cpus: 8, memoryMiB: 2048, vms: 4 },
        accelerator: () => "tcg",
        runtime: "qemu",
        heartbeatSeconds: 60,
        agentVersion: "test",
      },
      logger.child({}, { level: "warn" }),
    );
    await registration.start();
    registration.stop();
    const ready = await kubectl([
      "get",
      "sandboxnode",
      own,
      "-o",
      "jsonpath={.status.conditions[0].status}",
    ]);
    assert.equal(ready.stdout, "True");
  });

  it("refuses an agent that writes another node's SandboxNode", async () => {
    const api = (
      await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"])
    ).makeApiClient(CustomObjectsApi);
    await assert.rejects(
      api.createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: "sandboxnodes",
        body: {
          apiVersion: API_VERSION,
          kind: "SandboxNode",
          metadata: { name: other },
          spec: { address: "http://127.0.0.1:3" },
        },
      }),
      (error: { code?: number; body?: string }) => {
        assert.equal(error.code, 403, String(error.body));
        assert.match(String(error.body), /a node agent may only write its own SandboxNode/);
        return true;
      },
    );
  });

  it("gives an agent nothing beyond SandboxNodes", async () => {
    const api = (
      await kubeConfigAs(`turgon-node-agent:${own}`, ["turgon:node-agents"])
    ).makeApiClient(CustomObjectsApi);
    await assert.rejects(
      api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: "sandboxpolicies" }),
      (error: { code?: number }) => error.code === 403,
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION, type SandboxNode } from "@turgon/api/crd";
import { mebibytes, schedule } from "./scheduler.ts";

function node(
  name: string,
  free: { cpus: number; memory: string; vms: number },
  extra: { ready?: boolean; labels?: Record<string, string>; unschedulable?: boolean } = {},
): SandboxNode {
  return {
    apiVersion: API_VERSION,
    kind: "SandboxNode",
    metadata: { name, labels: extra.labels ?? {} },
    spec: { address: `http://${name}:7443`, unschedulable: extra.unschedulable ?? false },
    status: {
      allocatable: free,
      conditions: [
        {
          type: "Ready",
          status: extra.ready === false ? "False" : "True",
          lastTransitionTime: "2026-11-25T00:00:00Z",
          reason: "T",
          message: "",
        },
      ],
    },
  };
}

describe("schedule", () => {
  const small = { cpus: 1, memoryMiB: 512 };

  it("spreads: the node with the most room wins, ties by name", () => {
    const nodes = [
      node("b", { cpus: 4, memory: "4Gi", vms: 3 }),
      node("a", { cpus: 4, memory: "4Gi", vms: 3 }),
      node("c", { cpus: 4, memory: "8Gi", vms: 2 }),
    ];
    assert.deepEqual(schedule(small, nodes), { node: "a" });
    assert.deepEqual(
      schedule(small, [
        node("x", { cpus: 2, memory: "2Gi", vms: 5 }),
        node("y", { cpus: 2, memory: "8Gi", vms: 5 }),
      ]),
      { node: "y" },
    );
  });

  it("skips nodes that are not Ready, unschedulable, too small or unmatched", () => {
    const nodes = [
      node("down", { cpus: 8, memory: "8Gi", vms: 8 }, { ready: false }),
      node("cordoned", { cpus: 8, memory: "8Gi", vms: 8 }, { unschedulable: true }),
      node("full", { cpus: 8, memory: "8Gi", vms: 0 }),
      node("tiny", { cpus: 8, memory: "256Mi", vms: 8 }),
      node("gpu", { cpus: 8, memory: "8Gi", vms: 8 }, { labels: { zone: "b" } }),
      node("ok", { cpus: 2, memory: "1Gi", vms: 1 }, { labels: { zone: "a" } }),
    ];
    assert.deepEqual(schedule({ ...small, nodeSelector: { zone: "a" } }, nodes), { node: "ok" });
  });

  it("says why nothing fits", () => {
    assert.equal(schedule(small, []).node, undefined);
    assert.match(JSON.stringify(schedule(small, [])), /NoReadyNodes/);
    assert.match(
      JSON.stringify(
        schedule({ ...small, nodeSelector: { zone: "z" } }, [
          node("a", { cpus: 1, memory: "1Gi", vms: 1 }),
        ]),
      ),
      /NodeSelectorMismatch/,
    );
    assert.match(
      JSON.stringify(
        schedule({ cpus: 4, memoryMiB: 512 }, [node("a", { cpus: 2, memory: "8Gi", vms: 4 })]),
      ),
      /InsufficientCapacity.*4 vCPUs/,
    );
  });

  it("reads Kubernetes binary quantities", () => {
    assert.deepEqual(["512Mi", "2Gi", "1Ti", "bogus"].map(mebibytes), [512, 2048, 1048576, 0]);
  });
});

/** Spreading a pool's warm VMs over nodes, and the pool's status: pure logic. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DesiredWarmPool } from "@turgon/api/agent";
import { API_VERSION, type SandboxNode, type SandboxTemplate } from "@turgon/api/crd";
import { spreadReplicas, subtractReserved } from "./warm-pool-spread.ts";
import { templateShape } from "./warm-pool-state.ts";
import { warmPoolStatus } from "./warm-pool-status.ts";

type Room = { cpus: number; memory: string; vms: number };

function node(name: string, allocatable: Room, ready = true, unschedulable = false): SandboxNode {
  return {
    apiVersion: API_VERSION,
    kind: "SandboxNode",
    metadata: { name },
    spec: { address: `http://${name}:7443`, unschedulable },
    status: {
      allocatable,
      conditions: [
        {
          type: "Ready",
          status: ready ? "True" : "False",
          lastTransitionTime: "2026-12-01T00:00:00Z",
          reason: "AgentHeartbeat",
          message: "",
        },
      ],
    },
  };
}

const shape = { cpus: 1, memoryMiB: 256 };
const big = { cpus: 16, memory: "16Gi", vms: 20 };

describe("spreadReplicas", () => {
  it("puts every warm VM on the only node", () => {
    const { perNode, unplaced } = spreadReplicas(3, shape, [node("a", big)]);
    assert.deepEqual([...perNode], [["a", 3]]);
    assert.equal(unplaced, 0);
  });

  it("spreads evenly over Ready, schedulable nodes and skips the others", () => {
    const nodes = [
      node("a", big),
      node("b", big),
      node("c", big, false),
      node("d", big, true, true),
    ];
    const { perNode, unplaced } = spreadReplicas(5, shape, nodes);
    assert.deepEqual(Object.fromEntries(perNode), { a: 3, b: 2 });
    assert.equal(unplaced, 0);
  });

  it("respects room: VM slots, vCPUs and memory; says how many fit nowhere", () => {
    const nodes = [
      node("a", { cpus: 16, memory: "16Gi", vms: 1 }),
      node("b", { cpus: 2, memory: "16Gi", vms: 10 }),
      node("c", { cpus: 16, memory: "512Mi", vms: 10 }),
    ];
    const { perNode, unplaced } = spreadReplicas(8, shape, nodes);
    assert.deepEqual(Object.fromEntries(perNode), { a: 1, b: 2, c: 2 });
    assert.equal(unplaced, 3);
  });

  it("subtracts other pools' warm VMs from the room", () => {
    const reserved = new Map([["a", { cpus: 1, memoryMiB: 256, vms: 19 }]]);
    const { perNode, unplaced } = spreadReplicas(
      2,
      shape,
      subtractReserved([node("a", big)], reserved),
    );
    assert.deepEqual(Object.fromEntries(perNode), { a: 1 });
    assert.equal(unplaced, 1);
  });
});

describe("warmPoolStatus", () => {
  const now = new Date("2026-12-01T10:00:00Z");
  const ready = (status: ReturnType<typeof warmPoolStatus>) =>
    status.conditions?.find((c) => c.type === "Ready");

  it("is Ready once every warm VM is, and Warming before", () => {
    const spread = { kind: "Spread" as const, desired: 3, unplaced: 0, replicas: 3 };
    const warming = warmPoolStatus({}, 2, { ...spread, readyReplicas: 1 }, now);
    assert.equal(warming.observedGeneration, 2);
    assert.equal(warming.readyReplicas, 1);
    assert.deepEqual(
      { status: ready(warming)?.status, reason: ready(warming)?.reason },
      { status: "False", reason: "Warming" },
    );
    const later = new Date("2026-12-01T10:01:00Z");
    const full = warmPoolStatus(warming, 2, { ...spread, readyReplicas: 3 }, later);
    assert.equal(ready(full)?.status, "True");
    assert.equal(ready(full)?.message, "3 of 3 warm VMs ready");
    assert.equal(ready(full)?.lastTransitionTime, "2026-12-01T10:01:00Z");
  });

  it("names the template that is missing, and capacity that is short", () => {
    const missing = warmPoolStatus(
      {},
      1,
      { kind: "TemplateNotFound", message: "spec.templateRef.name: x" },
      now,
    );
    assert.equal(ready(missing)?.reason, "TemplateNotFound");
    assert.match(String(ready(missing)?.message), /spec\.templateRef\.name/);
    const short = warmPoolStatus(
      {},
      1,
      { kind: "Spread", desired: 4, unplaced: 2, replicas: 2, readyReplicas: 2 },
      now,
    );
    assert.equal(ready(short)?.reason, "NoCapacity");
    assert.match(String(ready(short)?.message), /2 of 4 warm VMs ready; 2 fit on no Ready/);
  });

  it("passes on why an agent is short", () => {
    const status = warmPoolStatus(
      {},
      1,
      {
        kind: "Spread",
        desired: 2,
        unplaced: 0,
        replicas: 1,
        readyReplicas: 0,
        agentProblem: { reason: "BootFailed", message: "node-a: qemu exited" },
      },
      now,
    );
    assert.equal(ready(status)?.reason, "BootFailed");
    assert.match(String(ready(status)?.message), /node-a: qemu exited/);
  });
});

describe("the pool's boot shape, as the agent takes it", () => {
  it("a template's image, resources (defaults filled) and rootfs mode make a valid DesiredWarmPool", () => {
    const template = (spec: SandboxTemplate["spec"]): SandboxTemplate => ({
      apiVersion: API_VERSION,
      kind: "SandboxTemplate",
      metadata: { name: "t", namespace: "team-a" },
      spec,
    });
    for (const spec of [
      { image: "debian-python:latest" },
      { image: "x:1", resources: { cpus: 2 }, rootfsMode: "cow" as const },
      { image: "x:1", resources: { memory: "1Gi" }, command: ["sleep", "1"] },
    ]) {
      const shape = templateShape(template(spec));
      const desired = DesiredWarmPool.safeParse({
        uid: "0b3c9f8e-1d2a-4c5b-8e7f-123456789abc",
        name: "web",
        namespace: "team-a",
        generation: 1,
        ...shape,
        replicas: 100,
      });
      assert.ok(desired.success, JSON.stringify(desired.error?.issues));
    }
    assert.deepEqual(templateShape(template({ image: "x:1" })).resources, {
      cpus: 1,
      memoryMiB: 512,
    });
  });
});

/** The scheduler's room: allocatable (vCPUs overcommitted by the agent) minus placed sandboxes. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION, type Sandbox, type SandboxNode } from "@turgon/api/crd";
import { schedule } from "../scheduling/scheduler.ts";
import { nodeRoom, type Placements } from "./room.ts";

type Quantity = { cpus: number; memory: string; vms: number };

function node(name: string, capacity: Quantity, allocatable?: Quantity): SandboxNode {
  return {
    apiVersion: API_VERSION,
    kind: "SandboxNode",
    metadata: { name },
    spec: { address: `http://${name}:7443`, unschedulable: false },
    status: {
      capacity,
      ...(allocatable ? { allocatable } : {}),
      conditions: [
        {
          type: "Ready",
          status: "True",
          lastTransitionTime: "2026-11-25T00:00:00Z",
          reason: "AgentHeartbeat",
          message: "",
        },
      ],
    },
  };
}

/** `count` one-vCPU, 256 MiB sandboxes placed on `nodeName`. */
function placed(nodeName: string, count: number, phase = "Running"): Sandbox[] {
  return Array.from(
    { length: count },
    (_, i) =>
      ({
        apiVersion: API_VERSION,
        kind: "Sandbox",
        metadata: { name: `s${i}`, namespace: "team-a", uid: `${nodeName}-${i}` },
        spec: {},
        status: { phase, nodeName },
      }) as unknown as Sandbox,
  );
}

const placements: Placements = {
  nodeOf: (sandbox) => sandbox.status?.nodeName,
  requestOf: () => ({ cpus: 1, memoryMiB: 256 }),
};

describe("nodeRoom", () => {
  // An agent with 2 vCPUs at the default ratio 4: 8 vCPUs can be placed.
  const overcommitted = node(
    "kvm-1",
    { cpus: 2, memory: "4096Mi", vms: 16 },
    { cpus: 8, memory: "4096Mi", vms: 16 },
  );

  it("counts placed sandboxes against allocatable vCPUs, not the physical capacity", () => {
    const [room] = nodeRoom([overcommitted], placed("kvm-1", 3), placements);
    assert.deepEqual(room?.status?.allocatable, { cpus: 5, memory: "3328Mi", vms: 13 });
    assert.deepEqual(room?.status?.capacity, overcommitted.status?.capacity, "capacity untouched");
  });

  it("lets the scheduler place more one-vCPU sandboxes than the node has cores", () => {
    const request = { cpus: 1, memoryMiB: 256 };
    for (const count of [2, 3, 7])
      assert.deepEqual(
        schedule(request, nodeRoom([overcommitted], placed("kvm-1", count), placements)),
        { node: "kvm-1" },
        `${count} placed`,
      );
    const full = schedule(request, nodeRoom([overcommitted], placed("kvm-1", 8), placements));
    assert.equal(full.node, undefined);
    assert.match(JSON.stringify(full), /InsufficientCapacity/);
  });

  it("does not count failed sandboxes, and falls back to capacity for agents without allocatable", () => {
    const [room] = nodeRoom([overcommitted], placed("kvm-1", 2, "Failed"), placements);
    assert.equal(room?.status?.allocatable?.cpus, 8);
    const old = node("old", { cpus: 2, memory: "2Gi", vms: 4 });
    const [oldRoom] = nodeRoom([old], placed("old", 1), placements);
    assert.deepEqual(oldRoom?.status?.allocatable, { cpus: 1, memory: "1792Mi", vms: 3 });
  });
});

/** Where a sandbox that may claim a warm VM goes, and the room warm VMs take: pure logic over cached objects. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ObservedWarmPool } from "@turgon/api/agent";
import { API_VERSION, type Sandbox, type SandboxNode } from "@turgon/api/crd";
import type { Caches } from "../controller/caches.ts";
import { SandboxPlacements } from "./placement.ts";
import { WarmPoolState } from "./warm-pool-state.ts";

const POOL = "0b3c9f8e-1d2a-4c5b-8e7f-123456789abc";

function node(name: string, vms: number): SandboxNode {
  return {
    apiVersion: API_VERSION,
    kind: "SandboxNode",
    metadata: { name },
    spec: { address: `http://${name}:7443`, unschedulable: false },
    status: {
      allocatable: { cpus: 16, memory: "16Gi", vms },
      conditions: [
        {
          type: "Ready",
          status: "True",
          lastTransitionTime: "2026-12-01T00:00:00Z",
          reason: "AgentHeartbeat",
          message: "",
        },
      ],
    },
  };
}

/** A claimant of the pool placed on `nodeName`, started or not. */
function claimant(name: string, nodeName: string, started: boolean): Sandbox {
  return {
    apiVersion: API_VERSION,
    kind: "Sandbox",
    metadata: { name, namespace: "team-a", uid: `uid-${name}` },
    spec: {
      templateRef: { name: "web" },
      operatingMode: "Running",
      restartPolicy: "Never",
    },
    status: { nodeName, ...(started ? { startedAt: "2026-12-01T00:00:00Z" } : {}) },
  };
}

/** Informer caches stood in for by lists: only list() and get() are read here. */
function caches(nodes: SandboxNode[], sandboxes: Sandbox[]): Caches {
  const cache = <T extends { metadata: { name?: string } }>(items: T[]) => ({
    list: () => items,
    get: (name: string) => items.find((i) => i.metadata.name === name),
  });
  return { nodes: cache(nodes), sandboxes: cache(sandboxes), templates: cache([]) } as never;
}

function report(readyReplicas: number): ObservedWarmPool {
  return {
    uid: POOL,
    name: "web",
    namespace: "team-a",
    generation: 1,
    desiredReplicas: 2,
    replicas: 2,
    readyReplicas,
  };
}

const claim = { poolUid: POOL, poolName: "web", namespace: "team-a", templateName: "web" };
const spec = { image: "x:1", operatingMode: "Running" as const, restartPolicy: "Never" as const };

describe("warm placement", () => {
  it("sends a claim to the node with a ready warm VM, even one the scheduler would not pick", () => {
    const state = new WarmPoolState();
    state.observe("small", report(1));
    const placements = new SandboxPlacements(
      caches([node("big", 10), node("small", 1)], []),
      state,
    );
    assert.deepEqual(placements.choose(spec, claim), { node: "small" });
    // Without a claim the most room wins.
    assert.deepEqual(placements.choose(spec), { node: "big" });
  });

  it("does not promise one warm VM to two claimants: a claim not yet started holds it", () => {
    const state = new WarmPoolState();
    state.observe("small", report(1));
    const placements = new SandboxPlacements(
      caches([node("big", 10), node("small", 5)], [claimant("first", "small", false)]),
      state,
    );
    assert.deepEqual(placements.choose(spec, claim), { node: "big" });
  });

  it("places a cold sandbox beside the warm VMs where it fits, and takes their room where it does not", () => {
    const state = new WarmPoolState();
    state.assign(
      POOL,
      { image: "x:1", resources: { cpus: 1, memoryMiB: 512 } },
      new Map([["a", 3]]),
    );
    // Node a has more room in all, but all of it is warm VMs': b is chosen.
    const both = new SandboxPlacements(caches([node("a", 3), node("b", 1)], []), state);
    assert.deepEqual(both.choose(spec), { node: "b" });
    // With a alone, the warm VMs give way (the agent stops one) instead of leaving it Pending.
    const full = new SandboxPlacements(caches([node("a", 3)], []), state);
    assert.deepEqual(full.choose(spec), { node: "a" });
  });

  it("still refuses a sandbox that would not fit even without the warm VMs", () => {
    const state = new WarmPoolState();
    state.assign(
      POOL,
      { image: "x:1", resources: { cpus: 1, memoryMiB: 512 } },
      new Map([["a", 1]]),
    );
    const placements = new SandboxPlacements(
      caches([node("a", 1)], [claimant("running", "a", true)]),
      state,
    );
    const placement = placements.choose(spec);
    assert.equal(placement.node, undefined);
    assert.match(String("reason" in placement && placement.reason), /InsufficientCapacity/);
  });
});

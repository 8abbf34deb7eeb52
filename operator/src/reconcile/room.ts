import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { mebibytes } from "../scheduling/scheduler.ts";

export interface Placements {
  /** The node a sandbox is placed on, including placements not yet in the cache. */
  nodeOf(sandbox: Sandbox): string | undefined;
  /** What a sandbox asks of its node. */
  requestOf(sandbox: Sandbox): { cpus: number; memoryMiB: number };
}

/**
 * SandboxNodes with `allocatable` replaced by their free room: what the agent
 * says can be placed (`status.allocatable`, vCPUs already overcommitted by its
 * --cpu-allocation-ratio; `capacity` from agents that predate it) minus the
 * sandboxes placed on them, as kube-scheduler counts assumed pods. Counting
 * placements here, not in the agents' heartbeats, keeps a burst of
 * placements from stacking onto one node.
 */
export function nodeRoom(
  nodes: SandboxNode[],
  sandboxes: Sandbox[],
  placements: Placements,
): SandboxNode[] {
  const used = new Map<string, { cpus: number; memoryMiB: number; vms: number }>();
  for (const sandbox of sandboxes) {
    const node = placements.nodeOf(sandbox);
    if (!node || sandbox.status?.phase === "Failed") continue;
    const request = placements.requestOf(sandbox);
    const total = used.get(node) ?? { cpus: 0, memoryMiB: 0, vms: 0 };
    total.cpus += request.cpus;
    total.memoryMiB += request.memoryMiB;
    total.vms += 1;
    used.set(node, total);
  }
  return nodes.map((node) => {
    const total = node.status?.allocatable ?? node.status?.capacity;
    if (!total) return node;
    const taken = used.get(node.metadata.name as string) ?? { cpus: 0, memoryMiB: 0, vms: 0 };
    const allocatable = {
      cpus: total.cpus - taken.cpus,
      memory: `${Math.max(0, Math.floor(mebibytes(total.memory) - taken.memoryMiB))}Mi`,
      vms: total.vms - taken.vms,
    };
    return { ...node, status: { ...node.status, allocatable } };
  });
}

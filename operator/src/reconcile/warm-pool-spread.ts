import type { SandboxNode } from "@turgon/api/crd";
import { isReady } from "@turgon/api/crd";
import { mebibytes } from "../scheduling/scheduler.ts";

/** What one warm VM takes from its node. */
export interface VmShape {
  cpus: number;
  memoryMiB: number;
}

/** Where a pool's warm VMs go: node → how many, and how many fit nowhere. */
export interface Spread {
  perNode: Map<string, number>;
  unplaced: number;
}

/**
 * Spreads `replicas` warm VMs over Ready, schedulable nodes: each VM goes to
 * the node with the fewest of this pool so far that still has room for it
 * (VM slots, vCPUs, memory), ties to the node with the most free slots, then
 * by name, so the result is stable between reconciles. `nodes` carry their
 * free room in `status.allocatable` (room.ts: placed sandboxes and other
 * pools' warm VMs already subtracted); with one node, all go there.
 */
export function spreadReplicas(replicas: number, shape: VmShape, nodes: SandboxNode[]): Spread {
  const candidates = nodes
    .filter((n) => isReady(n) && !n.spec.unschedulable)
    .map((n) => {
      const a = n.status?.allocatable;
      return {
        name: n.metadata.name as string,
        vms: a?.vms ?? 0,
        cpus: a?.cpus ?? 0,
        memoryMiB: mebibytes(a?.memory ?? "0Mi"),
        placed: 0,
      };
    })
    .sort((x, y) => x.name.localeCompare(y.name));
  const perNode = new Map<string, number>();
  let unplaced = 0;
  for (let i = 0; i < replicas; i++) {
    const fitting = candidates.filter(
      (c) => c.vms >= 1 && c.cpus >= shape.cpus && c.memoryMiB >= shape.memoryMiB,
    );
    fitting.sort((x, y) => x.placed - y.placed || y.vms - x.vms || x.name.localeCompare(y.name));
    const chosen = fitting[0];
    if (!chosen) {
      unplaced = replicas - i;
      break;
    }
    chosen.placed += 1;
    chosen.vms -= 1;
    chosen.cpus -= shape.cpus;
    chosen.memoryMiB -= shape.memoryMiB;
    perNode.set(chosen.name, chosen.placed);
  }
  return { perNode, unplaced };
}

/** Subtracts warm VMs reserved on each node from its free room (as nodeRoom does for sandboxes). */
export function subtractReserved(
  nodes: SandboxNode[],
  reserved: Map<string, { cpus: number; memoryMiB: number; vms: number }>,
): SandboxNode[] {
  return nodes.map((node) => {
    const taken = reserved.get(node.metadata.name as string);
    const free = node.status?.allocatable;
    if (!taken || !free) return node;
    const allocatable = {
      cpus: free.cpus - taken.cpus,
      memory: `${Math.max(0, Math.floor(mebibytes(free.memory) - taken.memoryMiB))}Mi`,
      vms: free.vms - taken.vms,
    };
    return { ...node, status: { ...node.status, allocatable } };
  });
}

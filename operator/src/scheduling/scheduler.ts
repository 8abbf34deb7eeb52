import type { SandboxNode } from "@turgon/api/crd";
import { isReady } from "@turgon/api/crd";

export interface Request {
  cpus: number;
  memoryMiB: number;
  nodeSelector?: Record<string, string>;
}

export type Placement = { node: string } | { node: undefined; reason: string; message: string };

/** Parses the Mi/Gi quantities SandboxNodes report into MiB. */
export function mebibytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti)$/.exec(quantity);
  if (!match) return 0;
  const factor = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024 }[
    match[2] as "Ki" | "Mi" | "Gi" | "Ti"
  ];
  return Number(match[1]) * factor;
}

function matchesSelector(node: SandboxNode, selector: Record<string, string> | undefined): boolean {
  const labels = node.metadata.labels ?? {};
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

/**
 * Chooses a Ready, schedulable SandboxNode whose allocatable room fits the
 * request and whose labels match the nodeSelector. Among those it spreads:
 * the node with the most free room (VM slots, then memory, then CPUs) wins,
 * ties broken by name so the choice is stable. When nothing fits it says why.
 */
export function schedule(request: Request, nodes: SandboxNode[]): Placement {
  const ready = nodes.filter((n) => isReady(n) && !n.spec.unschedulable);
  if (ready.length === 0)
    return {
      node: undefined,
      reason: "NoReadyNodes",
      message: "no SandboxNode is Ready and schedulable",
    };
  const selected = ready.filter((n) => matchesSelector(n, request.nodeSelector));
  if (selected.length === 0) {
    return {
      node: undefined,
      reason: "NodeSelectorMismatch",
      message: `no Ready SandboxNode matches nodeSelector ${JSON.stringify(request.nodeSelector)}`,
    };
  }
  const room = (n: SandboxNode) => {
    const a = n.status?.allocatable;
    return { vms: a?.vms ?? 0, memoryMiB: mebibytes(a?.memory ?? "0Mi"), cpus: a?.cpus ?? 0 };
  };
  const fitting = selected.filter((n) => {
    const free = room(n);
    return free.vms >= 1 && free.cpus >= request.cpus && free.memoryMiB >= request.memoryMiB;
  });
  if (fitting.length === 0) {
    return {
      node: undefined,
      reason: "InsufficientCapacity",
      message: `none of ${selected.length} matching Ready SandboxNodes has ${request.cpus} vCPUs, ${request.memoryMiB} MiB and a VM slot free`,
    };
  }
  fitting.sort((x, y) => {
    const a = room(x);
    const b = room(y);
    return (
      b.vms - a.vms ||
      b.memoryMiB - a.memoryMiB ||
      b.cpus - a.cpus ||
      (x.metadata.name ?? "").localeCompare(y.metadata.name ?? "")
    );
  });
  return { node: fitting[0]?.metadata.name as string };
}

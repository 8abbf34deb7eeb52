/**
 * The nodes page's rows, shared by the tRPC router and the browser.
 *
 * What a member (not an admin) sees of a node, and why: that it exists,
 * whether it is Ready or cordoned, its accelerator, capacity, allocatable
 * and heartbeat — what they need to tell why their sandbox is Pending or
 * slow — and how many of *their teams'* sandboxes run there. Not the agent's
 * address or version (the agent API is for the control plane alone; its
 * address and version help an attacker more than a tenant), and not how
 * many sandboxes other teams run there (other tenants' activity).
 */
import type { SandboxNode } from "@turgon/api/crd";

export interface Capacity {
  cpus: number;
  memory: string;
  vms: number;
}

export interface NodeRow {
  name: string;
  ready: "True" | "False" | "Unknown";
  /** The Ready condition's reason and message when it is not True. */
  readyReason: string | null;
  readyMessage: string | null;
  unschedulable: boolean;
  accelerator: "kvm" | "tcg" | null;
  capacity: Capacity | null;
  allocatable: Capacity | null;
  heartbeat: string | null;
  createdAt: string | null;
  deleting: boolean;
  /** Sandboxes placed on the node that the viewer may see (every one, for admins). */
  sandboxes: number;
  /** Admins only. */
  address?: string;
  agentVersion?: string;
}

export function nodeRowOf(node: SandboxNode, sandboxes: number, admin: boolean): NodeRow {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  return {
    name: node.metadata.name as string,
    ready: ready?.status ?? "Unknown",
    readyReason: ready && ready.status !== "True" ? ready.reason || null : null,
    readyMessage: ready && ready.status !== "True" ? ready.message || null : null,
    unschedulable: node.spec.unschedulable ?? false,
    accelerator: node.status?.accelerator ?? null,
    capacity: node.status?.capacity ?? null,
    allocatable: node.status?.allocatable ?? null,
    heartbeat: node.status?.lastHeartbeatTime ?? null,
    createdAt: node.metadata.creationTimestamp ?? null,
    deleting: Boolean(node.metadata.deletionTimestamp),
    sandboxes,
    ...(admin
      ? {
          address: node.spec.address,
          ...(node.status?.agentVersion ? { agentVersion: node.status.agentVersion } : {}),
        }
      : {}),
  };
}

export type NodeListEvent =
  | { type: "snapshot"; rows: NodeRow[] }
  | { type: "upsert"; row: NodeRow }
  | { type: "remove"; name: string }
  /** Sandboxes per node changed (placements, deletions): node → count. */
  | { type: "counts"; counts: Record<string, number> };

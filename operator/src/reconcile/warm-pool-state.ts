import { isDeepStrictEqual } from "node:util";
import type { DesiredSandbox, ObservedWarmPool } from "@turgon/api/agent";
import type { Sandbox, SandboxSpec, SandboxTemplate, SandboxWarmPool } from "@turgon/api/crd";
import type { Caches } from "../controller/caches.ts";
import { requestOf } from "./desired.ts";
import { applyTemplate, type EffectiveSpec } from "./template.ts";

/** What is fixed when a VM boots: a warm VM serves only a sandbox of the same shape. */
export type BootShape = Pick<DesiredSandbox, "image" | "resources" | "rootfsMode">;

export function bootShape(spec: EffectiveSpec): BootShape {
  return {
    image: spec.image,
    resources: requestOf(spec),
    ...(spec.rootfsMode ? { rootfsMode: spec.rootfsMode } : {}),
  };
}

/** The boot shape a template gives a sandbox that sets nothing of its own. */
export function templateShape(template: SandboxTemplate): BootShape {
  const bare: SandboxSpec = {
    templateRef: { name: template.metadata.name as string },
    operatingMode: "Running",
    restartPolicy: "Never",
  };
  return bootShape(applyTemplate(bare, template));
}

/**
 * The SandboxWarmPool a sandbox may claim a VM from: one in its namespace
 * for the template it names, not being deleted, whose template gives the
 * same boot shape as the sandbox's own effective spec (a sandbox that
 * overrides image, resources or rootfs mode boots cold).
 */
export function warmPoolFor(
  caches: Pick<Caches, "warmPools" | "templates">,
  sandbox: Sandbox,
  spec: EffectiveSpec,
): SandboxWarmPool | undefined {
  const ref = sandbox.spec.templateRef?.name;
  if (!ref) return undefined;
  const namespace = sandbox.metadata.namespace;
  const template = caches.templates.get(ref, namespace);
  if (!template) return undefined;
  const shape = bootShape(spec);
  if (!isDeepStrictEqual(templateShape(template), shape)) return undefined;
  return (caches.warmPools.list(namespace) as SandboxWarmPool[]).find(
    (pool) =>
      pool.spec.templateRef.name === ref &&
      pool.spec.replicas > 0 &&
      !pool.metadata.deletionTimestamp,
  );
}

type Room = { cpus: number; memoryMiB: number; vms: number };

/**
 * What the operator knows of warm pools across agents: each agent's report
 * per pool (from its event stream, list and PUT answers), and where the
 * pool controller last spread each pool. The sandbox controller reads it
 * to place a claim where a warm VM is ready, and to count warm VMs as
 * taken room when it places a cold sandbox.
 */
export class WarmPoolState {
  /** node → pool UID → the agent's last report. */
  private readonly observed = new Map<string, Map<string, ObservedWarmPool>>();
  /** pool UID → the shape of its VMs and how many each node keeps. */
  private readonly assigned = new Map<string, { shape: BootShape; perNode: Map<string, number> }>();

  observe(node: string, pool: ObservedWarmPool): void {
    let pools = this.observed.get(node);
    if (!pools) {
      pools = new Map();
      this.observed.set(node, pools);
    }
    pools.set(pool.uid, pool);
  }

  /** The agent holds nothing of the pool any more. */
  drop(node: string, poolUid: string): void {
    this.observed.get(node)?.delete(poolUid);
  }

  /** Everything one agent holds, as its list says (after it (re)connects). */
  replaceNode(node: string, pools: ObservedWarmPool[]): void {
    this.observed.set(node, new Map(pools.map((p) => [p.uid, p])));
  }

  /** The agent's report of a pool on one node. */
  on(node: string, poolUid: string): ObservedWarmPool | undefined {
    return this.observed.get(node)?.get(poolUid);
  }

  /** Pool UIDs one agent reports. */
  poolsOn(node: string): string[] {
    return [...(this.observed.get(node)?.keys() ?? [])];
  }

  /** Warm VMs of the pool ready on each node. */
  readyOn(poolUid: string): Map<string, number> {
    const ready = new Map<string, number>();
    for (const [node, pools] of this.observed) {
      const count = pools.get(poolUid)?.readyReplicas ?? 0;
      if (count > 0) ready.set(node, count);
    }
    return ready;
  }

  assign(poolUid: string, shape: BootShape, perNode: Map<string, number>): void {
    this.assigned.set(poolUid, { shape, perNode });
  }

  unassign(poolUid: string): void {
    this.assigned.delete(poolUid);
  }

  /** Room the pools' warm VMs take on each node, all pools but `except`. */
  reserved(except?: string): Map<string, Room> {
    const taken = new Map<string, Room>();
    for (const [uid, { shape, perNode }] of this.assigned) {
      if (uid === except) continue;
      for (const [node, count] of perNode) {
        const room = taken.get(node) ?? { cpus: 0, memoryMiB: 0, vms: 0 };
        room.cpus += shape.resources.cpus * count;
        room.memoryMiB += shape.resources.memoryMiB * count;
        room.vms += count;
        taken.set(node, room);
      }
    }
    return taken;
  }
}

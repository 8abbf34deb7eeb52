import { isReady, type Sandbox, type SandboxNode } from "@turgon/api/crd";
import type { Caches } from "../controller/caches.ts";
import { type Placement, schedule } from "../scheduling/scheduler.ts";
import { requestOf } from "./desired.ts";
import { nodeRoom, type Placements } from "./room.ts";
import { applyTemplate, type EffectiveSpec, templateOf } from "./template.ts";
import { subtractReserved } from "./warm-pool-spread.ts";
import type { WarmPoolState } from "./warm-pool-state.ts";

/** A sandbox that may claim a warm VM: its pool, and the template (in its namespace) other claimants name. */
export interface WarmClaim {
  poolUid: string;
  poolName: string;
  namespace: string;
  templateName: string;
}

/**
 * Where sandboxes are placed: choosing a node for a new one, and keeping
 * track of placements already written. A placement is persisted in status
 * before the agent is called; until the informer shows that write, it is
 * "assumed" here (as kube-scheduler assumes pods), so the next reconcile
 * neither places the sandbox twice nor counts its room as free.
 */
export class SandboxPlacements implements Placements {
  private readonly caches: Caches;
  /** Placements written but maybe not yet seen by the informer: uid → node. */
  private readonly assumed = new Map<string, string>();
  /** Warm pools: their VMs take room, and a claim goes where one is ready. */
  private readonly warm: WarmPoolState | undefined;

  constructor(caches: Caches, warm?: WarmPoolState) {
    this.caches = caches;
    this.warm = warm;
  }

  /** The node a sandbox is placed on, counting placements the cache may not show yet. */
  nodeOf(sandbox: Sandbox): string | undefined {
    return sandbox.status?.nodeName ?? this.assumed.get(sandbox.metadata.uid as string);
  }

  /** What a sandbox asks of its node, with its template's resources when it sets none. */
  requestOf(sandbox: Sandbox): { cpus: number; memoryMiB: number } {
    try {
      return requestOf(applyTemplate(sandbox.spec, templateOf(this.caches, sandbox)));
    } catch {
      return requestOf({});
    }
  }

  /**
   * The node with the most room that fits and matches, or why none does.
   * A sandbox that may claim from warm pool `claim` goes first to a node
   * with a ready warm VM of it not yet promised to another claimant: that
   * VM's room is already taken, so only readiness and the nodeSelector
   * count there. Other sandboxes go first where they fit beside the warm
   * VMs; where none does, warm VMs give way (the agent stops unclaimed ones
   * to make room and the pool refills elsewhere, or reports NoCapacity), so
   * a pool never keeps a sandbox Pending.
   */
  choose(spec: EffectiveSpec, claim?: WarmClaim): Placement {
    if (claim && this.warm) {
      const node = this.warmNode(spec, claim);
      if (node) return { node };
    }
    const room = nodeRoom(
      this.caches.nodes.list() as SandboxNode[],
      this.caches.sandboxes.list() as Sandbox[],
      this,
    );
    const request = {
      ...requestOf(spec),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
    };
    if (!this.warm) return schedule(request, room);
    const beside = schedule(request, subtractReserved(room, this.warm.reserved()));
    return beside.node ? beside : schedule(request, room);
  }

  /** A Ready node with a warm VM of the pool left after the claims placed there that have not started. */
  private warmNode(spec: EffectiveSpec, claim: WarmClaim): string | undefined {
    const ready = this.warm?.readyOn(claim.poolUid);
    if (!ready?.size) return undefined;
    const claiming = new Map<string, number>();
    for (const sandbox of this.caches.sandboxes.list() as Sandbox[]) {
      const node = this.nodeOf(sandbox);
      if (
        !node ||
        sandbox.status?.startedAt ||
        sandbox.metadata.namespace !== claim.namespace ||
        sandbox.spec.templateRef?.name !== claim.templateName
      )
        continue;
      claiming.set(node, (claiming.get(node) ?? 0) + 1);
    }
    const selector = Object.entries(spec.nodeSelector ?? {});
    const candidates = [...ready]
      .map(([name, count]) => ({ name, left: count - (claiming.get(name) ?? 0) }))
      .filter(({ name, left }) => {
        const node = this.node(name);
        return (
          left > 0 &&
          node !== undefined &&
          isReady(node) &&
          !node.spec.unschedulable &&
          selector.every(([key, value]) => node.metadata.labels?.[key] === value)
        );
      })
      .sort((x, y) => y.left - x.left || x.name.localeCompare(y.name));
    return candidates[0]?.name;
  }

  /** The placement of `uid` on `node` is written; the cache may not show it yet. */
  assume(uid: string, node: string): void {
    this.assumed.set(uid, node);
  }

  /** The sandbox is placed nowhere (to be placed again, or gone). */
  forget(uid: string): void {
    this.assumed.delete(uid);
  }

  /** The SandboxNode by name, as the cache has it. */
  node(name: string): SandboxNode | undefined {
    return this.caches.nodes.get(name) as SandboxNode | undefined;
  }
}

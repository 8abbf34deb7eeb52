import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import type { Caches } from "../controller/caches.ts";
import { type Placement, schedule } from "../scheduling/scheduler.ts";
import { requestOf } from "./desired.ts";
import { nodeRoom, type Placements } from "./room.ts";
import { applyTemplate, type EffectiveSpec, templateOf } from "./template.ts";

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

  constructor(caches: Caches) {
    this.caches = caches;
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

  /** The node with the most room that fits and matches, or why none does. */
  choose(spec: EffectiveSpec): Placement {
    return schedule(
      { ...requestOf(spec), ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}) },
      nodeRoom(
        this.caches.nodes.list() as SandboxNode[],
        this.caches.sandboxes.list() as Sandbox[],
        this,
      ),
    );
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

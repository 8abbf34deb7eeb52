import { isDeepStrictEqual } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import type { DesiredWarmPool } from "@turgon/api/agent";
import {
  API_VERSION,
  isReady,
  type Sandbox,
  type SandboxNode,
  type SandboxWarmPool,
} from "@turgon/api/crd";
import { type AgentClient, AgentUnreachableError } from "../agents/client.ts";
import type { Caches } from "../controller/caches.ts";
import type { Result } from "../controller/controller.ts";
import type { EventRecorder } from "../events/recorder.ts";
import type { Logger } from "../logger.ts";
import { nodeRoom, type Placements } from "./room.ts";
import { ConflictError } from "./status-writes.ts";
import { spreadReplicas, subtractReserved } from "./warm-pool-spread.ts";
import { templateShape, type WarmPoolState } from "./warm-pool-state.ts";
import { type PoolObservation, warmPoolStatus } from "./warm-pool-status.ts";
import { WarmPoolWrites } from "./warm-pool-writes.ts";

/** Keeps a SandboxWarmPool until its warm VMs are stopped on every agent that answers. */
export const WARM_POOL_FINALIZER = "turgon.dev/warm-pool-cleanup";

const TEMPLATE_RECHECK_MS = 15_000;
/** While VMs boot, look again soon even if an agent's events are missed. */
const WARMING_RECHECK_MS = 5_000;

export interface WarmPoolReconcilerOptions {
  kc: KubeConfig;
  caches: Caches;
  agents: AgentClient;
  events: EventRecorder;
  log: Logger;
  state: WarmPoolState;
  /** The sandbox controller's view of placements, so warm VMs go where sandboxes leave room. */
  placements: Placements;
  resyncMs: number;
}

/**
 * Level-triggered reconcile of one SandboxWarmPool: resolve its template's
 * boot shape, spread `replicas` over Ready nodes with room, tell each
 * agent its share (`PUT /v1/warm-pools/:uid`), stop the pool on agents
 * that no longer get one, and sum what the agents report into status.
 * The agents boot, refill and stop the VMs themselves.
 */
export class WarmPoolReconciler {
  private readonly options: WarmPoolReconcilerOptions;
  private readonly log: Logger;
  private readonly writes: WarmPoolWrites;
  /** What each agent was last told of each pool (pool UID → node → desired), not to repeat it. */
  private readonly told = new Map<string, Map<string, DesiredWarmPool>>();

  constructor(options: WarmPoolReconcilerOptions) {
    this.options = options;
    this.writes = new WarmPoolWrites(options.kc);
    this.log = options.log.child({ component: "warm-pool-controller" });
  }

  /** A (re)connected agent knows only what it reports: tell it again on the next reconcile. */
  forgetTold(node: string): void {
    for (const nodes of this.told.values()) nodes.delete(node);
  }

  reconcile = async (key: string): Promise<Result> => {
    const [namespace, name] = key.split("/") as [string, string];
    const pool = this.options.caches.warmPools.get(name, namespace) as SandboxWarmPool | undefined;
    if (!pool) return {};
    try {
      if (pool.metadata.deletionTimestamp) return await this.finalize(pool);
      const finalizers = pool.metadata.finalizers ?? [];
      if (!finalizers.includes(WARM_POOL_FINALIZER)) {
        await this.writes.finalizers(pool, [...finalizers, WARM_POOL_FINALIZER]);
        return {};
      }
      return await this.converge(pool);
    } catch (error) {
      if (error instanceof ConflictError) return { requeueAfterMs: 0 };
      throw error;
    }
  };

  private async converge(pool: SandboxWarmPool): Promise<Result> {
    const { caches, state } = this.options;
    const uid = pool.metadata.uid as string;
    const namespace = pool.metadata.namespace as string;
    const generation = pool.metadata.generation ?? 0;
    const template = caches.templates.get(pool.spec.templateRef.name, namespace);
    if (!template) {
      const message = `spec.templateRef.name: SandboxTemplate "${pool.spec.templateRef.name}" does not exist`;
      state.unassign(uid);
      await this.stopOn(pool, this.readyNodes());
      const previous = pool.status?.conditions?.find((c) => c.type === "Ready");
      await this.save(pool, { kind: "TemplateNotFound", message });
      if (previous?.reason !== "TemplateNotFound")
        await this.record(pool, "Warning", "TemplateNotFound", message);
      return { requeueAfterMs: TEMPLATE_RECHECK_MS };
    }
    const shape = templateShape(template);
    const nodes = caches.nodes.list() as SandboxNode[];
    const room = subtractReserved(
      nodeRoom(nodes, caches.sandboxes.list() as Sandbox[], this.options.placements),
      state.reserved(uid),
    );
    const spread = spreadReplicas(pool.spec.replicas, shape.resources, room);
    state.assign(uid, shape, spread.perNode);

    let agentProblem: { reason: string; message: string } | undefined;
    for (const node of this.readyNodes()) {
      const nodeName = node.metadata.name as string;
      const replicas = spread.perNode.get(nodeName) ?? 0;
      try {
        if (replicas > 0) {
          await this.tell(node, {
            uid,
            name: pool.metadata.name as string,
            namespace,
            generation,
            ...shape,
            replicas,
          });
        } else if (this.told.get(uid)?.has(nodeName) || state.on(nodeName, uid)) {
          await this.options.agents.deleteWarmPool(node.spec.address, uid);
          this.told.get(uid)?.delete(nodeName);
          state.drop(nodeName, uid);
        }
      } catch (error) {
        this.log.warn(
          { pool: `${namespace}/${pool.metadata.name}`, node: nodeName, err: error },
          "agent did not take the warm pool",
        );
        agentProblem = {
          reason: error instanceof AgentUnreachableError ? "AgentUnreachable" : "AgentError",
          message: `${nodeName}: ${(error as Error).message}`,
        };
      }
    }
    // Counted on Ready nodes only: a lost node's warm VMs cannot be claimed.
    let replicas = 0;
    let readyReplicas = 0;
    for (const nodeName of this.readyNodes().map((n) => n.metadata.name as string)) {
      const observed = state.on(nodeName, uid);
      if (!observed) continue;
      replicas += observed.replicas;
      readyReplicas += observed.readyReplicas;
      if (!agentProblem && observed.reason)
        agentProblem = {
          reason: observed.reason,
          message: `${nodeName}: ${observed.message ?? observed.reason}`,
        };
    }
    const observation: PoolObservation = {
      kind: "Spread",
      desired: pool.spec.replicas,
      unplaced: spread.unplaced,
      replicas,
      readyReplicas,
      ...(agentProblem ? { agentProblem } : {}),
    };
    const previous = pool.status?.conditions?.find((c) => c.type === "Ready");
    const written = await this.save(pool, observation);
    const now = written.status?.conditions?.find((c) => c.type === "Ready");
    if (now?.reason === "NoCapacity" && previous?.reason !== "NoCapacity")
      await this.record(pool, "Warning", "NoCapacity", now.message);
    const filled = readyReplicas >= pool.spec.replicas && spread.unplaced === 0;
    return { requeueAfterMs: filled ? this.options.resyncMs : WARMING_RECHECK_MS };
  }

  /** PUTs the pool's share to one agent unless it was told exactly this already. */
  private async tell(node: SandboxNode, desired: DesiredWarmPool): Promise<void> {
    const nodeName = node.metadata.name as string;
    const observed = this.options.state.on(nodeName, desired.uid);
    const known =
      isDeepStrictEqual(this.told.get(desired.uid)?.get(nodeName), desired) &&
      observed?.generation === desired.generation &&
      observed.desiredReplicas === desired.replicas;
    if (known) return;
    const report = await this.options.agents.putWarmPool(node.spec.address, desired);
    if (report) this.options.state.observe(nodeName, report);
    let nodes = this.told.get(desired.uid);
    if (!nodes) {
      nodes = new Map();
      this.told.set(desired.uid, nodes);
    }
    nodes.set(nodeName, desired);
    this.log.info(
      { pool: `${desired.namespace}/${desired.name}`, node: nodeName, replicas: desired.replicas },
      "told the agent its share of the warm pool",
    );
  }

  /** Stops the pool on these nodes' agents; one that cannot be reached is left to a later look. */
  private async stopOn(pool: SandboxWarmPool, nodes: SandboxNode[]): Promise<boolean> {
    const uid = pool.metadata.uid as string;
    const { state } = this.options;
    let all = true;
    for (const node of nodes) {
      const nodeName = node.metadata.name as string;
      if (!this.told.get(uid)?.has(nodeName) && !state.on(nodeName, uid)) continue;
      try {
        await this.options.agents.deleteWarmPool(node.spec.address, uid);
        this.told.get(uid)?.delete(nodeName);
        state.drop(nodeName, uid);
      } catch (error) {
        all = false;
        this.log.warn(
          { node: nodeName, err: error },
          "could not stop the warm pool on an agent yet",
        );
      }
    }
    return all;
  }

  /** On delete: stop the warm VMs on every Ready agent, then let the object go. */
  private async finalize(pool: SandboxWarmPool): Promise<Result> {
    const finalizers = pool.metadata.finalizers ?? [];
    if (!finalizers.includes(WARM_POOL_FINALIZER)) return {};
    const uid = pool.metadata.uid as string;
    this.options.state.unassign(uid);
    // An agent that is not Ready now forgets the pool when it reconnects (orphans are stopped then).
    if (!(await this.stopOn(pool, this.readyNodes())))
      return { requeueAfterMs: WARMING_RECHECK_MS };
    await this.writes.finalizers(
      pool,
      finalizers.filter((f) => f !== WARM_POOL_FINALIZER),
    );
    this.told.delete(uid);
    this.log.info(
      { pool: `${pool.metadata.namespace}/${pool.metadata.name}` },
      "warm VMs stopped; finalizer removed",
    );
    return {};
  }

  /**
   * Stops pools an agent holds that no SandboxWarmPool asks of it any more
   * (deleted while the agent was away): called when its stream reconnects.
   */
  async collectOrphans(node: SandboxNode): Promise<void> {
    const nodeName = node.metadata.name as string;
    const live = new Set(
      (this.options.caches.warmPools.list() as SandboxWarmPool[])
        .filter((p) => !p.metadata.deletionTimestamp)
        .map((p) => p.metadata.uid),
    );
    for (const uid of this.options.state.poolsOn(nodeName)) {
      if (live.has(uid)) continue;
      try {
        await this.options.agents.deleteWarmPool(node.spec.address, uid);
        this.options.state.drop(nodeName, uid);
        this.log.info({ node: nodeName, pool: uid }, "stopped the warm VMs of a pool that is gone");
      } catch (error) {
        this.log.warn({ node: nodeName, pool: uid, err: error }, "could not stop an orphan pool");
      }
    }
  }

  private readyNodes(): SandboxNode[] {
    return (this.options.caches.nodes.list() as SandboxNode[]).filter(isReady);
  }

  private async save(
    pool: SandboxWarmPool,
    observation: PoolObservation,
  ): Promise<SandboxWarmPool> {
    const status = warmPoolStatus(pool.status ?? {}, pool.metadata.generation ?? 0, observation);
    return this.writes.status(pool, status);
  }

  private record(
    pool: SandboxWarmPool,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    return this.options.events.record(
      {
        apiVersion: API_VERSION,
        kind: "SandboxWarmPool",
        name: pool.metadata.name as string,
        namespace: pool.metadata.namespace as string,
        uid: pool.metadata.uid as string,
      },
      type,
      reason,
      message,
    );
  }
}

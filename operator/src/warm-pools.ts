import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { ObservedWarmPool } from "@turgon/api/agent";
import type { SandboxNode, SandboxWarmPool } from "@turgon/api/crd";
import { objectKey } from "@turgon/toolkit/kube";
import type { AgentClient } from "./agents/client.ts";
import type { Caches } from "./controller/caches.ts";
import { runWorkers } from "./controller/controller.ts";
import { WorkQueue } from "./controller/workqueue.ts";
import type { EventRecorder } from "./events/recorder.ts";
import type { Logger } from "./logger.ts";
import type { OperatorMetrics } from "./metrics/metrics.ts";
import type { Placements } from "./reconcile/room.ts";
import { WarmPoolReconciler } from "./reconcile/warm-pool.ts";
import { WarmPoolState } from "./reconcile/warm-pool-state.ts";

export interface WarmPoolControllerOptions {
  kc: KubeConfig;
  caches: Caches;
  agents: AgentClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  resyncMs: number;
}

/**
 * The SandboxWarmPool controller beside the sandbox one: its own queue and
 * worker, fed by pool and template changes, node changes and the agents'
 * warm pool events. `state` is shared with the sandbox controller, which
 * places claims where warm VMs are ready.
 */
export class WarmPoolController {
  readonly state = new WarmPoolState();
  private readonly caches: Caches;
  private readonly agents: AgentClient;
  private readonly log: Logger;
  private readonly queue = new WorkQueue<string>({ baseMs: 500, maxMs: 60_000 });
  private reconciler: WarmPoolReconciler | undefined;
  private workers: Promise<void> | undefined;
  private leading = false;
  private readonly options: WarmPoolControllerOptions;

  constructor(options: WarmPoolControllerOptions) {
    this.options = options;
    this.caches = options.caches;
    this.agents = options.agents;
    this.log = options.log;
    const enqueue = (pool: KubernetesObject) => this.queue.add(objectKey(pool));
    for (const verb of ["add", "update", "delete"] as const) {
      this.caches.warmPools.on(verb, enqueue);
      this.caches.templates.on(verb, (template) => {
        for (const pool of this.pools(template.metadata?.namespace))
          if (pool.spec.templateRef.name === template.metadata?.name)
            enqueue(pool as KubernetesObject);
      });
    }
  }

  /** Starts reconciling (on the leader), with the sandbox controller's placements to count room. */
  start(placements: Placements): void {
    this.leading = true;
    this.reconciler = new WarmPoolReconciler({
      ...this.options,
      state: this.state,
      placements,
    });
    this.workers = runWorkers({
      name: "warm-pool",
      queue: this.queue,
      workers: 1,
      reconcile: this.reconciler.reconcile,
      metrics: this.options.metrics,
      log: this.log,
    });
    this.enqueueAll();
  }

  async stop(): Promise<void> {
    this.leading = false;
    this.queue.shutDown();
    await this.workers;
  }

  /** An agent's event: a pool's counts changed on its node. */
  onWarmPool(node: string, observed: ObservedWarmPool, deleted: boolean): void {
    if (deleted) this.state.drop(node, observed.uid);
    else this.state.observe(node, observed);
    const pool = this.pools().find((p) => p.metadata.uid === observed.uid);
    if (pool) this.queue.add(objectKey(pool as KubernetesObject));
  }

  /** An agent's stream (re)connected: learn what it holds, stop pools that are gone, tell it again. */
  async onConnected(node: SandboxNode): Promise<void> {
    if (!this.leading || !this.reconciler) return;
    const name = node.metadata.name as string;
    try {
      this.state.replaceNode(name, await this.agents.listWarmPools(node.spec.address));
    } catch (error) {
      this.log.warn({ node: name, err: error }, "could not list the agent's warm pools");
      return;
    }
    this.reconciler.forgetTold(name);
    await this.reconciler.collectOrphans(node);
    this.enqueueAll();
  }

  /** Nodes came, went or changed room: spread every pool again. */
  enqueueAll(): void {
    if (!this.leading) return;
    for (const pool of this.pools()) this.queue.add(objectKey(pool as KubernetesObject));
  }

  private pools(namespace?: string): SandboxWarmPool[] {
    return this.caches.warmPools.list(namespace) as SandboxWarmPool[];
  }
}

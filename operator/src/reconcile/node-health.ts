import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { API_VERSION, findCondition, GROUP, type SandboxNode, VERSION } from "@turgon/api/crd";
import type { Caches } from "../controller/caches.ts";
import type { EventRecorder } from "../events/recorder.ts";
import type { Logger } from "../logger.ts";

const target = { group: GROUP, version: VERSION, plural: "sandboxnodes" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * The node lifecycle controller: a SandboxNode whose agent stops posting
 * heartbeats for longer than the grace period is marked Ready=Unknown
 * (NodeStatusUnknown), as the kube-controller-manager does for Nodes. The
 * sandboxes on it are then reconciled, and fail with NodeLost once the node
 * has been NotReady for the configured time. The agent's next heartbeat
 * marks it Ready again.
 */
export class NodeHealthMonitor {
  private readonly api: CustomObjectsApi;
  private readonly caches: Caches;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly onNotReady: (node: string) => void;
  private timer?: NodeJS.Timeout;

  constructor(options: {
    kc: KubeConfig;
    caches: Caches;
    events: EventRecorder;
    log: Logger;
    graceMs: number;
    onNotReady: (node: string) => void;
  }) {
    this.api = options.kc.makeApiClient(CustomObjectsApi);
    this.caches = options.caches;
    this.events = options.events;
    this.log = options.log.child({ component: "node-health" });
    this.graceMs = options.graceMs;
    this.onNotReady = options.onNotReady;
  }

  start(intervalMs = 1000): void {
    this.timer = setInterval(
      () =>
        void this.check().catch((error) =>
          this.log.warn({ err: error }, "node health check failed"),
        ),
      intervalMs,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async check(now = Date.now()): Promise<void> {
    for (const node of this.caches.nodes.list() as SandboxNode[]) {
      const ready = findCondition(node.status?.conditions, "Ready");
      if (ready?.status !== "True") continue;
      const heartbeat = node.status?.lastHeartbeatTime;
      const last = heartbeat ? Date.parse(heartbeat) : 0;
      if (now - last <= this.graceMs) continue;
      await this.markUnknown(node, heartbeat, now);
    }
  }

  private async markUnknown(node: SandboxNode, heartbeat: string | undefined, now: number) {
    const name = node.metadata.name as string;
    const message = heartbeat
      ? `the node agent stopped posting heartbeats (last at ${heartbeat})`
      : "the node agent never posted a heartbeat";
    const conditions = [
      ...(node.status?.conditions ?? []).filter((c) => c.type !== "Ready"),
      {
        type: "Ready",
        status: "Unknown",
        reason: "NodeStatusUnknown",
        message,
        lastTransitionTime: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"),
      },
    ];
    try {
      await this.api.patchClusterCustomObjectStatus(
        {
          ...target,
          name,
          body: {
            metadata: { resourceVersion: node.metadata.resourceVersion },
            status: { conditions },
          },
        },
        mergePatch,
      );
    } catch (error) {
      // A heartbeat landed meanwhile (409) or the node went away (404): nothing to mark.
      const code = (error as { code?: number }).code;
      if (code === 409 || code === 404) return;
      throw error;
    }
    this.log.warn({ node: name, lastHeartbeat: heartbeat }, "SandboxNode is NotReady");
    await this.events.record(
      { apiVersion: API_VERSION, kind: "SandboxNode", name, uid: node.metadata.uid as string },
      "Warning",
      "NodeNotReady",
      message,
    );
    this.onNotReady(name);
  }
}

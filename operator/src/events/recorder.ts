import {
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { Logger } from "../logger.ts";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid: string;
}

/** How long a repeated event is folded into the previous one (count += 1). */
const AGGREGATE_MS = 10 * 60_000;
const COMPONENT = "turgon-operator";

/**
 * Records Kubernetes Events on the objects the operator manages, as
 * `kubectl describe` shows them. A repeat of the same reason and message on
 * the same object bumps the existing event's count instead of adding one.
 * Recording never fails a reconcile: errors are logged.
 */
export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly log: Logger;
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(kc: KubeConfig, log: Logger) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.log = log.child({ component: "events" });
  }

  async record(
    object: InvolvedObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    // Cluster-scoped objects' events live in "default", as the kubelet's node events do.
    const namespace = object.namespace ?? "default";
    const key = `${object.uid}\u0000${reason}\u0000${message}`;
    const now = new Date();
    const previous = this.recent.get(key);
    try {
      if (previous && now.getTime() - previous.at < AGGREGATE_MS) {
        previous.count += 1;
        previous.at = now.getTime();
        await this.api.patchNamespacedEvent(
          {
            name: previous.name,
            namespace,
            body: { count: previous.count, lastTimestamp: now },
          },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
        return;
      }
      const body: CoreV1Event = {
        metadata: { generateName: `${object.name}.`, namespace },
        involvedObject: object,
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: COMPONENT },
        reportingComponent: COMPONENT,
      };
      const created = await this.api.createNamespacedEvent({ namespace, body });
      this.remember(key, created.metadata?.name as string, now.getTime());
    } catch (error) {
      this.recent.delete(key);
      this.log.warn({ err: error, reason, object: object.name }, "could not record event");
    }
  }

  private remember(key: string, name: string, at: number): void {
    this.recent.set(key, { name, count: 1, at });
    if (this.recent.size > 10_000) {
      for (const [k, v] of this.recent) if (at - v.at > AGGREGATE_MS) this.recent.delete(k);
    }
  }
}

import { CoreV1Api, type KubeConfig, type V1ConfigMap, Watch } from "@kubernetes/client-node";
import type { Logger } from "../logger.ts";

const RETRY_MS = 2000;

/** `data` of one ConfigMap, or undefined when it does not exist (404). Other errors throw. */
export async function readConfigMapData(
  kc: KubeConfig,
  ref: string,
): Promise<Record<string, string> | undefined> {
  const [namespace, name] = ref.split("/") as [string, string];
  try {
    const configMap = await kc
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name, namespace });
    return configMap.data ?? {};
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/**
 * Follows one ConfigMap with a list and a watch narrowed to its name (so
 * RBAC can grant just that one by resourceNames) and hands every version's
 * `data` to `onData` (undefined: it does not exist, or was deleted).
 * `start` lists once, failing when the ConfigMap cannot be read at all;
 * ended watches (timeouts, 410 Gone, lost connections) list again.
 */
export class ConfigMapFollower {
  private readonly kc: KubeConfig;
  private readonly namespace: string;
  private readonly name: string;
  private readonly onData: (data: Record<string, string> | undefined) => void;
  private readonly log: Pick<Logger, "warn">;
  private watch?: AbortController;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    kc: KubeConfig,
    ref: string,
    onData: (data: Record<string, string> | undefined) => void,
    log: Pick<Logger, "warn">,
  ) {
    this.kc = kc;
    [this.namespace, this.name] = ref.split("/") as [string, string];
    this.onData = onData;
    this.log = log;
  }

  async start(): Promise<void> {
    await this.listAndWatch();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.watch?.abort();
  }

  private async listAndWatch(): Promise<void> {
    const fieldSelector = `metadata.name=${this.name}`;
    const list = await this.kc
      .makeApiClient(CoreV1Api)
      .listNamespacedConfigMap({ namespace: this.namespace, fieldSelector });
    this.publish(list.items[0]);
    if (this.stopped) return;
    this.watch = await new Watch(this.kc).watch(
      `/api/v1/namespaces/${this.namespace}/configmaps`,
      { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (phase, configMap: V1ConfigMap) => {
        if (phase === "ADDED" || phase === "MODIFIED") this.publish(configMap);
        else if (phase === "DELETED") this.publish(undefined);
      },
      (error) => this.restart(error),
    );
  }

  private publish(configMap: V1ConfigMap | undefined): void {
    if (!this.stopped) this.onData(configMap ? (configMap.data ?? {}) : undefined);
  }

  private restart(error: unknown): void {
    if (this.stopped) return;
    if (error)
      this.log.warn(
        { err: error, configMap: `${this.namespace}/${this.name}` },
        "ConfigMap watch ended; listing again",
      );
    this.retry = setTimeout(() => {
      this.listAndWatch().catch((failure) => this.restart(failure));
    }, RETRY_MS);
    this.retry.unref();
  }
}

import {
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
  type V1Secret,
  Watch,
} from "@kubernetes/client-node";
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

/** The core objects one can follow by name. */
interface FollowedKinds {
  configmaps: V1ConfigMap;
  secrets: V1Secret;
}

/**
 * Follows one ConfigMap or Secret (`namespace/name`) with a list and a
 * watch narrowed to its name, so RBAC can grant just that one by
 * resourceNames, and hands every version to `onObject` (undefined: it does
 * not exist, or was deleted). `start` lists once, failing when the object
 * cannot be read at all; ended watches (client-node's 30 s inactivity
 * timeout on a quiet object, 410 Gone, lost connections) list again after
 * 2 s.
 */
export class NamedObjectFollower<Kind extends keyof FollowedKinds> {
  private readonly kc: KubeConfig;
  private readonly kind: Kind;
  private readonly namespace: string;
  private readonly name: string;
  private readonly onObject: (object: FollowedKinds[Kind] | undefined) => void;
  private readonly log: Pick<Logger, "warn" | "debug">;
  private watch?: AbortController;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(options: {
    kc: KubeConfig;
    kind: Kind;
    ref: string;
    onObject: (object: FollowedKinds[Kind] | undefined) => void;
    log: Pick<Logger, "warn" | "debug">;
  }) {
    this.kc = options.kc;
    this.kind = options.kind;
    [this.namespace, this.name] = options.ref.split("/") as [string, string];
    this.onObject = options.onObject;
    this.log = options.log;
  }

  async start(): Promise<void> {
    await this.listAndWatch();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.watch?.abort();
  }

  private async list(fieldSelector: string) {
    const core = this.kc.makeApiClient(CoreV1Api);
    const request = { namespace: this.namespace, fieldSelector };
    return this.kind === "configmaps"
      ? core.listNamespacedConfigMap(request)
      : core.listNamespacedSecret(request);
  }

  private async listAndWatch(): Promise<void> {
    const fieldSelector = `metadata.name=${this.name}`;
    const list = await this.list(fieldSelector);
    this.publish(list.items[0] as FollowedKinds[Kind] | undefined);
    if (this.stopped) return;
    this.watch = await new Watch(this.kc).watch(
      `/api/v1/namespaces/${this.namespace}/${this.kind}`,
      { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (phase, object: FollowedKinds[Kind]) => {
        if (phase === "ADDED" || phase === "MODIFIED") this.publish(object);
        else if (phase === "DELETED") this.publish(undefined);
      },
      (error) => this.restart(error),
    );
  }

  private publish(object: FollowedKinds[Kind] | undefined): void {
    if (!this.stopped) this.onObject(object);
  }

  private restart(error: unknown): void {
    if (this.stopped) return;
    // client-node ends a watch that has carried nothing for 30 s (a TimeoutError): for one
    // quiet object that is the usual end, not worth a warning every half minute.
    const quiet = (error as { name?: string } | null)?.name === "TimeoutError";
    if (error)
      this.log[quiet ? "debug" : "warn"](
        { err: error, [this.kind]: `${this.namespace}/${this.name}` },
        "watch ended; listing again",
      );
    this.retry = setTimeout(() => {
      this.listAndWatch().catch((failure) => this.restart(failure));
    }, RETRY_MS);
    this.retry.unref();
  }
}

/** A ConfigMap's `data` as it changes (undefined: no such ConfigMap). */
export function followConfigMap(
  kc: KubeConfig,
  ref: string,
  onData: (data: Record<string, string> | undefined) => void,
  log: Pick<Logger, "warn" | "debug">,
): NamedObjectFollower<"configmaps"> {
  return new NamedObjectFollower({
    kc,
    kind: "configmaps",
    ref,
    onObject: (configMap) => onData(configMap ? (configMap.data ?? {}) : undefined),
    log,
  });
}

export interface FollowedValue<T> {
  /** The value of the last version that parsed. */
  current(): T;
  stop(): void;
}

/**
 * A value parsed from one ConfigMap's `data` (`parse(undefined)` when it
 * does not exist), followed live. Resolves once the first version has
 * parsed; rejects with the read or parse error when the ConfigMap cannot be
 * read or its first version does not parse (a configuration error at
 * start). Later, a version that does not parse is logged and the last good
 * value kept; `onChange` hears each value that differs from the last.
 */
export async function followParsedConfigMap<T>(options: {
  kc: KubeConfig;
  ref: string;
  parse: (data: Record<string, string> | undefined) => T;
  log: Pick<Logger, "warn" | "debug" | "error" | "info">;
  /** What the value is, for the log lines ("edge facts"). */
  what: string;
  onChange?: (value: T) => void;
}): Promise<FollowedValue<T>> {
  const { ref, log, what } = options;
  let value: { current: T } | undefined;
  let started = false;
  const follower = followConfigMap(
    options.kc,
    ref,
    (data) => {
      let next: T;
      try {
        next = options.parse(data);
      } catch (error) {
        if (!started) throw error;
        log.error({ err: error, configMap: ref }, `${what}: invalid ConfigMap, keeping the last`);
        return;
      }
      if (value && JSON.stringify(next) === JSON.stringify(value.current)) return;
      const first = value === undefined;
      value = { current: next };
      log.info({ value: next, configMap: ref, found: data !== undefined }, what);
      if (!first) options.onChange?.(next);
    },
    log,
  );
  try {
    await follower.start();
  } catch (error) {
    follower.stop();
    throw error;
  }
  started = true;
  return { current: () => (value as { current: T }).current, stop: () => follower.stop() };
}

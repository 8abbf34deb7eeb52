/**
 * Informer caches over the Kubernetes API, shared by the operator, the
 * router and the dashboard: client-node's ListWatch lists, watches from the
 * list's resourceVersion, relists on 410 Gone and reports the differences
 * as add/update/delete; the cache it keeps answers reads without API calls.
 * On other errors it stops, so it is restarted here.
 */
import {
  CustomObjectsApi,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import type { Logger } from "../logger.ts";

export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : `${name}`;
}

export type CachedInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

/** A named set of informers started and stopped together. */
// biome-ignore lint/suspicious/noExplicitAny: any informer cache, whatever it holds
export type InformerSet = Record<string, CachedInformer<any>>;

/** A shared informer for a custom resource across all namespaces. */
export function customResourceInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  resource: ResourceRef,
  labelSelector?: string,
): CachedInformer<T> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const list = async () =>
    (await api.listCustomObjectForAllNamespaces({
      group: resource.group,
      version: resource.version,
      resourcePlural: resource.plural,
      ...(labelSelector ? { labelSelector } : {}),
    })) as KubernetesListObject<T>;
  return makeInformer<T>(
    kc,
    `/apis/${resource.group}/${resource.version}/${resource.plural}`,
    list,
    labelSelector,
  );
}

export interface StartInformerOptions {
  /** How long the first list may take (default 120 s). */
  timeoutMs?: number;
  /** Said after "did not sync" (e.g. which RBAC to check). */
  hint?: string;
}

const stopped = new WeakSet<object>();

/** Starts an informer, restarts it 2 s after errors, and resolves once it has listed (its cache is synced). */
export async function startInformer(
  name: string,
  informer: CachedInformer<KubernetesObject>,
  log: Pick<Logger, "warn">,
  options: StartInformerOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  stopped.delete(informer);
  informer.on("error", (error) => {
    if (stopped.has(informer)) return;
    log.warn({ err: error, informer: name }, "list or watch failed; restarting in 2 s");
    // client-node's ListWatch stops on errors other than 410 and timeouts.
    setTimeout(() => {
      if (!stopped.has(informer)) void informer.start();
    }, 2000).unref();
  });
  await informer.start();
  // start() resolves even when the first list fails; synced means a resourceVersion is known.
  const listWatch = informer as unknown as { latestResourceVersion(): string };
  const deadline = Date.now() + timeoutMs;
  while (!listWatch.latestResourceVersion()) {
    if (stopped.has(informer)) return;
    if (Date.now() > deadline)
      throw new Error(
        `the ${name} informer did not sync within ${timeoutMs / 1000} s${options.hint ? `: ${options.hint}` : ""}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts every informer of the set and resolves once each has listed. */
export async function startCaches(
  caches: InformerSet,
  log: Pick<Logger, "warn">,
  options: StartInformerOptions = {},
): Promise<void> {
  await Promise.all(
    Object.entries(caches).map(([name, informer]) => startInformer(name, informer, log, options)),
  );
}

/** Stops every informer of the set; none restarts after an error that arrives late. */
export async function stopCaches(caches: InformerSet): Promise<void> {
  const all = Object.values(caches);
  for (const informer of all) stopped.add(informer);
  await Promise.allSettled(all.map((informer) => informer.stop()));
}

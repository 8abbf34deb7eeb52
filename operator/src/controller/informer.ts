import {
  CustomObjectsApi,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import type { WorkQueue } from "./workqueue.ts";

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

/**
 * A shared informer for a custom resource across all namespaces.
 * client-node's ListWatch lists, watches from the list's resourceVersion,
 * relists on 410 Gone and reconnects with backoff; the cache it keeps
 * answers reads without API calls.
 */
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

/** A custom-resource informer whose every change feeds keys into a work queue. */
export function watchResource<T extends KubernetesObject>(
  kc: KubeConfig,
  resource: ResourceRef,
  queue: WorkQueue<string>,
  keyOf: (object: T) => string[] = (object) => [objectKey(object)],
): CachedInformer<T> {
  const informer = customResourceInformer<T>(kc, resource);
  const enqueue = (object: T) => {
    for (const key of keyOf(object)) queue.add(key);
  };
  informer.on("add", enqueue);
  informer.on("update", enqueue);
  informer.on("delete", enqueue);
  return informer;
}

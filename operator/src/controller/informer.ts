import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import {
  type CachedInformer,
  customResourceInformer,
  objectKey,
  type ResourceRef,
} from "@turgon/toolkit/kube";
import type { WorkQueue } from "./workqueue.ts";

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

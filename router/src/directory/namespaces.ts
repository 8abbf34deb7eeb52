import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  type V1Namespace,
} from "@kubernetes/client-node";
import type { CachedInformer } from "@turgon/toolkit/kube";

/**
 * Every Namespace, for the team each belongs to (its `turgon.dev/team`
 * label). Of each, the cache keeps only the name, labels and
 * resourceVersion: all the router reads.
 */
export function namespaceInformer(kc: KubeConfig): CachedInformer<V1Namespace> {
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(kc, "/api/v1/namespaces", () => core.listNamespace());
  // Registered first, so the cached object is trimmed before anyone reads it.
  const trim = (namespace: V1Namespace) => {
    const { name, uid, resourceVersion, labels } = namespace.metadata ?? {};
    namespace.metadata = { name, uid, resourceVersion, labels };
    delete namespace.spec;
    delete namespace.status;
  };
  informer.on("add", trim);
  informer.on("update", trim);
  return informer;
}

import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  type V1Secret,
} from "@kubernetes/client-node";
import {
  GROUP,
  INJECTABLE_LABEL,
  type Sandbox,
  type SandboxNode,
  type SandboxPolicy,
  type SandboxTemplate,
  type SandboxWarmPool,
  VERSION,
} from "@turgon/api/crd";
import { type CachedInformer, customResourceInformer } from "@turgon/toolkit/kube";

/** The informer caches the operator reads from: every replica keeps them warm. */
export type Caches = {
  sandboxes: CachedInformer<Sandbox & KubernetesObject>;
  nodes: CachedInformer<SandboxNode & KubernetesObject>;
  policies: CachedInformer<SandboxPolicy & KubernetesObject>;
  templates: CachedInformer<SandboxTemplate & KubernetesObject>;
  secrets: CachedInformer<V1Secret>;
  warmPools: CachedInformer<SandboxWarmPool & KubernetesObject>;
};

const resource = (plural: string) => ({ group: GROUP, version: VERSION, plural });

/** Label selectors that narrow what this operator manages (sharding, canaries, tests). */
export interface CacheSelectors {
  /** Sandboxes, and the SandboxWarmPools that serve them. */
  sandboxes?: string;
  nodes?: string;
}

export function createCaches(kc: KubeConfig, selectors: CacheSelectors = {}): Caches {
  return {
    sandboxes: customResourceInformer(kc, resource("sandboxes"), selectors.sandboxes),
    nodes: customResourceInformer(kc, resource("sandboxnodes"), selectors.nodes),
    policies: customResourceInformer(kc, resource("sandboxpolicies")),
    templates: customResourceInformer(kc, resource("sandboxtemplates")),
    secrets: injectableSecrets(kc),
    // A pool serves the sandboxes this operator manages, so the same selector scopes it: operators
    // sharded by label (or tests sharing a cluster) must not spread, and status-write, each other's pools.
    warmPools: customResourceInformer(kc, resource("sandboxwarmpools"), selectors.sandboxes),
  };
}

const INJECTABLE = `${INJECTABLE_LABEL}=true`;

/**
 * Secret values are needed only for secretKeyRef, and only Secrets labelled
 * injectable may be referenced: the cache holds just those, and of their
 * metadata only what the operator reads. Managed fields and annotations
 * go (kubectl's last-applied annotation repeats the data in the clear).
 */
function injectableSecrets(kc: KubeConfig): CachedInformer<V1Secret> {
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Secret>(
    kc,
    "/api/v1/secrets",
    () => core.listSecretForAllNamespaces({ labelSelector: INJECTABLE }),
    INJECTABLE,
  );
  // Registered first, so the cached object is trimmed before anyone reads it.
  const trim = (secret: V1Secret) => {
    const { name, namespace, uid, resourceVersion, labels } = secret.metadata ?? {};
    secret.metadata = { name, namespace, uid, resourceVersion, labels };
  };
  informer.on("add", trim);
  informer.on("update", trim);
  return informer;
}

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
  VERSION,
} from "@turgon/api/crd";
import type { Logger } from "../logger.ts";
import { type CachedInformer, customResourceInformer } from "./informer.ts";

/** The informer caches the operator reads from: every replica keeps them warm. */
export type Caches = {
  sandboxes: CachedInformer<Sandbox & KubernetesObject>;
  nodes: CachedInformer<SandboxNode & KubernetesObject>;
  policies: CachedInformer<SandboxPolicy & KubernetesObject>;
  templates: CachedInformer<SandboxTemplate & KubernetesObject>;
  secrets: CachedInformer<V1Secret>;
};

const resource = (plural: string) => ({ group: GROUP, version: VERSION, plural });

/** Label selectors that narrow what this operator manages (sharding, canaries, tests). */
export interface CacheSelectors {
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

/** Starts every informer and resolves once each has listed (its cache is synced). */
// biome-ignore lint/suspicious/noExplicitAny: any informer cache, whatever it holds
export type InformerSet = Record<string, CachedInformer<any>>;

export async function startCaches(caches: InformerSet, log: Logger): Promise<void> {
  const informers = Object.entries(caches) as [string, CachedInformer<KubernetesObject>][];
  for (const [name, informer] of informers) {
    informer.on("error", (error) => {
      if (stopped.has(informer)) return;
      log.warn({ err: error, informer: name }, "list or watch failed; restarting in 2 s");
      // client-node's ListWatch stops on errors other than 410 and timeouts.
      setTimeout(() => {
        if (!stopped.has(informer)) void informer.start();
      }, 2000).unref();
    });
  }
  await Promise.all(informers.map(([name, informer]) => waitForSync(name, informer)));
}

const stopped = new WeakSet<object>();

/** start() resolves even when the first list fails; synced means a resourceVersion is known. */
async function waitForSync(name: string, informer: CachedInformer<KubernetesObject>) {
  await informer.start();
  const deadline = Date.now() + 120_000;
  const listWatch = informer as unknown as { latestResourceVersion(): string };
  while (!listWatch.latestResourceVersion()) {
    if (Date.now() > deadline) throw new Error(`the ${name} informer did not sync within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function stopCaches(caches: InformerSet): Promise<void> {
  for (const informer of Object.values(caches)) stopped.add(informer);
  await Promise.allSettled(Object.values(caches).map((informer) => informer.stop()));
}

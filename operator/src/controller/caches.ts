import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  type V1Secret,
} from "@kubernetes/client-node";
import {
  GROUP,
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
  const core = kc.makeApiClient(CoreV1Api);
  return {
    sandboxes: customResourceInformer(kc, resource("sandboxes"), selectors.sandboxes),
    nodes: customResourceInformer(kc, resource("sandboxnodes"), selectors.nodes),
    policies: customResourceInformer(kc, resource("sandboxpolicies")),
    templates: customResourceInformer(kc, resource("sandboxtemplates")),
    // Secret values are needed only for secretKeyRef; only the operator reads them.
    secrets: makeInformer<V1Secret>(kc, "/api/v1/secrets", () => core.listSecretForAllNamespaces()),
  };
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

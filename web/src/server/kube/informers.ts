/**
 * The dashboard's own informers, as its own identity (ClusterRole
 * turgon-web: list and watch only): Sandboxes, SandboxNodes, Namespaces.
 * Like the operator's (operator/src/controller/caches.ts, which the web
 * package cannot import): client-node's ListWatch lists, watches from the
 * list's resourceVersion and relists on 410 Gone, reporting the
 * differences as add/update/delete; on other errors it stops, so it is
 * restarted here.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
  type V1Namespace,
} from "@kubernetes/client-node";
import { GROUP, type Sandbox, type SandboxNode, VERSION } from "@turgon/api/crd";
import type { Logger } from "./log.ts";

export type CachedInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface KubeInformers {
  sandboxes: CachedInformer<Sandbox & KubernetesObject>;
  nodes: CachedInformer<SandboxNode & KubernetesObject>;
  namespaces: CachedInformer<V1Namespace>;
}

function customResources<T extends KubernetesObject>(
  kc: KubeConfig,
  plural: string,
): CachedInformer<T> {
  const api = kc.makeApiClient(CustomObjectsApi);
  return makeInformer<T>(
    kc,
    `/apis/${GROUP}/${VERSION}/${plural}`,
    async () =>
      (await api.listCustomObjectForAllNamespaces({
        group: GROUP,
        version: VERSION,
        resourcePlural: plural,
      })) as KubernetesListObject<T>,
  );
}

export function createInformers(kc: KubeConfig): KubeInformers {
  const core = kc.makeApiClient(CoreV1Api);
  const informers: KubeInformers = {
    sandboxes: customResources(kc, "sandboxes"),
    nodes: customResources(kc, "sandboxnodes"),
    namespaces: makeInformer<V1Namespace>(kc, "/api/v1/namespaces", () => core.listNamespace()),
  };
  // Registered first, so what is cached (and sent to browsers) never carries managed fields.
  for (const informer of Object.values(informers) as CachedInformer<KubernetesObject>[]) {
    const trim = (object: KubernetesObject) => {
      if (object.metadata) delete object.metadata.managedFields;
    };
    informer.on("add", trim);
    informer.on("update", trim);
  }
  return informers;
}

const stopped = new WeakSet<object>();

/** Starts an informer, restarts it after errors, and resolves once it has listed (its cache is synced). */
export async function startInformer(
  name: string,
  informer: CachedInformer<KubernetesObject>,
  log: Logger,
  timeoutMs = 120_000,
): Promise<void> {
  stopped.delete(informer);
  informer.on("error", (error) => {
    if (stopped.has(informer)) return;
    log.warn({ err: error, informer: name }, "list or watch failed; restarting in 2 s");
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
        `the ${name} informer did not sync within ${timeoutMs / 1000} s: can the dashboard's identity list and watch them (web/deploy/rbac.yaml)?`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function stopInformers(informers: KubeInformers): Promise<void> {
  const all = Object.values(informers) as CachedInformer<KubernetesObject>[];
  for (const informer of all) stopped.add(informer);
  await Promise.allSettled(all.map((informer) => informer.stop()));
}

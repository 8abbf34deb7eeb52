/**
 * The dashboard's own informers, as its own identity (ClusterRole
 * turgon-web: list and watch only): Sandboxes, SandboxNodes, Namespaces.
 * The informer machinery (list, watch from the list's resourceVersion,
 * relist on 410 Gone, restart after other errors, wait for sync) is the
 * one the operator and the router use, `@turgon/toolkit/kube`.
 */
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  type V1Namespace,
} from "@kubernetes/client-node";
import { GROUP, type Sandbox, type SandboxNode, VERSION } from "@turgon/api/crd";
import {
  type CachedInformer,
  customResourceInformer,
  startInformer as startSharedInformer,
  stopCaches,
} from "@turgon/toolkit/kube";
import type { Logger } from "./log.ts";

export type { CachedInformer } from "@turgon/toolkit/kube";

export interface KubeInformers {
  sandboxes: CachedInformer<Sandbox & KubernetesObject>;
  nodes: CachedInformer<SandboxNode & KubernetesObject>;
  namespaces: CachedInformer<V1Namespace>;
}

export function createInformers(kc: KubeConfig): KubeInformers {
  const core = kc.makeApiClient(CoreV1Api);
  const resource = (plural: string) => ({ group: GROUP, version: VERSION, plural });
  const informers: KubeInformers = {
    sandboxes: customResourceInformer(kc, resource("sandboxes")),
    nodes: customResourceInformer(kc, resource("sandboxnodes")),
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

/** Starts an informer, restarts it after errors, and resolves once it has listed (its cache is synced). */
export function startInformer(
  name: string,
  informer: CachedInformer<KubernetesObject>,
  log: Logger,
  timeoutMs = 120_000,
): Promise<void> {
  return startSharedInformer(name, informer, log, {
    timeoutMs,
    hint: "can the dashboard's identity list and watch them (web/deploy/rbac.yaml)?",
  });
}

export async function stopInformers(informers: KubeInformers): Promise<void> {
  await stopCaches({ ...informers });
}

/**
 * The dashboard's one KubeConfig and one KubeCache per server process. The
 * cache (informers of Sandboxes, SandboxNodes and Namespaces, as the
 * dashboard's own identity) is started at server start by
 * instrumentation.ts, so the first page does not wait for the lists; any
 * caller that comes earlier waits for the same start. A start that fails
 * (the API server is down) is logged and tried again by the next caller,
 * never cached as a failure.
 */
import { ApiException, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { GROUP, VERSION } from "@turgon/api/crd";
import { KubeCache } from "~/server/kube/index.ts";
import { dashboardKubeConfig } from "~/server/kubeconfig.ts";
import { componentLogger } from "~/server/logger.ts";

const log = componentLogger("kube-cache");

// On globalThis: `next dev` reloads modules on edits, which would otherwise
// start another set of informers each time.
const state = globalThis as unknown as { turgonKubeCache?: Promise<KubeCache> };

/** The dashboard's own KubeConfig (KUBECONFIG, else in-cluster), loaded once. */
export function getKubeConfig(): KubeConfig {
  return dashboardKubeConfig();
}

/** The started (synced) cache; starts it on first use. */
export function getKubeCache(): Promise<KubeCache> {
  if (!state.turgonKubeCache) {
    let started: Promise<KubeCache>;
    try {
      started = KubeCache.start(getKubeConfig(), { log });
    } catch (error) {
      // A KubeConfigError (no KUBECONFIG, not in a cluster): every caller hears it.
      return Promise.reject(error);
    }
    state.turgonKubeCache = started;
    started.catch((error: unknown) => {
      log.error({ err: error }, "the Kubernetes cache did not start; the next request tries again");
      if (state.turgonKubeCache === started) state.turgonKubeCache = undefined;
    });
  }
  return state.turgonKubeCache;
}

/** Starts the cache in the background (server start); errors are logged by getKubeCache. */
export function startKubeCache(): void {
  // `next build` may load the server to collect pages: no informers there.
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  getKubeCache().catch(() => undefined);
}

/**
 * Why the cache has not synced yet, asked of the API server as the
 * dashboard's own identity (one small list): the CRDs are missing, its
 * RBAC is wrong, the API server is unreachable, or it is merely slow.
 */
export async function whyNotSynced(timeoutMs = 3000): Promise<string> {
  try {
    const api = getKubeConfig().makeApiClient(CustomObjectsApi);
    const probe = api.listClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "sandboxes",
      limit: 1,
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = await Promise.race([
      probe.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    return answered
      ? "the dashboard is still loading sandboxes from the Kubernetes API server; try again in a moment"
      : `the Kubernetes API server did not answer within ${timeoutMs / 1000} s`;
  } catch (error) {
    if (error instanceof ApiException) {
      if (error.code === 404)
        return `the ${GROUP} CRDs are not installed in this cluster (kubectl apply -f api/crds)`;
      if (error.code === 401 || error.code === 403)
        return "the dashboard's own identity may not list sandboxes: apply web/deploy/rbac.yaml";
      return `the Kubernetes API server answered ${error.code}`;
    }
    return `the Kubernetes API server cannot be reached: ${(error as Error).message}`;
  }
}

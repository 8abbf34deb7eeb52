import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig as loadDaemonKubeConfig } from "@turgon/toolkit/daemon";

/** The dashboard's Kubernetes identity, as web/deploy/rbac.yaml binds it. */
export const DASHBOARD_SERVICE_ACCOUNT = "turgon-system/turgon-web";

export interface KubeConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Prefixed to the ServiceAccount mount's paths, as client-node's loadFromCluster does (tests). */
  inClusterPathPrefix?: string;
}

/**
 * The dashboard's own KubeConfig, loaded as every Turgon daemon loads its
 * own (@turgon/toolkit/daemon): `KUBECONFIG` (one file or a list; the first
 * file's current context wins, as with kubectl) when set, else the pod's
 * ServiceAccount in the cluster. Unlike client-node's loadFromDefault it
 * never falls back to `~/.kube/config` or to `localhost:8080` (or carries on
 * towards `https://undefined:undefined`): a misconfigured deployment fails
 * with a KubeConfigError saying what to set, instead of talking to the
 * wrong cluster as the wrong user.
 */
export function loadKubeConfig(sources: KubeConfigSources = {}): KubeConfig {
  const env = sources.env ?? process.env;
  return loadDaemonKubeConfig({
    file: env.KUBECONFIG,
    env,
    serviceAccount: DASHBOARD_SERVICE_ACCOUNT,
    setting: "environment",
    inClusterPathPrefix: sources.inClusterPathPrefix,
  });
}

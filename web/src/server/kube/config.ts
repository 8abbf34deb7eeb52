import { existsSync } from "node:fs";
import { delimiter } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeConfigError } from "./errors.ts";

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface KubeConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Prefixed to the ServiceAccount mount's paths, as client-node's loadFromCluster does (tests). */
  inClusterPathPrefix?: string;
}

/**
 * The dashboard's own KubeConfig: `KUBECONFIG` (one file or a list; the
 * first file's current context wins, as with kubectl) when set, else the
 * pod's ServiceAccount in the cluster. Unlike client-node's
 * loadFromDefault it never falls back to `~/.kube/config` or to
 * `localhost:8080`, so a misconfigured deployment fails at start with a
 * clear error instead of talking to the wrong cluster as the wrong user.
 */
export function loadKubeConfig(sources: KubeConfigSources = {}): KubeConfig {
  const env = sources.env ?? process.env;
  const files = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  const kc = new KubeConfig();
  if (files.length > 0) {
    const named = `KUBECONFIG (${files.join(delimiter)})`;
    for (const file of files)
      if (!existsSync(file))
        throw new KubeConfigError(
          `KUBECONFIG names ${file}, which does not exist`,
          "Point KUBECONFIG at a kubeconfig for the dashboard's identity (turgon-system/turgon-web), or unset it in the cluster.",
        );
    try {
      kc.loadFromFile(files[0] as string);
      for (const file of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    } catch (error) {
      throw new KubeConfigError(
        `${named} could not be loaded: ${(error as Error).message}`,
        "Check that it is a valid kubeconfig file.",
        { cause: error },
      );
    }
    if (!kc.getCurrentCluster())
      throw new KubeConfigError(
        `${named} has no current context naming a cluster`,
        "Set current-context in the kubeconfig (kubectl config use-context NAME).",
      );
    return kc;
  }
  const prefix = sources.inClusterPathPrefix ?? "";
  if (
    env.KUBERNETES_SERVICE_HOST &&
    env.KUBERNETES_SERVICE_PORT &&
    existsSync(`${prefix}${SERVICE_ACCOUNT_TOKEN}`)
  ) {
    // client-node's loadFromCluster reads the host and port from process.env.
    const saved = [process.env.KUBERNETES_SERVICE_HOST, process.env.KUBERNETES_SERVICE_PORT];
    process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
    process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
    try {
      kc.loadFromCluster(prefix);
    } finally {
      restore("KUBERNETES_SERVICE_HOST", saved[0]);
      restore("KUBERNETES_SERVICE_PORT", saved[1]);
    }
    return kc;
  }
  throw new KubeConfigError(
    "no Kubernetes configuration: KUBECONFIG is not set, and this is not a pod with a ServiceAccount token",
    `Set KUBECONFIG to a kubeconfig for the dashboard's identity, or run in the cluster as the ServiceAccount turgon-system/turgon-web (web/deploy/rbac.yaml), whose token is mounted at ${SERVICE_ACCOUNT_TOKEN}.`,
  );
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

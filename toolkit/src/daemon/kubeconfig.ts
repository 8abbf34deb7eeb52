import { existsSync, readFileSync } from "node:fs";
import { delimiter } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError } from "../flags.ts";
import { shareConnections } from "../kube/connections.ts";

export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** No usable Kubernetes configuration; the message says what to set. */
export class KubeConfigError extends ConfigError {}

export interface KubeConfigSources {
  /** `--kubeconfig`, or KUBECONFIG (the flag's variable): one file or a list, as kubectl takes it. */
  file?: string | undefined;
  /** Where KUBERNETES_SERVICE_HOST/PORT are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Prefixed to the ServiceAccount mount's paths, as client-node's loadFromCluster does (tests). */
  inClusterPathPrefix?: string;
  /** The identity the daemon should have (turgon-system/turgon-operator), for the hint. */
  serviceAccount?: string;
  /**
   * How messages name the setting: `flag` (default) says `--kubeconfig
   * (KUBECONFIG)`; `environment` says `KUBECONFIG`, for the dashboard,
   * which takes no flags.
   */
  setting?: "flag" | "environment";
}

/**
 * A daemon's KubeConfig: `--kubeconfig`/KUBECONFIG when given (the first
 * file's current context wins, as with kubectl), else the pod's
 * ServiceAccount. Outside a pod with neither, client-node would carry on
 * towards `https://undefined:undefined`; this refuses at start and says
 * what to set. An unreadable or unusable file is refused naming it. Its
 * API clients share kept-alive connections (`shareConnections`).
 */
export function loadKubeConfig(sources: KubeConfigSources = {}): KubeConfig {
  const env = sources.env ?? process.env;
  const files = (sources.file ?? "").split(delimiter).filter(Boolean);
  const who = sources.serviceAccount ? ` (${sources.serviceAccount})` : "";
  const byFlag = sources.setting !== "environment";
  const named = byFlag ? "--kubeconfig (KUBECONFIG)" : "KUBECONFIG";
  const kc = new KubeConfig();
  if (files.length > 0) {
    for (const [index, file] of files.entries()) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new KubeConfigError(`${named} ${file} cannot be read: ${(error as Error).message}`);
      }
      const one = index === 0 ? kc : new KubeConfig();
      try {
        one.loadFromString(text);
      } catch (error) {
        throw new KubeConfigError(
          `${named} ${file} is not a valid kubeconfig: ${(error as Error).message}`,
        );
      }
      if (one !== kc) kc.mergeConfig(one, true);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server)
      throw new KubeConfigError(
        `${named} ${files.join(delimiter)} has no current context naming a cluster with a server: set current-context (kubectl config use-context NAME)`,
      );
    return shareConnections(kc);
  }
  const prefix = sources.inClusterPathPrefix ?? "";
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port && existsSync(`${prefix}${SERVICE_ACCOUNT_TOKEN}`)) {
    // client-node's loadFromCluster reads the host and port from process.env.
    const saved = [process.env.KUBERNETES_SERVICE_HOST, process.env.KUBERNETES_SERVICE_PORT];
    process.env.KUBERNETES_SERVICE_HOST = host;
    process.env.KUBERNETES_SERVICE_PORT = port;
    try {
      kc.loadFromCluster(prefix);
    } finally {
      restore("KUBERNETES_SERVICE_HOST", saved[0]);
      restore("KUBERNETES_SERVICE_PORT", saved[1]);
    }
    return shareConnections(kc);
  }
  throw new KubeConfigError(
    `no Kubernetes configuration: ${byFlag ? "neither --kubeconfig nor KUBECONFIG is set" : "KUBECONFIG is not set"}, and this is not a pod ` +
      `(no KUBERNETES_SERVICE_HOST, or no ServiceAccount token at ${prefix}${SERVICE_ACCOUNT_TOKEN}); ` +
      `set ${byFlag ? "--kubeconfig or KUBECONFIG" : "KUBECONFIG"} to a kubeconfig file, or run in the cluster as its ServiceAccount${who}`,
  );
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

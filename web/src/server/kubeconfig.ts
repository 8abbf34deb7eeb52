import "server-only";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "./kube/index.ts";

// One per server process (as the Prisma client), made on first use, not while `next build` imports modules.
const globalForKube = globalThis as unknown as { turgonKubeConfig?: KubeConfig };

/**
 * The dashboard's own Kubernetes identity (KUBECONFIG, else its
 * ServiceAccount). Only for what the dashboard does as itself: the SSH
 * users Secret, the ingress token key, the sign-in hand-off's lookup.
 * Everything done for a user goes through `impersonatedApis` on it.
 */
export function dashboardKubeConfig(): KubeConfig {
  globalForKube.turgonKubeConfig ??= loadKubeConfig();
  return globalForKube.turgonKubeConfig;
}

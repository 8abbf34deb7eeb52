import "server-only";
import { serverConfig } from "../config.ts";
import { IngressKeys } from "../ingress/keys.ts";
import { dashboardKubeConfig } from "../kubeconfig.ts";

const globalForTerminal = globalThis as unknown as { turgonExecKeys?: IngressKeys };

/**
 * The key exec tokens are signed with: the `current` key of the ingress
 * token Secret (TURGON_INGRESS_TOKEN_SECRET), which the router verifies exec
 * tokens with too; read as the dashboard and cached briefly (ingress/keys.ts).
 */
export function execTokenKey(): Promise<Uint8Array> {
  globalForTerminal.turgonExecKeys ??= new IngressKeys(
    dashboardKubeConfig(),
    serverConfig().TURGON_INGRESS_TOKEN_SECRET,
  );
  return globalForTerminal.turgonExecKeys.current();
}

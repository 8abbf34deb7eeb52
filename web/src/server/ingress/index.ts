import "server-only";
import { serverConfig } from "../config.ts";
import { dashboardKubeConfig } from "../kubeconfig.ts";
import { type HandoffOutcome, type HandoffUser, handOff } from "./handoff.ts";
import { IngressKeys } from "./keys.ts";
import type { IngressSite } from "./return-url.ts";
import { ApiSandboxDirectory } from "./sandboxes.ts";

export type { HandoffOutcome } from "./handoff.ts";
export { IngressKeyError } from "./keys.ts";
export { type IngressSite, ingressOrigin, parseReturn, type ReturnTarget } from "./return-url.ts";

/** The router's public site, from the dashboard's configuration. */
export function ingressSite(): IngressSite {
  const config = serverConfig();
  return {
    domain: config.TURGON_INGRESS_DOMAIN,
    scheme: config.TURGON_INGRESS_SCHEME,
    port: config.TURGON_INGRESS_PORT,
  };
}

const globalForIngress = globalThis as unknown as {
  turgonIngress?: { keys: IngressKeys; directory: ApiSandboxDirectory };
};

function deps() {
  globalForIngress.turgonIngress ??= {
    keys: new IngressKeys(dashboardKubeConfig(), serverConfig().TURGON_INGRESS_TOKEN_SECRET),
    directory: new ApiSandboxDirectory(dashboardKubeConfig()),
  };
  return globalForIngress.turgonIngress;
}

/**
 * The `current` key of the ingress token Secret (TURGON_INGRESS_TOKEN_SECRET),
 * which the router verifies hand-off and exec tokens with: one cache for both.
 */
export function ingressTokenKey(): Promise<Uint8Array> {
  return deps().keys.current();
}

/** The hand-off to a routed sandbox URL for a signed-in user (see handoff.ts). */
export function handOffTo(
  target: { label: string; url: string },
  user: HandoffUser,
): Promise<HandoffOutcome> {
  return handOff(target, user, deps());
}

import "server-only";
import type { EdgeFacts } from "@turgon/api/routing/edge";
import type { FollowedValue } from "@turgon/toolkit/kube";
import { serverConfig } from "../config.ts";
import { dashboardKubeConfig } from "../kubeconfig.ts";
import { componentLogger } from "../logger.ts";
import { followEdge } from "./edge.ts";
import { type HandoffOutcome, type HandoffUser, handOff } from "./handoff.ts";
import { IngressKeys } from "./keys.ts";
import type { IngressSite } from "./return-url.ts";
import { ApiSandboxDirectory } from "./sandboxes.ts";

export { EdgeUnavailableError } from "./edge.ts";
export type { HandoffOutcome } from "./handoff.ts";
export { IngressKeyError } from "./keys.ts";
export { type IngressSite, ingressOrigin, parseReturn, type ReturnTarget } from "./return-url.ts";

const log = componentLogger("edge");

// One follower per server process, on globalThis: `next dev` reloads modules on edits.
const globalForEdge = globalThis as unknown as { turgonEdge?: Promise<FollowedValue<EdgeFacts>> };

/**
 * The edge ConfigMap (TURGON_EDGE_CONFIG) followed as the dashboard's own
 * identity; started on first use (or at server start), every caller waits
 * for the same first read. A start that fails (no ConfigMap access, the API
 * server down, invalid facts) is logged and tried again by the next
 * caller, never cached as a failure.
 */
function followedEdge(): Promise<FollowedValue<EdgeFacts>> {
  if (!globalForEdge.turgonEdge) {
    let started: Promise<FollowedValue<EdgeFacts>>;
    try {
      started = followEdge(dashboardKubeConfig(), serverConfig().TURGON_EDGE_CONFIG, log);
    } catch (error) {
      // A KubeConfigError or ConfigError (start-up refuses both first): every caller hears it.
      return Promise.reject(error);
    }
    globalForEdge.turgonEdge = started;
    started.catch((error: unknown) => {
      log.error(
        { err: error },
        "the edge ConfigMap could not be read; the next request tries again",
      );
      if (globalForEdge.turgonEdge === started) globalForEdge.turgonEdge = undefined;
    });
  }
  return globalForEdge.turgonEdge;
}

/** The router's public site: the edge facts as the edge ConfigMap states them now. */
export async function ingressSite(): Promise<IngressSite> {
  const { domain, scheme, port } = (await followedEdge()).current();
  return { domain, scheme, port };
}

/** Starts following the edge ConfigMap in the background (server start); errors are logged. */
export function startEdgeFollower(): void {
  // `next build` may load the server to collect pages: no watches there.
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  followedEdge().catch(() => undefined);
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

/**
 * The edge's public facts (domain, scheme, port) as the dashboard knows
 * them: from the one edge ConfigMap (TURGON_EDGE_CONFIG, by default
 * turgon-system/turgon-edge) that the operator follows and the router
 * reads, followed live, so a moved domain or port is honoured by the
 * sign-in hand-off without a restart. Plain Node (tested against a real
 * API server): the server's one follower is in index.ts.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { EdgeConfigError, type EdgeFacts, parseEdgeFacts } from "@turgon/api/routing/edge";
import { type FollowedValue, followParsedConfigMap } from "@turgon/toolkit/kube";
import type { Logger } from "../logger.ts";

/** The edge ConfigMap cannot be read, or states no edge facts, when the dashboard first asks. */
export class EdgeUnavailableError extends Error {
  override name = "EdgeUnavailableError";
}

/**
 * Follows the edge ConfigMap `ref` as the dashboard's own identity (its
 * Role turgon-web in web/deploy/rbac.yaml may get, list and watch it). A
 * missing ConfigMap means the defaults (DEFAULT_EDGE, the router's own). At
 * start an unreadable or invalid one is an EdgeUnavailableError; later an
 * invalid version is logged and the last good facts are kept.
 */
export async function followEdge(
  kc: KubeConfig,
  ref: string,
  log: Logger,
  onChange?: (facts: EdgeFacts) => void,
): Promise<FollowedValue<EdgeFacts>> {
  try {
    return await followParsedConfigMap({
      kc,
      ref,
      parse: (data) => parseEdgeFacts(data, ref),
      log,
      what: "edge facts",
      ...(onChange ? { onChange } : {}),
    });
  } catch (error) {
    if (error instanceof EdgeConfigError)
      throw new EdgeUnavailableError(`TURGON_EDGE_CONFIG: ${error.message}`, { cause: error });
    throw new EdgeUnavailableError(
      `TURGON_EDGE_CONFIG ${ref} cannot be read: ${(error as Error).message} (the dashboard's Role turgon-web in web/deploy/rbac.yaml grants get, list and watch on turgon-edge)`,
      { cause: error },
    );
  }
}

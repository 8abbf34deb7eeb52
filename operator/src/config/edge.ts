import type { KubeConfig } from "@kubernetes/client-node";
import {
  EdgeConfigError,
  type EdgeFacts,
  overrideEdge,
  parseEdgeFacts,
} from "@turgon/api/routing/edge";
import { ConfigError } from "@turgon/toolkit/flags";
import { followParsedConfigMap } from "@turgon/toolkit/kube";
import type { Logger } from "../logger.ts";
import { edgeOverrides, type OperatorConfig } from "./config.ts";

export interface FollowedEdge {
  /** The facts as they stand now: the ConfigMap's, with the flags' overrides on top. */
  current(): EdgeFacts;
  stop(): void;
}

/**
 * Follows the edge ConfigMap (`--edge-config`) so that a change of domain,
 * scheme or ports re-renders every sandbox's URL and SSH command without a
 * restart (`onChange`). At start an unreadable or invalid ConfigMap is a
 * configuration error; later an invalid version is logged and the last
 * good facts are kept. A missing ConfigMap means the defaults (DEFAULT_EDGE),
 * which are the router's own.
 */
export async function followEdge(
  kc: KubeConfig,
  config: OperatorConfig,
  log: Logger,
  onChange: (facts: EdgeFacts) => void,
): Promise<FollowedEdge> {
  const ref = config["edge-config"];
  const overrides = edgeOverrides(config);
  try {
    return await followParsedConfigMap({
      kc,
      ref,
      parse: (data) => overrideEdge(parseEdgeFacts(data, ref), overrides),
      log,
      what: "edge facts",
      onChange,
    });
  } catch (error) {
    if (error instanceof EdgeConfigError) throw new ConfigError(`--edge-config: ${error.message}`);
    throw new ConfigError(
      `--edge-config (TURGON_EDGE_CONFIG) ${ref} cannot be read: ${(error as Error).message} (the operator's Role turgon-operator-edge in operator/deploy/rbac.yaml grants get, list and watch on it)`,
    );
  }
}

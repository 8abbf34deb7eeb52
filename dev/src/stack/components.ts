/**
 * The three Turgon daemons a stack runs, as the launcher knows them: where
 * each one's `main.ts` is, the log line that says it serves, and the
 * identity it runs as in the cluster (bound by the RBAC manifest it ships).
 */
export const COMPONENTS = ["node-agent", "operator", "router"] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** Each component's entry point, relative to the checkout. */
export const ENTRIES: Record<ComponentName, string> = {
  "node-agent": "node-agent/src/main.ts",
  operator: "operator/src/main.ts",
  router: "router/src/main.ts",
};

/** The `msg` of the log line each writes once it serves. */
export const READY_MESSAGES: Record<ComponentName, string> = {
  "node-agent": "node agent started",
  operator: "operator started",
  router: "router started",
};

/**
 * Each component's RBAC, applied before it starts: the chart's RBAC
 * templates rendered for `turgon-system` (`npm run generate:rbac`; a chart
 * test fails when they differ), so the local platform and a Helm install
 * grant the same.
 */
export const RBAC_MANIFESTS: Record<ComponentName, string> = {
  "node-agent": "node-agent/deploy/rbac.yaml",
  operator: "operator/deploy/rbac.yaml",
  router: "router/deploy/rbac.yaml",
};

const SERVICE_ACCOUNT_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:turgon-system"];

/** Who a component is to the API server: a client certificate's user and groups. */
export function componentIdentity(
  component: ComponentName,
  node: string,
): { user: string; groups: string[] } {
  if (component === "node-agent")
    return { user: `turgon-node-agent:${node}`, groups: ["turgon:node-agents"] };
  return {
    user: `system:serviceaccount:turgon-system:turgon-${component}`,
    groups: SERVICE_ACCOUNT_GROUPS,
  };
}

/** Stop order: the router and the operator first (so nothing reacts), then the agent (which closes its VMs). */
export const STOP_ORDER: readonly ComponentName[] = ["router", "operator", "node-agent"];

import { hostname } from "node:os";
import {
  AGENT_ACCESS_FLAGS,
  agentAccessSchema,
  checkAgentAccess,
} from "@turgon/api/agent/credentials";
import { ingressDomain } from "@turgon/api/routing";
import { configMapRef, EDGE_CONFIG, type EdgeFacts } from "@turgon/api/routing/edge";
import { ConfigError, flagUsage, labelSelector, loadFlags } from "@turgon/toolkit/flags";
import { z } from "zod";

/** Every setting, its flag, its environment variable and its meaning. */
const OPTIONS = {
  kubeconfig: { env: "KUBECONFIG", description: "kubeconfig (in-cluster when unset)" },
  ...AGENT_ACCESS_FLAGS,
  "edge-config": {
    env: "TURGON_EDGE_CONFIG",
    description: `namespace/name of the ConfigMap with the edge's public facts (domain, scheme, port, sshHost, sshPort), followed live (default ${EDGE_CONFIG})`,
  },
  "ingress-domain": {
    env: "TURGON_INGRESS_DOMAIN",
    description: "override: the ConfigMap's domain (routed URLs are <name>--<namespace>.<domain>)",
  },
  "ingress-scheme": {
    env: "TURGON_INGRESS_SCHEME",
    description: "override: the ConfigMap's scheme (http or https)",
  },
  "ingress-port": {
    env: "TURGON_INGRESS_PORT",
    description:
      "override: the ConfigMap's port, the router's external port (0: the scheme's default)",
  },
  "ssh-host": {
    env: "TURGON_SSH_HOST",
    description: "override: the ConfigMap's sshHost, for status.ssh.command",
  },
  "ssh-port": { env: "TURGON_SSH_PORT", description: "override: the ConfigMap's sshPort" },
  "metrics-host": { env: "TURGON_OPERATOR_METRICS_HOST", description: "metrics bind address" },
  "metrics-port": {
    env: "TURGON_OPERATOR_METRICS_PORT",
    description: "Prometheus /metrics and /healthz port (0 picks a free one)",
  },
  "leader-elect": {
    env: "TURGON_OPERATOR_LEADER_ELECT",
    description: "true: only the replica holding the Lease acts",
  },
  "lease-namespace": {
    env: "TURGON_OPERATOR_LEASE_NAMESPACE",
    description: "namespace of the leader-election Lease",
  },
  "lease-name": { env: "TURGON_OPERATOR_LEASE_NAME", description: "name of the Lease" },
  identity: {
    env: "TURGON_OPERATOR_IDENTITY",
    description: "this replica's identity in the Lease (pod name)",
  },
  workers: { env: "TURGON_OPERATOR_WORKERS", description: "sandboxes reconciled at once" },
  "node-monitor-grace-seconds": {
    env: "TURGON_NODE_MONITOR_GRACE_SECONDS",
    description: "heartbeat silence after which a SandboxNode is NotReady",
  },
  "node-lost-seconds": {
    env: "TURGON_NODE_LOST_SECONDS",
    description: "how long a node stays NotReady before its sandboxes fail (NodeLost)",
  },
  "sandbox-selector": {
    env: "TURGON_OPERATOR_SANDBOX_SELECTOR",
    description:
      "manage only Sandboxes (and the SandboxWarmPools serving them) matching this label selector",
  },
  "node-selector": {
    env: "TURGON_OPERATOR_NODE_SELECTOR",
    description: "use only SandboxNodes matching this label selector",
  },
  "resync-seconds": {
    env: "TURGON_OPERATOR_RESYNC_SECONDS",
    description: "every sandbox is reconciled again at least this often",
  },
} as const;

const positive = z.coerce.number().int().min(1);

export const OperatorConfig = z.strictObject({
  kubeconfig: z.string().min(1).optional(),
  ...agentAccessSchema,
  "edge-config": configMapRef.default(EDGE_CONFIG),
  // Overrides of the edge ConfigMap: no defaults here, the ConfigMap's (DEFAULT_EDGE) apply.
  "ingress-domain": ingressDomain.optional(),
  "ingress-scheme": z.enum(["http", "https"]).optional(),
  "ingress-port": z.coerce.number().int().min(0).max(65535).optional(),
  "ssh-host": z.string().min(1).optional(),
  "ssh-port": z.coerce.number().int().min(1).max(65535).optional(),
  "metrics-host": z.string().min(1).default("127.0.0.1"),
  "metrics-port": z.coerce.number().int().min(0).max(65535).default(8080),
  "leader-elect": z.enum(["true", "false"]).default("true"),
  "lease-namespace": z.string().min(1).default("turgon-system"),
  "lease-name": z.string().min(1).default("turgon-operator"),
  identity: z.string().min(1).default(`${hostname()}-${process.pid}`),
  workers: positive.max(64).default(4),
  "node-monitor-grace-seconds": positive.max(3600).default(40),
  "node-lost-seconds": z.coerce.number().int().min(0).max(86_400).default(60),
  "sandbox-selector": labelSelector.optional(),
  "node-selector": labelSelector.optional(),
  "resync-seconds": positive.max(86_400).default(300),
});
export type OperatorConfig = z.infer<typeof OperatorConfig>;

export { ConfigError };

export function usage(): string {
  return flagUsage("turgon-operator", OPTIONS);
}

/** Reads flags, then environment variables, then defaults; errors name the flag. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  return loadFlags({
    command: "turgon-operator",
    flags: OPTIONS,
    schema: OperatorConfig.superRefine(checkAgentAccess),
    argv,
    env,
  });
}

/** The edge facts the flags override (each unset one comes from the edge ConfigMap). */
export function edgeOverrides(config: OperatorConfig): Partial<EdgeFacts> {
  return {
    domain: config["ingress-domain"],
    scheme: config["ingress-scheme"],
    port: config["ingress-port"],
    sshHost: config["ssh-host"],
    sshPort: config["ssh-port"],
  };
}

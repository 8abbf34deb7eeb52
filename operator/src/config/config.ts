import { hostname } from "node:os";
import {
  AGENT_ACCESS_FLAGS,
  agentAccessSchema,
  checkAgentAccess,
} from "@turgon/api/agent/credentials";
import { ingressDomain, sandboxHostLabel } from "@turgon/api/routing";
import { ConfigError, flagUsage, labelSelector, loadFlags } from "@turgon/toolkit/flags";
import { z } from "zod";

/** Every setting, its flag, its environment variable and its meaning. */
const OPTIONS = {
  kubeconfig: { env: "KUBECONFIG", description: "kubeconfig (in-cluster when unset)" },
  ...AGENT_ACCESS_FLAGS,
  "ingress-domain": {
    env: "TURGON_INGRESS_DOMAIN",
    description: "domain of routed URLs: <name>--<namespace>.<domain>",
  },
  "ingress-scheme": { env: "TURGON_INGRESS_SCHEME", description: "http or https" },
  "ingress-port": {
    env: "TURGON_INGRESS_PORT",
    description: "router port in URLs (0: the scheme's default)",
  },
  "ssh-host": {
    env: "TURGON_SSH_HOST",
    description: "host of the router's SSH gateway, for status.ssh.command",
  },
  "ssh-port": { env: "TURGON_SSH_PORT", description: "port of the router's SSH gateway" },
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
    description: "manage only Sandboxes matching this label selector",
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
  "ingress-domain": ingressDomain.default("localhost"),
  "ingress-scheme": z.enum(["http", "https"]).default("https"),
  "ingress-port": z.coerce.number().int().min(0).max(65535).default(0),
  "ssh-host": z.string().min(1).default("localhost"),
  "ssh-port": z.coerce.number().int().min(1).max(65535).default(2222),
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

/** The routed URL of a sandbox: `<scheme>://<host label>.<domain>[:port]/`. */
export function ingressUrl(config: OperatorConfig, name: string, namespace: string): string {
  const port = config["ingress-port"];
  const defaultPort = config["ingress-scheme"] === "https" ? 443 : 80;
  const suffix = port && port !== defaultPort ? `:${port}` : "";
  const host = `${sandboxHostLabel(name, namespace)}.${config["ingress-domain"]}`;
  return `${config["ingress-scheme"]}://${host}${suffix}/`;
}

/** How a user reaches a sandbox over the router's SSH gateway. */
export function sshCommand(config: OperatorConfig, name: string, namespace: string): string {
  const port = config["ssh-port"] === 22 ? "" : `-p ${config["ssh-port"]} `;
  return `ssh ${port}${name}.${namespace}@${config["ssh-host"]}`;
}

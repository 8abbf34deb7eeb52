import type { KubeConfig } from "@kubernetes/client-node";
import {
  AGENT_ACCESS_FLAGS,
  agentAccessSchema,
  checkAgentAccess,
} from "@turgon/api/agent/credentials";
import { type Cidr, parseCidr } from "@turgon/api/net";
import {
  configMapRef,
  EDGE_CONFIG,
  EdgeConfigError,
  type EdgeFacts,
  parseEdgeFacts,
} from "@turgon/api/routing/edge";
import { ConfigError, flagUsage, labelSelector, loadFlags } from "@turgon/toolkit/flags";
import { readConfigMapData } from "@turgon/toolkit/kube";
import { z } from "zod";

const OPTIONS = {
  kubeconfig: { env: "KUBECONFIG", description: "kubeconfig (in-cluster when unset)" },
  "listen-host": { env: "TURGON_ROUTER_LISTEN_HOST", description: "address the router binds to" },
  port: { env: "TURGON_ROUTER_PORT", description: "ingress port (0 picks a free one)" },
  "metrics-port": {
    env: "TURGON_ROUTER_METRICS_PORT",
    description: "Prometheus /metrics and /healthz port (0 picks a free one)",
  },
  "edge-config": {
    env: "TURGON_EDGE_CONFIG",
    description: `namespace/name of the ConfigMap with the edge's public facts; the router serves its domain, read at start (default ${EDGE_CONFIG})`,
  },
  "tls-cert-file": {
    env: "TURGON_ROUTER_TLS_CERT_FILE",
    description: "serve HTTPS with this certificate (PEM)",
  },
  "tls-key-file": {
    env: "TURGON_ROUTER_TLS_KEY_FILE",
    description: "the certificate's private key (PEM)",
  },
  "external-tls": {
    env: "TURGON_ROUTER_EXTERNAL_TLS",
    description:
      "true when a TLS terminator sits in front of the router: URLs are https, the ingress cookie is __Host- and Secure",
  },
  "trusted-proxies": {
    env: "TURGON_ROUTER_TRUSTED_PROXIES",
    description:
      "comma-separated CIDRs of proxies whose Forwarded, X-Real-IP and X-Forwarded-* headers are believed (default none)",
  },
  "token-secret": {
    env: "TURGON_ROUTER_TOKEN_SECRET",
    description: "namespace/name of the Secret with the ingress token keys (current, previous)",
  },
  "sign-in-url": {
    env: "TURGON_SIGN_IN_URL",
    description: "the dashboard's sign-in page; ?return=<url> is appended",
  },
  "session-ttl-seconds": {
    env: "TURGON_ROUTER_SESSION_TTL_SECONDS",
    description:
      "how long the cookie the router sets after a sign-in hand-off admits its user to the sandbox",
  },
  "agent-connect-timeout-ms": {
    env: "TURGON_ROUTER_AGENT_CONNECT_TIMEOUT_MS",
    description: "how long to wait for an agent's ingress port before answering 502",
  },
  "upstream-queue-timeout-ms": {
    env: "TURGON_ROUTER_UPSTREAM_QUEUE_TIMEOUT_MS",
    description:
      "how long a request may wait for a connection to a sandbox whose connections are all in use before answering 503",
  },
  ...AGENT_ACCESS_FLAGS,
  "redis-url": {
    env: "TURGON_REDIS_URL",
    description: "Redis that receives exec session records (bullmq)",
  },
  "ssh-port": {
    env: "TURGON_ROUTER_SSH_PORT",
    description: "SSH gateway port (0 picks a free one)",
  },
  "ssh-host-key-file": {
    env: "TURGON_ROUTER_SSH_HOST_KEY_FILE",
    description:
      "the SSH gateway's host private key; the gateway runs when this and --ssh-users-file are set",
  },
  "ssh-users-file": {
    env: "TURGON_ROUTER_SSH_USERS_FILE",
    description: "JSON list of {user, admin, teams, keys} allowed in over SSH",
  },
  "ssh-users-secret": {
    env: "TURGON_ROUTER_SSH_USERS_SECRET",
    description:
      "namespace/name of the Secret whose *.json keys list the SSH users (the dashboard keeps users.json); followed live",
  },
  "wake-timeout-seconds": {
    env: "TURGON_ROUTER_WAKE_TIMEOUT_SECONDS",
    description:
      "how long a request to a suspended sandbox with wakeOnRequest is held while it resumes, before 503 + Retry-After (default 50: a TCG resume takes 8-20 s, and it stays below the 60 s idle timeout of common load balancers)",
  },
  "wake-max-held": {
    env: "TURGON_ROUTER_WAKE_MAX_HELD",
    description: "requests held for waking sandboxes at once, in all; beyond it 503 (default 1024)",
  },
  "wake-max-held-per-sandbox": {
    env: "TURGON_ROUTER_WAKE_MAX_HELD_PER_SANDBOX",
    description: "requests held for one waking sandbox at once; beyond it 503 (default 64)",
  },
  "wake-max-held-per-team": {
    env: "TURGON_ROUTER_WAKE_MAX_HELD_PER_TEAM",
    description:
      "requests held for one team's waking sandboxes at once, so one team cannot take every place; beyond it 503 (default a quarter of --wake-max-held, at least --wake-max-held-per-sandbox)",
  },
  "sandbox-selector": {
    env: "TURGON_ROUTER_SANDBOX_SELECTOR",
    description: "route only Sandboxes matching this label selector",
  },
  "node-selector": {
    env: "TURGON_ROUTER_NODE_SELECTOR",
    description: "use only SandboxNodes matching this label selector",
  },
} as const;

const port = z.coerce.number().int().min(0).max(65535);

/** `10.0.0.0/8, 192.168.1.7, fd00::/8`: every entry an address or a block. */
const cidrList = z.string().transform((text, ctx): Cidr[] => {
  const cidrs: Cidr[] = [];
  const entries = text.split(",").map((e) => e.trim());
  for (const entry of entries.filter(Boolean)) {
    const cidr = parseCidr(entry, { bare: true });
    if (cidr) cidrs.push(cidr);
    else
      ctx.addIssue({
        code: "custom",
        message: `"${entry}" is not an address or CIDR block such as 10.0.0.0/8 or fd00::/8`,
      });
  }
  return cidrs;
});

export const RouterConfig = z
  .strictObject({
    kubeconfig: z.string().min(1).optional(),
    "listen-host": z.string().min(1).default("127.0.0.1"),
    port: port.default(18080),
    "metrics-port": port.default(18082),
    "edge-config": configMapRef.default(EDGE_CONFIG),
    "tls-cert-file": z.string().min(1).optional(),
    "tls-key-file": z.string().min(1).optional(),
    "external-tls": z.stringbool({ error: "must be true or false" }).default(false),
    "trusted-proxies": cidrList.default([]),
    "token-secret": z
      .string()
      .regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/, "must be namespace/name")
      .default("turgon-system/turgon-ingress-keys"),
    "sign-in-url": z.url().default("http://localhost:3000/signin"),
    "session-ttl-seconds": z.coerce.number().int().min(60).max(604_800).default(28_800),
    "agent-connect-timeout-ms": z.coerce.number().int().min(100).max(60_000).default(3000),
    "upstream-queue-timeout-ms": z.coerce.number().int().min(100).max(600_000).default(10_000),
    ...agentAccessSchema,
    "redis-url": z
      .url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" })
      .default("redis://127.0.0.1:6379"),
    "ssh-port": port.default(2222),
    "ssh-host-key-file": z.string().min(1).optional(),
    "ssh-users-file": z.string().min(1).optional(),
    "ssh-users-secret": z
      .string()
      .regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/, "must be namespace/name")
      .optional(),
    "wake-timeout-seconds": z.coerce.number().int().min(1).max(600).default(50),
    "wake-max-held": z.coerce.number().int().min(1).max(100_000).default(1024),
    "wake-max-held-per-sandbox": z.coerce.number().int().min(1).max(100_000).default(64),
    "wake-max-held-per-team": z.coerce.number().int().min(1).max(100_000).optional(),
    "sandbox-selector": labelSelector.optional(),
    "node-selector": labelSelector.optional(),
  })
  .refine((c) => (c["tls-cert-file"] === undefined) === (c["tls-key-file"] === undefined), {
    message: "--tls-cert-file and --tls-key-file go together",
    path: ["tls-key-file"],
  })
  .refine((c) => !(c["ssh-users-file"] && c["ssh-users-secret"]), {
    message: "--ssh-users-file and --ssh-users-secret are two sources of SSH users: give one",
    path: ["ssh-users-secret"],
  })
  .refine(
    (c) =>
      (c["ssh-host-key-file"] === undefined) ===
      (c["ssh-users-file"] === undefined && c["ssh-users-secret"] === undefined),
    {
      message: "--ssh-host-key-file goes with --ssh-users-file or --ssh-users-secret",
      path: ["ssh-host-key-file"],
    },
  )
  .refine((c) => c["wake-max-held-per-sandbox"] <= c["wake-max-held"], {
    message: "must not exceed --wake-max-held",
    path: ["wake-max-held-per-sandbox"],
  })
  .refine(
    (c) =>
      c["wake-max-held-per-team"] === undefined ||
      (c["wake-max-held-per-team"] <= c["wake-max-held"] &&
        c["wake-max-held-per-team"] >= c["wake-max-held-per-sandbox"]),
    {
      message: "must lie between --wake-max-held-per-sandbox and --wake-max-held",
      path: ["wake-max-held-per-team"],
    },
  )
  .superRefine(checkAgentAccess);
export type RouterConfig = z.infer<typeof RouterConfig>;

export { ConfigError };

/** Whether browsers reach the router over TLS: its own certificate, or a terminator in front. */
/** Requests held for one team's waking sandboxes: as set, else a quarter of all, never below one sandbox's. */
export function wakeMaxHeldPerTeam(config: RouterConfig): number {
  return (
    config["wake-max-held-per-team"] ??
    Math.max(config["wake-max-held-per-sandbox"], Math.floor(config["wake-max-held"] / 4))
  );
}

export function servesHttps(config: RouterConfig): boolean {
  return config["tls-cert-file"] !== undefined || config["external-tls"];
}

/**
 * The edge's public facts from `--edge-config`, read once at start: the
 * domain decides which Host headers are sandboxes and where cookies live,
 * and moving it means new DNS and certificates (files the router also reads
 * at start), so it is a restart, unlike the operator, which follows the
 * ConfigMap live to re-render URLs. A missing ConfigMap means DEFAULT_EDGE.
 */
export async function loadEdgeFacts(kc: KubeConfig, config: RouterConfig): Promise<EdgeFacts> {
  const ref = config["edge-config"];
  let data: Record<string, string> | undefined;
  try {
    data = await readConfigMapData(kc, ref);
  } catch (error) {
    throw new ConfigError(
      `--edge-config (TURGON_EDGE_CONFIG) ${ref} cannot be read: ${(error as Error).message} (the router's Role turgon-router-edge in router/deploy/rbac.yaml grants get on it)`,
    );
  }
  try {
    return parseEdgeFacts(data, ref);
  } catch (error) {
    if (error instanceof EdgeConfigError) throw new ConfigError(`--edge-config: ${error.message}`);
    throw error;
  }
}

export function usage(): string {
  return flagUsage("turgon-router", OPTIONS);
}

export function loadRouterConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): RouterConfig {
  return loadFlags({ command: "turgon-router", flags: OPTIONS, schema: RouterConfig, argv, env });
}

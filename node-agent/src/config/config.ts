import { hostname } from "node:os";
import { isCidr } from "@turgon/api/net";
import { ConfigError, flagUsage, loadFlags } from "@turgon/toolkit/flags";
import { z } from "zod";

/** Every setting, its flag, its environment variable and its default. */
const OPTIONS = {
  "node-name": { env: "TURGON_NODE_NAME", description: "name of this node's SandboxNode" },
  "listen-host": { env: "TURGON_AGENT_LISTEN_HOST", description: "address both servers bind to" },
  "api-port": { env: "TURGON_AGENT_API_PORT", description: "agent API port (0 picks a free one)" },
  "ingress-port": {
    env: "TURGON_AGENT_INGRESS_PORT",
    description: "ingress data-plane port (0 picks a free one)",
  },
  "front-ports": {
    env: "TURGON_AGENT_FRONT_PORTS",
    description:
      "FIRST-LAST: the ports the sandboxes' own ingress fronts listen on (at least --max-vms of them; the router's NetworkPolicy must allow them), or ephemeral: any free port, advertising the kernel's ephemeral range (development, tests)",
  },
  "advertise-host": {
    env: "TURGON_AGENT_ADVERTISE_HOST",
    description: "host the operator and router use to reach this agent",
  },
  "token-file": {
    env: "TURGON_AGENT_TOKEN_FILE",
    description: "with --insecure only: file holding the control plane's bearer token",
  },
  insecure: {
    env: "TURGON_AGENT_INSECURE",
    description:
      "true: serve plain HTTP and take a bearer token instead of client certificates (development only)",
  },
  kubeconfig: {
    env: "KUBECONFIG",
    description: "kubeconfig for registering the SandboxNode (in-cluster when unset)",
  },
  cpus: { env: "TURGON_AGENT_CPUS", description: "vCPUs this node offers to sandboxes" },
  "cpu-allocation-ratio": {
    env: "TURGON_AGENT_CPU_ALLOCATION_RATIO",
    description: "vCPUs placed per offered vCPU (overcommit, like OpenStack's; memory is not)",
  },
  "memory-mib": {
    env: "TURGON_AGENT_MEMORY_MIB",
    description: "memory (MiB) this node offers to sandboxes",
  },
  "max-vms": { env: "TURGON_AGENT_MAX_VMS", description: "most VMs this node runs at once" },
  accelerator: { env: "TURGON_AGENT_ACCELERATOR", description: "auto, kvm or tcg" },
  "image-store": { env: "GONDOLIN_IMAGE_STORE", description: "Gondolin image store directory" },
  "heartbeat-seconds": {
    env: "TURGON_AGENT_HEARTBEAT_SECONDS",
    description: "SandboxNode heartbeat interval",
  },
  "ingress-header-timeout-ms": {
    env: "TURGON_AGENT_INGRESS_HEADER_TIMEOUT_MS",
    description: "how long a guest app may take to send response headers",
  },
  "spool-dir": {
    env: "TURGON_AGENT_SPOOL_DIR",
    description: "durable on-disk queue of egress audit events",
  },
  "spool-max-mib": {
    env: "TURGON_AGENT_SPOOL_MAX_MIB",
    description: "the spool's size bound (oldest events dropped past it)",
  },
  "redis-url": {
    env: "TURGON_REDIS_URL",
    description: "Redis that receives audit events (bullmq)",
  },
  "state-dir": {
    env: "TURGON_AGENT_STATE_DIR",
    description:
      "sandbox supervisors (sockets, records, logs), suspended sandboxes' disk checkpoints",
  },
  "tls-cert-file": {
    env: "TURGON_AGENT_TLS_CERT_FILE",
    description: "the agent's serving certificate (PEM) for its API and ingress ports",
  },
  "tls-key-file": {
    env: "TURGON_AGENT_TLS_KEY_FILE",
    description: "the serving certificate's private key (PEM)",
  },
  "client-ca-file": {
    env: "TURGON_AGENT_CLIENT_CA_FILE",
    description: "CA (PEM) that signs the operator's and router's client certificates",
  },
  runtime: {
    env: "TURGON_AGENT_RUNTIME",
    description:
      "qemu, or simulated: boots no VMs (control-plane scale benchmarks only; the SandboxNode says so)",
  },
  "simulated-boot-ms": {
    env: "TURGON_AGENT_SIMULATED_BOOT_MS",
    description: "how long a simulated VM takes to boot or resume (--runtime simulated)",
  },
  "platform-cidrs": {
    env: "TURGON_AGENT_PLATFORM_CIDRS",
    description:
      "comma-separated CIDRs of the platform's own services (cluster service and pod ranges): refused to guests like loopback",
  },
  "dns-trusted-servers": {
    env: "TURGON_AGENT_DNS_TRUSTED_SERVERS",
    description:
      "comma-separated IPv4 resolvers for sandboxes with dns.mode trusted (default: the host's)",
  },
  "tcg-tb-size-mib": {
    env: "TURGON_AGENT_TCG_TB_SIZE_MIB",
    description:
      "TCG translation cache per VM in MiB (QEMU's default is far larger; below 16 a TCG boot slows several-fold; no effect under KVM)",
  },
  "free-page-reporting": {
    env: "TURGON_AGENT_FREE_PAGE_REPORTING",
    description:
      "true: guest RAM in a memfd with a virtio balloon's free page reporting, and the guest's caches dropped after boot, so an idle VM gives back memory its guest freed; false: QEMU's anonymous RAM (which KSM can merge)",
  },
} as const;

const port = z.coerce.number().int().min(0).max(65535);

/** A comma-separated flag value as a list, each entry checked by `item`. */
const list = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .string()
    .transform((value) =>
      value
        .split(",")
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item));
const positive = z.coerce.number().int().min(1);

/** `FIRST-LAST` (inclusive, 1-65535) or `ephemeral`. */
const frontPorts = z
  .string()
  .transform((value, ctx): { first: number; last: number } | "ephemeral" => {
    if (value === "ephemeral") return value;
    const match = /^(\d{1,5})-(\d{1,5})$/.exec(value);
    const first = Number(match?.[1]);
    const last = Number(match?.[2]);
    if (!match || first < 1 || last > 65_535 || first > last) {
      ctx.addIssue({
        code: "custom",
        message: `must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535 (such as 41000-41999), or ephemeral; got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return { first, last };
  });

export const AgentConfig = z.strictObject({
  "node-name": z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS-1123 label")
    .max(63),
  "listen-host": z.string().min(1).default("127.0.0.1"),
  "api-port": port.default(7443),
  "ingress-port": port.default(7080),
  "front-ports": frontPorts.default("ephemeral"),
  "advertise-host": z.string().min(1).optional(),
  "token-file": z.string().min(1).optional(),
  insecure: z
    .enum(["true", "false"], { error: "must be true or false" })
    .default("false")
    .transform((value) => value === "true"),
  kubeconfig: z.string().min(1).optional(),
  cpus: positive.max(1024).default(2),
  "cpu-allocation-ratio": z.coerce.number().positive().max(64).default(4),
  "memory-mib": positive.min(256).default(4096),
  "max-vms": positive.max(10_000).default(16),
  accelerator: z.enum(["auto", "kvm", "tcg"]).default("auto"),
  "image-store": z.string().min(1).optional(),
  "heartbeat-seconds": positive.max(3600).default(10),
  "ingress-header-timeout-ms": positive.max(600_000).default(60_000),
  "spool-dir": z.string().min(1).default("/var/lib/turgon/audit-spool"),
  "tcg-tb-size-mib": positive.max(4096).default(32),
  "free-page-reporting": z
    .enum(["true", "false"], { error: "must be true or false" })
    .default("true")
    .transform((value) => value === "true"),
  "platform-cidrs": list(z.string().refine(isCidr, "must be CIDRs such as 10.96.0.0/12")).default(
    [],
  ),
  "dns-trusted-servers": list(z.ipv4({ error: "must be IPv4 addresses" })).optional(),
  runtime: z.enum(["qemu", "simulated"]).default("qemu"),
  "simulated-boot-ms": z.coerce.number().int().min(0).max(600_000).default(200),
  "state-dir": z.string().min(1).default("/var/lib/turgon/agent"),
  "tls-cert-file": z.string().min(1).optional(),
  "tls-key-file": z.string().min(1).optional(),
  "client-ca-file": z.string().min(1).optional(),
  "spool-max-mib": positive.max(1_048_576).default(256),
  "redis-url": z
    .url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" })
    .default("redis://127.0.0.1:6379"),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

export { ConfigError };

export function usage(): string {
  return flagUsage("turgon-node-agent", OPTIONS);
}

const TLS_FLAGS = ["tls-cert-file", "tls-key-file", "client-ca-file"] as const;

/**
 * The API and ingress ports serve TLS and know their callers by client
 * certificate, unless `--insecure` says otherwise; the two modes take
 * different flags, and a flag of the other mode is an error, not ignored.
 */
function checkTransport(config: AgentConfig, ctx: z.RefinementCtx): void {
  if (config.insecure) {
    if (!config["token-file"])
      ctx.addIssue({
        code: "custom",
        path: ["token-file"],
        message: "an --insecure agent needs the control plane's bearer token",
      });
    for (const flag of TLS_FLAGS)
      if (config[flag])
        ctx.addIssue({
          code: "custom",
          path: [flag],
          message: "does not go with --insecure true, which serves plain HTTP",
        });
    return;
  }
  for (const flag of TLS_FLAGS)
    if (!config[flag])
      ctx.addIssue({
        code: "custom",
        path: [flag],
        message:
          "the agent serves only TLS with client certificates: set --tls-cert-file, --tls-key-file and --client-ca-file (or --insecure true for development)",
      });
  if (config["token-file"])
    ctx.addIssue({
      code: "custom",
      path: ["token-file"],
      message:
        "only an --insecure agent takes a bearer token; with TLS the control plane presents client certificates",
    });
}

/** Every sandbox on the node holds a front port: the range fits --max-vms of them. */
function checkFrontPorts(config: AgentConfig, ctx: z.RefinementCtx): void {
  const range = config["front-ports"];
  if (range === "ephemeral") return;
  const size = range.last - range.first + 1;
  if (size < config["max-vms"])
    ctx.addIssue({
      code: "custom",
      path: ["front-ports"],
      message: `${range.first}-${range.last} holds ${size} ports, fewer than --max-vms ${config["max-vms"]}: each sandbox needs one`,
    });
}

/** Reads flags, then environment variables, then defaults; errors name the flag. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadFlags({
    command: "turgon-node-agent",
    flags: OPTIONS,
    schema: AgentConfig.superRefine(checkTransport).superRefine(checkFrontPorts),
    argv,
    env,
    fill: (raw) => {
      raw["node-name"] ??= hostname().toLowerCase();
    },
  });
}

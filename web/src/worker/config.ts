import { ConfigError, flagUsage, loadFlags } from "@turgon/toolkit/flags";
import { z } from "zod";

export const COMMAND = "turgon-audit-worker";

/** Every setting, its flag, its environment variable and its meaning. */
const OPTIONS = {
  "database-url": { env: "DATABASE_URL", description: "PostgreSQL URL (the dashboard's database)" },
  "redis-url": { env: "REDIS_URL", description: "Redis URL of the audit queues" },
  kubeconfig: {
    env: "KUBECONFIG",
    description:
      "kubeconfig of the dashboard's identity, for namespace teams (in-cluster when unset)",
  },
  teams: {
    env: "TURGON_AUDIT_TEAMS",
    description:
      "kubernetes: each row's team from its namespace's label; none: no team (no cluster access)",
  },
  "retention-days": {
    env: "TURGON_AUDIT_RETENTION_DAYS",
    description: "egress events are kept this many days; older day partitions are dropped whole",
  },
  "retention-interval-seconds": {
    env: "TURGON_AUDIT_RETENTION_INTERVAL_SECONDS",
    description: "how often partitions are created ahead and expired ones dropped",
  },
  concurrency: {
    env: "TURGON_AUDIT_CONCURRENCY",
    description: "egress batches processed at once (their commits are serialized)",
  },
  "lock-duration-ms": {
    env: "TURGON_AUDIT_LOCK_DURATION_MS",
    description: "a job whose worker stops renewing its lock this long is taken up again",
  },
  "stalled-interval-ms": {
    env: "TURGON_AUDIT_STALLED_INTERVAL_MS",
    description: "how often jobs of vanished workers are looked for",
  },
  "max-stalled-count": {
    env: "TURGON_AUDIT_MAX_STALLED_COUNT",
    description: "times a job may stall (its worker killed) before bullmq would fail it",
  },
  "backoff-max-ms": {
    env: "TURGON_AUDIT_BACKOFF_MAX_MS",
    description: "cap of the retry delay of a batch that could not be committed",
  },
  "kube-sync-timeout-seconds": {
    env: "TURGON_AUDIT_KUBE_SYNC_TIMEOUT_SECONDS",
    description: "how long start-up waits for the namespace list before ingesting without teams",
  },
  "health-host": { env: "TURGON_AUDIT_HEALTH_HOST", description: "address of /healthz" },
  "health-port": {
    env: "TURGON_AUDIT_HEALTH_PORT",
    description: "port of /healthz (200 once consuming; 0 picks a free one)",
  },
} as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
  .pipe(z.url());
const redisUrl = z
  .string()
  .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
  .pipe(z.url());

export const WorkerConfig = z.strictObject({
  "database-url": postgresUrl,
  "redis-url": redisUrl,
  kubeconfig: z.string().min(1).optional(),
  teams: z.enum(["kubernetes", "none"]).default("kubernetes"),
  "retention-days": int(1, 3650).default(30),
  "retention-interval-seconds": int(1, 86_400).default(3600),
  concurrency: int(1, 64).default(4),
  "lock-duration-ms": int(1000, 3_600_000).default(30_000),
  "stalled-interval-ms": int(500, 3_600_000).default(15_000),
  "max-stalled-count": int(1, 1_000_000_000).default(1_000_000),
  "backoff-max-ms": int(100, 3_600_000).default(30_000),
  "kube-sync-timeout-seconds": int(0, 3600).default(30),
  "health-host": z.string().min(1).default("127.0.0.1"),
  "health-port": int(0, 65535).default(8081),
});
export type WorkerConfig = z.infer<typeof WorkerConfig>;

export { ConfigError };

/** `--help` (the log level is TURGON_LOG_LEVEL, read by the daemon scaffold as for every daemon). */
export function usage(): string {
  return flagUsage(COMMAND, OPTIONS);
}

/** Reads flags, then environment variables, then defaults; errors name the flag and its variable. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return loadFlags({ command: COMMAND, flags: OPTIONS, schema: WorkerConfig, argv, env });
}

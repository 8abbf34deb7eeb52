import pino from "pino";

/**
 * The worker's logger. Events pass through it unlogged: only counts, ids,
 * reasons and partition names are logged, never a line, a path or a
 * connection URL (which carries the database password).
 */
export function createWorkerLogger(level: string) {
  return pino({
    name: "audit-worker",
    level,
    redact: { paths: ["*.password", "*.url", "*.connectionString"], censor: "[redacted]" },
  });
}
export type Logger = ReturnType<typeof createWorkerLogger>;

import { createLogger } from "@turgon/toolkit/logger";

export type { Logger } from "@turgon/toolkit/logger";

/**
 * The worker's one logger (its lines and crash logs say `audit-worker`);
 * the daemon scaffold sets its level from TURGON_LOG_LEVEL. Events pass
 * through it unlogged: only counts, ids, reasons and partition names are
 * logged, never a line, a path or a connection URL (which carries the
 * database password).
 */
export const logger = createLogger("audit-worker", {
  redact: ["*.password", "*.url", "*.connectionString"],
});

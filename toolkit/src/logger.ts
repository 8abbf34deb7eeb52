import pino from "pino";
import { isLogLevel, LOG_LEVEL_ENV } from "./daemon/log-level.ts";

/**
 * Where secrets can sit in what a daemon logs: Secret values on their way
 * to agents, bearer tokens, Secret `data`, private keys. Redacted even when
 * they arrive by accident inside an error object.
 */
const SECRET_PATHS = [
  "*.value",
  "*.secrets[*].value",
  "policy.secrets",
  "*.authorization",
  "*.data",
  "*.privateKey",
];

export type Logger = pino.Logger;

/**
 * A daemon's one logger, named for its component (`operator`, `router`), so
 * its lines and its crash logs say which process wrote them; components
 * inside it take children named after themselves.
 *
 * Loggers are made when their module is imported, before a daemon has read
 * its command line, so an unknown TURGON_LOG_LEVEL must not throw here (it
 * would break `--help`): it falls back to `info`, and the daemon scaffold
 * (`@turgon/toolkit/daemon`) refuses it at start, naming the variable.
 */
export function createLogger(name: string, options: { redact?: string[] } = {}): Logger {
  const level = process.env[LOG_LEVEL_ENV] ?? "";
  return pino({
    name,
    level: isLogLevel(level) ? level : "info",
    // A component may redact more paths of its own (the audit worker: connection URLs).
    redact: { paths: [...SECRET_PATHS, ...(options.redact ?? [])], censor: "[redacted]" },
  });
}

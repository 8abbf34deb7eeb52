import pino from "pino";

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
 */
export function createLogger(name: string): Logger {
  return pino({
    name,
    level: process.env.TURGON_LOG_LEVEL ?? "info",
    redact: { paths: SECRET_PATHS, censor: "[redacted]" },
  });
}

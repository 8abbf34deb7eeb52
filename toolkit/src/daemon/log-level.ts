import { ConfigError } from "../flags.ts";

/** pino's levels, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The variable every Turgon daemon reads its log level from. */
export const LOG_LEVEL_ENV = "TURGON_LOG_LEVEL";

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * TURGON_LOG_LEVEL, checked: unset or empty is `info`; anything pino does
 * not know is refused naming the variable and the levels it takes (pino
 * itself would throw an unhelpful error from deep inside the logger).
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const value = env[LOG_LEVEL_ENV];
  if (value === undefined || value === "") return "info";
  if (isLogLevel(value)) return value;
  throw new ConfigError(
    `${LOG_LEVEL_ENV}=${JSON.stringify(value)} is not a log level: use one of ${LOG_LEVELS.join(", ")}`,
  );
}

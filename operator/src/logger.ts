import pino from "pino";

/** The operator's one logger; components take children named after themselves. */
export const logger = pino({
  name: "operator",
  level: process.env.TURGON_LOG_LEVEL ?? "info",
  // Secret values pass through the operator on their way to agents; never log them.
  redact: {
    paths: ["*.value", "*.secrets[*].value", "policy.secrets", "*.authorization", "*.data"],
    censor: "[redacted]",
  },
});
export type Logger = typeof logger;

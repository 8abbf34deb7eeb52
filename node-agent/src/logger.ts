import pino from "pino";

/** The agent's one logger; components take children named after themselves. */
export const logger = pino({
  name: "node-agent",
  level: process.env.TURGON_LOG_LEVEL ?? "info",
  // Secret values never reach a log, even by accident in an error object.
  redact: {
    paths: ["*.value", "*.secrets[*].value", "policy.secrets", "*.authorization", "*.privateKey"],
    censor: "[redacted]",
  },
});
export type Logger = typeof logger;

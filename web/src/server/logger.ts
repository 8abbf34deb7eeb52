import pino from "pino";

/** The dashboard's one logger; each component takes a child named after itself. */
export const logger = pino({
  name: "web",
  level: process.env.TURGON_LOG_LEVEL ?? "info",
  // Requests pass through with cookies and passwords; never log them.
  redact: {
    paths: [
      "*.password",
      "*.newPassword",
      "*.cookie",
      "*.authorization",
      "*.headers.cookie",
      "*.headers.authorization",
      "*.token",
    ],
    censor: "[redacted]",
  },
});
export type Logger = typeof logger;

export function componentLogger(component: string): Logger {
  return logger.child({ component });
}

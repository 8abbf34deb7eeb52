import pino from "pino";

/** The dashboard's Kubernetes layer logs here unless a caller passes its own logger. */
export const kubeLogger = pino({
  name: "web",
  level: process.env.TURGON_LOG_LEVEL ?? "info",
}).child({ component: "kube" });
export type Logger = pino.Logger;

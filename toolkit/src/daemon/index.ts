/** One way to run a Turgon daemon: help, log level, flags, kubeconfig, signals, exit codes. */
export * from "./kubeconfig.ts";
export * from "./listen.ts";
export * from "./log-level.ts";
export * from "./run.ts";
export * from "./version.ts";

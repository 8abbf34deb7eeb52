#!/usr/bin/env node
import { runDaemon } from "@turgon/toolkit/daemon";
import { loadRouterConfig, usage } from "./config.ts";
import { logger } from "./logger.ts";
import { startRouter } from "./router.ts";

/** `turgon-router [flags]`: see `--help`. */
await runDaemon({
  name: "router",
  usage,
  log: logger,
  load: loadRouterConfig,
  start: (config) => startRouter(config),
  started: (router) => ({
    url: router.url,
    metrics: router.metricsUrl,
    ...(router.sshPort ? { sshPort: router.sshPort } : {}),
  }),
});

#!/usr/bin/env node
import { runDaemon } from "@turgon/toolkit/daemon";
import { loadConfig, usage } from "./config/config.ts";
import { logger } from "./logger.ts";
import { startOperator } from "./operator.ts";

/** `turgon-operator [flags]`: see `--help`. */
await runDaemon({
  name: "operator",
  usage,
  log: logger,
  load: loadConfig,
  // As controller-runtime does: a replica that lost the lease exits and restarts clean.
  start: (config, control) =>
    startOperator(config, {
      onLostLeadership: () => control.fail("leader election lost; exiting"),
    }),
  started: (operator) => ({ metrics: operator.metricsUrl }),
  stopping: "releasing the lease",
});

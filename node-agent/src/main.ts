#!/usr/bin/env node
import { runDaemon } from "@turgon/toolkit/daemon";
import { startAgent } from "./agent.ts";
import { loadConfig, usage } from "./config/config.ts";
import { logger } from "./logger.ts";

/** `turgon-node-agent [flags]`: see `--help`. The agent logs "node agent started" itself. */
await runDaemon({
  name: "node-agent",
  usage,
  log: logger,
  load: loadConfig,
  start: (config) => startAgent(config),
  stopping: "stopping the agent (VMs keep running in their supervisors)",
});

#!/usr/bin/env node
import { ConfigError, loadConfig, usage } from "./config/config.ts";
import { logger } from "./logger.ts";
import { ConfigFileError, startOperator } from "./operator.ts";

/** `turgon-operator [flags]`: see `--help`. */
async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    console.log(usage());
    return;
  }
  const config = loadConfig(process.argv.slice(2));
  const operator = await startOperator(config, {
    // As controller-runtime does: a replica that lost the lease exits and restarts clean.
    onLostLeadership: () => {
      logger.fatal("leader election lost; exiting");
      process.exit(1);
    },
  });
  logger.info({ metrics: operator.metricsUrl }, "operator started");
  const shutdown = async (signal: string) => {
    logger.info({ signal }, "shutting down; releasing the lease");
    await operator.stop();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error) => {
  if (error instanceof ConfigError || error instanceof ConfigFileError)
    console.error(`turgon-operator: ${error.message}`);
  else logger.fatal({ err: error }, "operator failed to start");
  process.exit(1);
});

#!/usr/bin/env node
import { ConfigFileError, startAgent } from "./agent.ts";
import { ConfigError, loadConfig, usage } from "./config/config.ts";
import { logger } from "./logger.ts";

/** `turgon-node-agent [flags]`: see `--help`. */
async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    console.log(usage());
    return;
  }
  const config = loadConfig(process.argv.slice(2));
  const agent = await startAgent(config);
  const shutdown = async (signal: string) => {
    logger.info({ signal }, "shutting down: closing VMs");
    await agent.stop();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error) => {
  if (error instanceof ConfigError || error instanceof ConfigFileError)
    console.error(`turgon-node-agent: ${error.message}`);
  else logger.fatal({ err: error }, "node agent failed to start");
  process.exit(1);
});

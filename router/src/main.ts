#!/usr/bin/env node
import { ConfigError, loadRouterConfig, usage } from "./config.ts";
import { logger } from "./logger.ts";
import { RouterFileError, startRouter } from "./router.ts";

/** `turgon-router [flags]`: see `--help`. */
async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    console.log(usage());
    return;
  }
  const router = await startRouter(loadRouterConfig(process.argv.slice(2)));
  logger.info(
    {
      url: router.url,
      metrics: router.metricsUrl,
      ...(router.sshPort ? { sshPort: router.sshPort } : {}),
    },
    "router started",
  );
  const shutdown = async (signal: string) => {
    logger.info({ signal }, "shutting down");
    await router.stop();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error) => {
  if (error instanceof ConfigError || error instanceof RouterFileError)
    console.error(`turgon-router: ${error.message}`);
  else logger.fatal({ err: error }, "router failed to start");
  process.exit(1);
});

/**
 * Start-up checks, imported once by instrumentation.ts when `next start`
 * begins: a bad environment stops the server at once, naming the variable,
 * instead of failing the first request.
 */
import { ConfigError, serverConfig } from "./config.ts";
import { componentLogger } from "./logger.ts";

try {
  const config = serverConfig();
  componentLogger("startup").info(
    { url: config.BETTER_AUTH_URL, kubeconfig: config.KUBECONFIG ?? "in-cluster" },
    "dashboard configuration loaded",
  );
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`error: ${error.message}`);
  process.exit(1);
}

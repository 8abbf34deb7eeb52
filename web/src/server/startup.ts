/**
 * Start-up, imported once by instrumentation.ts when `next start` begins: a
 * bad environment or no usable Kubernetes configuration stops the server at
 * once, naming the variable, instead of failing the first request; then the
 * SSH gateway's users list is written from the database.
 */
import { ConfigError, serverConfig } from "./config.ts";
import { KubeConfigError } from "./kube/index.ts";
import { dashboardKubeConfig } from "./kubeconfig.ts";
import { componentLogger } from "./logger.ts";

try {
  const config = serverConfig();
  // Loaded now (and kept): without KUBECONFIG outside a pod, every request would fail alike.
  const cluster = dashboardKubeConfig().getCurrentCluster()?.server;
  componentLogger("startup").info(
    { url: config.BETTER_AUTH_URL, kubeconfig: config.KUBECONFIG ?? "in-cluster", cluster },
    "dashboard configuration loaded",
  );
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof KubeConfigError)) throw error;
  console.error(`error: ${error.message}`);
  process.exit(1);
}

// The router's SSH gateway follows the database from the first moment: write
// its users list now (in the background; retried until it succeeds), so keys
// registered while the dashboard was down, or a lost Secret, are made good.
const { publishSshUsers } = await import("./ssh/index.ts");
publishSshUsers("start-up");

#!/usr/bin/env node
/** `turgon-audit-worker [flags]`: the audit queues into PostgreSQL. See `--help`. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { wantsHelp } from "@turgon/toolkit/daemon";
import { loadKubeConfig } from "../server/kube/config.ts";
import { KubeConfigError } from "../server/kube/errors.ts";
import { ConfigError, loadConfig, usage, type WorkerConfig } from "./config.ts";
import { createWorkerLogger, type Logger } from "./logger.ts";
import { NO_TEAMS, startTeamDirectory, type TeamDirectory } from "./teams.ts";
import { type AuditWorker, startAuditWorker } from "./worker.ts";

async function main(): Promise<void> {
  // runDaemon does not fit this process as it stands (its own flag for the log level, its own
  // redacting logger, and exit 1 for a bad configuration, which worker.test.ts asserts); it
  // shares the scaffold's reading of --help/-h.
  if (wantsHelp(process.argv.slice(2))) {
    console.log(usage());
    return;
  }
  const config = loadConfig(process.argv.slice(2));
  const log = createWorkerLogger(config["log-level"]);
  const teams = await startTeams(config, log);
  const worker = await startAuditWorker({
    databaseUrl: config["database-url"],
    redisUrl: config["redis-url"],
    settings: config,
    teams,
    log,
  });
  const health = await serveHealth(config, worker);
  log.info(
    { health: `http://${config["health-host"]}:${(health.address() as AddressInfo).port}/healthz` },
    "audit worker started",
  );
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: finishing the batches in hand");
    await worker.stop();
    await teams.stop();
    health.close();
    log.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

function startTeams(config: WorkerConfig, log: Logger): Promise<TeamDirectory> {
  if (config.teams === "none") return Promise.resolve(NO_TEAMS);
  const env = config.kubeconfig ? { ...process.env, KUBECONFIG: config.kubeconfig } : process.env;
  return startTeamDirectory(loadKubeConfig({ env }), {
    syncTimeoutMs: config["kube-sync-timeout-seconds"] * 1000,
    log,
  });
}

/** GET /healthz: 200 while both queues are consumed, 503 otherwise. */
function serveHealth(config: WorkerConfig, worker: AuditWorker): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== "/healthz") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(worker.running ? 200 : 503, { "content-type": "text/plain" });
    res.end(worker.running ? "ok\n" : "stopping\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(config["health-port"], config["health-host"], () => resolve(server));
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(`turgon-audit-worker: ${error.message}`);
  else if (error instanceof KubeConfigError)
    console.error(`turgon-audit-worker: ${error.message}\n${error.hint}`);
  else console.error("turgon-audit-worker failed to start:", error);
  process.exit(1);
});

#!/usr/bin/env node
/** `turgon-audit-worker [flags]`: the audit queues into PostgreSQL. See `--help`. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadKubeConfig, runDaemon } from "@turgon/toolkit/daemon";
import { loadConfig, usage, type WorkerConfig } from "./config.ts";
import { type Logger, logger } from "./logger.ts";
import { NO_TEAMS, startTeamDirectory, type TeamDirectory } from "./teams.ts";
import { type AuditWorker, startAuditWorker } from "./worker.ts";

/** The identity whose kubeconfig the worker is given: the dashboard's (web/deploy/rbac.yaml). */
const SERVICE_ACCOUNT = "turgon-system/turgon-web";

interface RunningWorker {
  healthUrl: string;
  stop(): Promise<void>;
}

async function start(config: WorkerConfig): Promise<RunningWorker> {
  // The kubeconfig first: a missing or unreadable one is a configuration error (exit 2), told
  // before anything connects.
  const teams = await startTeams(config, logger);
  let worker: AuditWorker;
  try {
    worker = await startAuditWorker({
      databaseUrl: config["database-url"],
      redisUrl: config["redis-url"],
      settings: config,
      teams,
      log: logger,
    });
  } catch (error) {
    await teams.stop();
    throw error;
  }
  const health = await serveHealth(config, worker).catch(async (error: unknown) => {
    await worker.stop();
    await teams.stop();
    throw error;
  });
  return {
    healthUrl: `http://${config["health-host"]}:${(health.address() as AddressInfo).port}/healthz`,
    async stop() {
      await worker.stop();
      await teams.stop();
      health.close();
      logger.info("stopped");
    },
  };
}

function startTeams(config: WorkerConfig, log: Logger): Promise<TeamDirectory> {
  if (config.teams === "none") return Promise.resolve(NO_TEAMS);
  // --kubeconfig, else KUBECONFIG (its variable), else the pod's ServiceAccount.
  const kc = loadKubeConfig({ file: config.kubeconfig, serviceAccount: SERVICE_ACCOUNT });
  return startTeamDirectory(kc, {
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

await runDaemon({
  name: "audit-worker",
  usage,
  log: logger,
  load: loadConfig,
  start,
  started: (worker) => ({ health: worker.healthUrl }),
  stopping: "finishing the batches in hand",
});

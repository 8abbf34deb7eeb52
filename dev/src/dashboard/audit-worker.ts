/**
 * The audit worker on the local platform (`npm run up`): a daemon beside
 * the dashboard, with its database and Redis, as the dashboard's own
 * Kubernetes identity (for namespace teams). A daemon running older sources
 * than the checkout's is restarted, as the dashboard is for a new build.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { withStep } from "@turgon/toolkit/progress";
import { repoRoot } from "../paths.ts";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";
import {
  assertDaemonPortsFree,
  daemonPaths,
  httpOk,
  recordStartedWith,
  runningDaemon,
  startedWith,
  stopLocalDaemon,
} from "../process/local-daemons.ts";
import { portsFromEnvironment } from "../process/ports.ts";

export const AUDIT_WORKER = "audit-worker";
export const PORT_VARIABLE = "TURGON_AUDIT_WORKER_PORT";
const ENTRY = "web/src/worker/main.ts";
/** What the worker runs: its own folder and every workspace source it imports (the daemon scaffold, the contract, the spool reader), and the lock file. */
const INPUTS = [
  "web/src/worker",
  "web/src/server/kube",
  "api/src",
  "toolkit/src",
  "node-agent/src/audit",
];

/** The port of its /healthz. */
export function auditWorkerPortFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return portsFromEnvironment({ health: 18083 }, { health: PORT_VARIABLE }, env).health;
}

/** A digest of the worker's sources (tests excluded) and the lock file. */
export async function auditWorkerInputsDigest(root = repoRoot): Promise<string> {
  const files = ["package-lock.json"];
  for (const input of INPUTS) files.push(...(await listFiles(root, input)));
  files.sort();
  const hash = createHash("sha256").update(`${process.version}\0`);
  for (const file of files.filter((f) => !f.endsWith(".test.ts"))) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(root, file)).catch(() => ""));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

async function listFiles(root: string, path: string): Promise<string[]> {
  const entries = await readdir(join(root, path), { recursive: true, withFileTypes: true }).catch(
    () => undefined,
  );
  if (!entries) return [path];
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/** Checks the worker's health port before anything starts, unless ours already runs. */
export function planAuditWorker(stateDir: string, port: number): Promise<void> {
  return assertDaemonPortsFree(stateDir, AUDIT_WORKER, [{ port, variable: PORT_VARIABLE }]);
}

export interface AuditWorkerOutcome {
  state: "started" | "already running" | "restarted with new sources";
  logFile: string;
}

export async function ensureAuditWorker(options: {
  stateDir: string;
  port: number;
  databaseUrl: string;
  redisUrl: string;
  /** The dashboard's own kubeconfig (ServiceAccount turgon-web may list and watch namespaces). */
  kubeconfig: string;
}): Promise<AuditWorkerOutcome> {
  const paths = daemonPaths(options.stateDir, AUDIT_WORKER);
  await mkdir(paths.dir, { recursive: true });
  // Which sources (and settings) the daemon runs.
  const sources = `${await auditWorkerInputsDigest()} ${options.port} ${options.redisUrl}`;
  const running = await runningDaemon(options.stateDir, AUDIT_WORKER);
  let state: AuditWorkerOutcome["state"] = "started";
  if (running) {
    if ((await startedWith(options.stateDir, AUDIT_WORKER)) === sources)
      return { state: "already running", logFile: paths.logFile };
    await stopAuditWorker(options.stateDir);
    state = "restarted with new sources";
  }
  await withStep(`starting the audit worker (health on 127.0.0.1:${options.port})`, async () => {
    const record = await startDaemon({
      name: AUDIT_WORKER,
      executable: process.execPath,
      args: [join(repoRoot, ENTRY)],
      cwd: repoRoot,
      logFile: paths.logFile,
      pidFile: paths.pidFile,
      // In the environment, not argv: the database URL holds its password.
      env: {
        ...process.env,
        DATABASE_URL: options.databaseUrl,
        REDIS_URL: options.redisUrl,
        KUBECONFIG: options.kubeconfig,
        TURGON_AUDIT_HEALTH_PORT: String(options.port),
      },
    });
    await waitUntilReady(
      record,
      "the audit worker's /healthz",
      () => httpOk(`http://127.0.0.1:${options.port}/healthz`),
      60_000,
    );
  });
  await recordStartedWith(options.stateDir, AUDIT_WORKER, sources);
  return { state, logFile: paths.logFile };
}

/** SIGTERM: it finishes the batches in hand first. */
export function stopAuditWorker(stateDir: string): Promise<"stopped" | "not-running"> {
  return stopLocalDaemon(stateDir, AUDIT_WORKER, { graceMs: 30_000 });
}

export function auditWorkerStatus(stateDir: string): Promise<DaemonRecord | undefined> {
  return runningDaemon(stateDir, AUDIT_WORKER);
}

/**
 * The audit worker (web/src/worker/main.ts) as a real child process, for
 * tests: started with flags, its log in a file, stopped with SIGTERM (it
 * finishes the batch in hand) or killed with SIGKILL (a crash).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { repoRoot } from "../paths.ts";
import { freePort } from "../process/ports.ts";

export const AUDIT_WORKER_ENTRY = join(repoRoot, "web/src/worker/main.ts");

export interface AuditWorkerProcessOptions {
  databaseUrl: string;
  redisUrl: string;
  /** A kubeconfig for namespace teams; without one the worker runs with --teams none. */
  kubeconfig?: string;
  /** More flags, by name without the dashes (e.g. { "retention-days": 7 }). */
  flags?: Record<string, string | number>;
  /** Appended to; a temporary file by default. */
  logFile?: string;
  /** How long to wait for /healthz. */
  readyTimeoutMs?: number;
}

export interface AuditWorkerProcess {
  pid: number;
  logFile: string;
  healthUrl: string;
  /** Resolves with the exit code (null after a signal) once the process has gone. */
  exited: Promise<number | null>;
  /** SIGTERM, then waits for it to finish its batch and exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL: a crash mid-batch. */
  kill(): Promise<void>;
  log(): Promise<string>;
}

/** Flags that make a killed worker's jobs come back within seconds, not the production half-minute. */
export const FAST_RECOVERY_FLAGS = {
  "lock-duration-ms": 4000,
  "stalled-interval-ms": 1000,
  "backoff-max-ms": 2000,
  "retention-interval-seconds": 3600,
};

export async function startAuditWorkerProcess(
  options: AuditWorkerProcessOptions,
): Promise<AuditWorkerProcess> {
  const logFile =
    options.logFile ?? join(await mkdtemp(join(tmpdir(), "turgon-audit-worker-")), "worker.log");
  const port = await freePort();
  const flags: Record<string, string | number> = {
    "database-url": options.databaseUrl,
    "redis-url": options.redisUrl,
    "health-port": port,
    ...(options.kubeconfig
      ? { kubeconfig: options.kubeconfig, "kube-sync-timeout-seconds": 10 }
      : { teams: "none" }),
    ...options.flags,
  };
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [AUDIT_WORKER_ENTRY, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)])],
      { cwd: repoRoot, stdio: ["ignore", fd, fd], env: { ...process.env, KUBECONFIG: "" } },
    );
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const healthUrl = `http://127.0.0.1:${port}/healthz`;
  const log = () => readFile(logFile, "utf8").catch(() => "");
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (!(await healthy(healthUrl))) {
    if (gone || Date.now() > deadline) {
      if (!gone) child.kill("SIGKILL");
      throw new Error(
        `the audit worker ${gone ? "exited during start-up" : "did not become healthy"}; its log:\n${(await log()).slice(-4000)}`,
      );
    }
    await sleep(100);
  }
  return {
    pid: child.pid as number,
    logFile,
    healthUrl,
    exited,
    async stop(graceMs = 30_000) {
      if (gone) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (!gone) child.kill("SIGKILL");
      await exited;
    },
    log,
  };
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

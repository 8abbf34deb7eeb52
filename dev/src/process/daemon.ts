import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { ServiceStartError } from "@turgon/toolkit/errors";
import { waitFor } from "./wait.ts";

/** What we remember about a daemon we started, so `down` stops only ours. */
export interface DaemonRecord {
  name: string;
  pid: number;
  /** argv[0] as started; checked against /proc before signalling. */
  executable: string;
  /** The program name the daemon gives itself once running (process.title), if it renames itself. */
  title?: string;
  logFile: string;
  startedAt: string;
}

export interface StartDaemonOptions {
  name: string;
  executable: string;
  args: string[];
  logFile: string;
  pidFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** See {@link DaemonRecord.title}. */
  title?: string;
}

/**
 * Starts a long-running process in its own session with output appended to a
 * log file, so it outlives the command that started it (like `npm run up`).
 */
export async function startDaemon(options: StartDaemonOptions): Promise<DaemonRecord> {
  const log = openSync(options.logFile, "a");
  try {
    const child = spawn(options.executable, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", log, log],
      uid: options.uid,
      gid: options.gid,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => resolve(child.pid as number));
    });
    child.unref();
    const record: DaemonRecord = {
      name: options.name,
      pid,
      executable: options.executable,
      ...(options.title ? { title: options.title } : {}),
      logFile: options.logFile,
      startedAt: new Date().toISOString(),
    };
    await writeFile(options.pidFile, `${JSON.stringify(record, null, 2)}\n`);
    return record;
  } finally {
    closeSync(log);
  }
}

export async function readDaemonRecord(pidFile: string): Promise<DaemonRecord | undefined> {
  try {
    return JSON.parse(await readFile(pidFile, "utf8")) as DaemonRecord;
  } catch {
    return undefined;
  }
}

/** True when the recorded pid is alive and still runs the recorded executable. */
export async function isDaemonAlive(record: DaemonRecord): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${record.pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
    // Some daemons (redis) rewrite their process title, so compare only the
    // program name at the start of argv[0].
    const argv0 = basename(
      (await readFile(`/proc/${record.pid}/cmdline`, "utf8")).split(/[\0 ]/)[0] ?? "",
    );
    return argv0 === basename(record.executable) || argv0 === record.title;
  } catch {
    return false;
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Stops a daemon we started: `signal` first, SIGKILL after `graceMs`.
 * Never signals a pid that now belongs to another program.
 */
export async function stopDaemon(
  pidFile: string,
  { signal = "SIGTERM", graceMs = 10_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<"stopped" | "not-running"> {
  const record = await readDaemonRecord(pidFile);
  if (!record) return "not-running";
  if (!(await isDaemonAlive(record))) {
    await rm(pidFile, { force: true });
    return "not-running";
  }
  process.kill(record.pid, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && (await isDaemonAlive(record))) await sleep(100);
  if (await isDaemonAlive(record)) process.kill(record.pid, "SIGKILL");
  while (await isDaemonAlive(record)) await sleep(50);
  await rm(pidFile, { force: true });
  return "stopped";
}

class DaemonExitedError extends Error {}

/**
 * Waits until `probe` says the daemon is ready. Fails at once, pointing at the
 * log, when the daemon exits first (a bad flag, a port taken meanwhile).
 */
export async function waitUntilReady(
  record: DaemonRecord,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitFor(
      what,
      async () => {
        if (!(await isDaemonAlive(record)))
          throw new DaemonExitedError("it exited during start-up");
        return (await probe().catch(() => false)) ? true : undefined;
      },
      { timeoutMs, intervalMs: 250, isFatal: (error) => error instanceof DaemonExitedError },
    );
  } catch (error) {
    throw new ServiceStartError(record.name, (error as Error).message, record.logFile);
  }
}

/**
 * The daemons `npm run up` runs (the environment's services, the Turgon
 * components, the dashboard and its worker), kept one way: each in
 * `<stateDir>/<name>/` with its pid file and log, its ports checked before
 * anything starts, its status read from the pid file and /proc, and stopped
 * only if it is still the program we started.
 */
import { readFile, writeFile } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import { type DaemonRecord, isDaemonAlive, readDaemonRecord, stopDaemon } from "./daemon.ts";
import { assertPortFree } from "./ports.ts";

export function daemonPaths(stateDir: string, name: string) {
  const dir = join(stateDir, name);
  return {
    dir,
    pidFile: join(dir, `${name}.pid`),
    logFile: join(dir, `${name}.log`),
    /** What the running daemon was started from (sources, settings), to restart it on a change. */
    startedWithFile: join(dir, "started-with"),
  };
}

/** Our daemon `name`, if it runs. */
export async function runningDaemon(
  stateDir: string,
  name: string,
): Promise<DaemonRecord | undefined> {
  const record = await readDaemonRecord(daemonPaths(stateDir, name).pidFile);
  return record && (await isDaemonAlive(record)) ? record : undefined;
}

export interface DaemonPort {
  port: number;
  /** The environment variable that chooses another port, named in the error. */
  variable: string;
}

/**
 * Checks the ports of a daemon that will start, so a taken port fails
 * before anything starts; ours already running keeps its ports.
 */
export async function assertDaemonPortsFree(
  stateDir: string,
  name: string,
  ports: DaemonPort[],
): Promise<void> {
  if (await runningDaemon(stateDir, name)) return;
  for (const { port, variable } of ports) await assertPortFree(name, "127.0.0.1", port, variable);
}

/** Which of `names` run, by name. */
export async function daemonsStatus<N extends string>(
  stateDir: string,
  names: readonly N[],
): Promise<Record<N, DaemonRecord | undefined>> {
  const entries = await Promise.all(
    names.map(async (name) => [name, await runningDaemon(stateDir, name)] as const),
  );
  return Object.fromEntries(entries) as Record<N, DaemonRecord | undefined>;
}

export function stopLocalDaemon(
  stateDir: string,
  name: string,
  options?: { signal?: NodeJS.Signals; graceMs?: number },
): Promise<"stopped" | "not-running"> {
  return stopDaemon(daemonPaths(stateDir, name).pidFile, options);
}

/** What the running daemon `name` was started from, as recorded by {@link recordStartedWith}. */
export async function startedWith(stateDir: string, name: string): Promise<string> {
  return (
    await readFile(daemonPaths(stateDir, name).startedWithFile, "utf8").catch(() => "")
  ).trim();
}

export async function recordStartedWith(
  stateDir: string,
  name: string,
  fingerprint: string,
): Promise<void> {
  await writeFile(daemonPaths(stateDir, name).startedWithFile, `${fingerprint}\n`);
}

/** A GET of `url` answers 2xx (a health probe); over https, trusting `ca`. */
export function httpOk(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith("https:") ? httpsGet : httpGet;
    const req = get(url, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 300);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

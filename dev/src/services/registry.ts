/**
 * The local platform's OCI registry: Debian's `docker-registry` (CNCF
 * distribution 2.8) on loopback, where `npm run images:oci` pushes the
 * components' images and the chart's default `image.registry` points.
 * Started when absent, as PostgreSQL and Redis are; its blobs live in the
 * user cache directory (they are build output, not the checkout's state).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DebianPackage, ensureDebianPackages } from "@turgon/toolkit/apt";
import { cacheRoot } from "@turgon/toolkit/cache";
import { commandExists } from "@turgon/toolkit/run";
import { type DaemonRecord, startDaemon, stopDaemon, waitUntilReady } from "../process/daemon.ts";
import {
  assertDaemonPortsFree,
  daemonPaths,
  httpOk,
  runningDaemon,
  stopLocalDaemon,
} from "../process/local-daemons.ts";
import { portsFromEnvironment } from "../process/ports.ts";

export const registryPackage: DebianPackage = {
  name: "docker-registry",
  isInstalled: () => commandExists("docker-registry"),
};

/** The registry `npm run up` and `npm run images:oci` keep: the chart's default `image.registry`. */
export const DEFAULT_REGISTRY_PORT = 5000;
export const REGISTRY_PORT_VARIABLE = "TURGON_REGISTRY_PORT";

/** `host:port` of a registry on loopback, as image references name it. */
export function registryHost(port: number): string {
  return `127.0.0.1:${port}`;
}

export function registryPortFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return portsFromEnvironment(
    { registry: DEFAULT_REGISTRY_PORT },
    { registry: REGISTRY_PORT_VARIABLE },
    env,
  ).registry;
}

/**
 * Where the registry of a state directory keeps its blobs: the user cache
 * directory (images are build output, and a fresh clone pushes the same
 * ones), one per state directory, as PostgreSQL's data is keyed when run as root.
 */
export function registryDataDir(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const key = createHash("sha256").update(stateDir).digest("hex").slice(0, 12);
  return join(cacheRoot(env), "registry", key);
}

export interface RegistryOptions {
  /** Its config file, pid file and log. */
  dir: string;
  /** Its storage (blobs and repositories). */
  dataDir: string;
  port: number;
}

/** distribution's configuration: filesystem storage, loopback only, no auth (nothing leaves the machine). */
export function registryConfig(options: RegistryOptions): string {
  return [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(options.dataDir)}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${registryHost(options.port)}`,
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
    "",
  ].join("\n");
}

/** Starts `docker-registry serve` on loopback and waits until `/v2/` answers. */
export async function startRegistry(options: RegistryOptions): Promise<DaemonRecord> {
  await mkdir(options.dir, { recursive: true });
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const config = join(options.dir, "config.yml");
  await writeFile(config, registryConfig(options));
  const record = await startDaemon({
    name: "registry",
    executable: "docker-registry",
    args: ["serve", config],
    logFile: join(options.dir, "registry.log"),
    pidFile: join(options.dir, "registry.pid"),
    cwd: "/",
  });
  await waitUntilReady(
    record,
    "the registry's /v2/",
    () => httpOk(`http://${registryHost(options.port)}/v2/`),
    30_000,
  );
  return record;
}

/** The daemon's name in the state directory (`<stateDir>/registry/`). */
export const REGISTRY = "registry";

/**
 * The local platform's registry (`npm run up`, `npm run images:oci`):
 * started unless ours already runs, installing docker-registry first when
 * it is missing. Its port stays what it was started with.
 */
export async function ensureLocalRegistry(
  stateDir: string,
  port: number,
): Promise<{ state: "started" | "already running"; host: string }> {
  const running = await runningDaemon(stateDir, REGISTRY);
  if (running) {
    const config = await readFile(join(daemonPaths(stateDir, REGISTRY).dir, "config.yml"), "utf8");
    const addr = config.match(/^\s+addr:\s*(\S+)/m)?.[1];
    return { state: "already running", host: addr ?? registryHost(port) };
  }
  await planRegistry(stateDir, port);
  await ensureDebianPackages([registryPackage]);
  await startRegistry({
    dir: daemonPaths(stateDir, REGISTRY).dir,
    dataDir: registryDataDir(stateDir),
    port,
  });
  return { state: "started", host: registryHost(port) };
}

/** Checks the registry's port before anything starts (unless ours runs). */
export function planRegistry(stateDir: string, port: number): Promise<void> {
  return assertDaemonPortsFree(stateDir, REGISTRY, [{ port, variable: REGISTRY_PORT_VARIABLE }]);
}

export async function registryStatus(stateDir: string) {
  return { [REGISTRY]: await runningDaemon(stateDir, REGISTRY) };
}

export function stopLocalRegistry(stateDir: string): Promise<"stopped" | "not-running"> {
  return stopLocalDaemon(stateDir, REGISTRY);
}

/** Stops a registry started with {@link startRegistry} in `dir` (tests' own). */
export async function stopRegistry(dir: string): Promise<"stopped" | "not-running"> {
  return stopDaemon(join(dir, "registry.pid"));
}

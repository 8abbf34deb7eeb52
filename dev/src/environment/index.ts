import { createHash } from "node:crypto";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imageStoreDir } from "@turgon/image-store";
import { ensureImage } from "@turgon/images/build";
import { type DebianPackage, ensureDebianPackages, fileExists } from "@turgon/toolkit/apt";
import { withStep } from "@turgon/toolkit/progress";
import { commandExists } from "@turgon/toolkit/run";
import { apiServerUrl, startApiServer } from "../controlplane/apiserver.ts";
import {
  controllerManagerUrl,
  startControllerManager,
} from "../controlplane/controller-manager.ts";
import { etcdUrl, startEtcd } from "../controlplane/etcd.ts";
import { buildKubeConfig, writeKubeConfig } from "../controlplane/kubeconfig.ts";
import { ensurePki } from "../controlplane/pki.ts";
import type { DaemonRecord } from "../process/daemon.ts";
import {
  assertDaemonPortsFree,
  daemonsStatus,
  runningDaemon,
  stopLocalDaemon,
} from "../process/local-daemons.ts";
import { freePort, portsFromEnvironment } from "../process/ports.ts";
import { databaseUrl, postgresPackage, startPostgres } from "../services/postgres.ts";
import { redisPackage, redisUrl, startRedis } from "../services/redis.ts";
import { ensureEtcdBinary } from "../toolchain/etcd.ts";
import { ensureKubernetesBinaries } from "../toolchain/kubernetes.ts";

export interface Ports {
  apiServer: number;
  controllerManager: number;
  etcdClient: number;
  etcdPeer: number;
  postgres: number;
  redis: number;
}

export interface EnvironmentConfig {
  stateDir: string;
  /** PostgreSQL's data directory (see {@link defaultPostgresDataDir}). */
  postgresDataDir: string;
  ports: Ports;
  /** Throw-away instance for tests: no fsync anywhere. */
  ephemeral: boolean;
  /** Also install Debian's Chromium, which the browser tests drive. */
  browser?: boolean;
}

/** What a running environment offers; written to `<stateDir>/environment.json`. */
export interface EnvironmentInfo {
  stateDir: string;
  kubeconfig: string;
  apiServerUrl: string;
  /** kube-controller-manager's secure port; /healthz answers without credentials. */
  controllerManagerUrl: string;
  databaseUrl: string;
  redisUrl: string;
  kubectl: string;
  ports: Ports;
  /** The default guest image, `name:tag` in `imageStore`. */
  guestImage: string;
  imageStore: string;
}

/** The image every local platform builds: recipes live in images/recipes/. */
export const DEFAULT_IMAGE_RECIPE = "debian-python";

/** QEMU for Gondolin VMs; qemu-img makes the copy-on-write root disks. */
const qemuPackages: DebianPackage[] = [
  { name: "qemu-system-x86", isInstalled: () => commandExists("qemu-system-x86_64") },
  { name: "qemu-utils", isInstalled: () => commandExists("qemu-img") },
];

/**
 * Clients the tests drive the platform with, as users would: curl, ssh,
 * scp; and `ip`, with which tests make the network namespaces that stand
 * in for external hosts.
 */
const clientPackages: DebianPackage[] = [
  { name: "curl", isInstalled: () => commandExists("curl") },
  { name: "openssh-client", isInstalled: () => commandExists("ssh") },
  { name: "iproute2", isInstalled: () => commandExists("ip") },
];

/** The browser the dashboard's tests drive with Playwright (no browser downloads here). */
export const CHROMIUM = "/usr/bin/chromium";
export const chromiumPackage: DebianPackage = {
  name: "chromium",
  isInstalled: () => fileExists(CHROMIUM),
};

/** Every service the environment runs, in start order; `down` stops them in reverse. */
export const SERVICES = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "postgres",
  "redis",
] as const;
export type ServiceName = (typeof SERVICES)[number];

export const PORT_ENV: Record<keyof Ports, string> = {
  apiServer: "TURGON_APISERVER_PORT",
  controllerManager: "TURGON_CONTROLLER_MANAGER_PORT",
  etcdClient: "TURGON_ETCD_PORT",
  etcdPeer: "TURGON_ETCD_PEER_PORT",
  postgres: "TURGON_POSTGRES_PORT",
  redis: "TURGON_REDIS_PORT",
};

export const DEFAULT_PORTS: Ports = {
  apiServer: 16443,
  controllerManager: 11257,
  etcdClient: 12379,
  etcdPeer: 12380,
  postgres: 15432,
  redis: 16379,
};

/** Ports for `npm run up`: the defaults above, each overridable by its TURGON_*_PORT variable. */
export function portsFromEnv(env: NodeJS.ProcessEnv = process.env): Ports {
  return portsFromEnvironment(DEFAULT_PORTS, PORT_ENV, env);
}

/** A free loopback port for every service: for throw-away environments. */
export async function freePorts(): Promise<Ports> {
  return {
    apiServer: await freePort(),
    controllerManager: await freePort(),
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    postgres: await freePort(),
    redis: await freePort(),
  };
}

/**
 * PostgreSQL will not run as root, and Debian's `postgres` user may not be
 * able to reach a checkout under /root, so as root its data lives under
 * /var/lib/turgon, keyed by the state directory.
 */
export function defaultPostgresDataDir(stateDir: string): string {
  if (process.getuid?.() !== 0) return join(stateDir, "postgres", "data");
  const key = createHash("sha256").update(stateDir).digest("hex").slice(0, 12);
  return join("/var/lib/turgon", key, "postgres");
}

/**
 * While any of our services runs, the ports it was started with stay in
 * force; `npm run down` first to move to new ones.
 */
async function keepRunningPorts(config: EnvironmentConfig): Promise<EnvironmentConfig> {
  const previous = await readEnvironmentInfo(config.stateDir);
  if (!previous) return config;
  const running = Object.values(await serviceStatus(config.stateDir)).some(Boolean);
  // A service added since (kube-controller-manager, say) takes its port from the request.
  return running ? { ...config, ports: { ...config.ports, ...previous.ports } } : config;
}

const SERVICE_PORTS: Record<ServiceName, (keyof Ports)[]> = {
  etcd: ["etcdClient", "etcdPeer"],
  "kube-apiserver": ["apiServer"],
  "kube-controller-manager": ["controllerManager"],
  postgres: ["postgres"],
  redis: ["redis"],
};

/**
 * Decides which services need starting and checks all their ports before
 * anything is built or started, so a taken port fails fast and leaves
 * nothing half-started. Our own running instances are left alone.
 */
async function planStart(config: EnvironmentConfig): Promise<Set<ServiceName>> {
  const toStart = new Set<ServiceName>();
  for (const service of SERVICES) {
    if (await runningDaemon(config.stateDir, service)) continue;
    await assertDaemonPortsFree(
      config.stateDir,
      service,
      SERVICE_PORTS[service].map((key) => ({ port: config.ports[key], variable: PORT_ENV[key] })),
    );
    toStart.add(service);
  }
  return toStart;
}

export type StartOutcome = Record<ServiceName, "started" | "already running">;

export async function startEnvironment(
  requested: EnvironmentConfig,
): Promise<EnvironmentInfo & { outcome: StartOutcome }> {
  const config = await keepRunningPorts(requested);
  const { stateDir, ports } = config;
  const toStart = await planStart(config);
  for (const dir of SERVICES) await mkdir(join(stateDir, dir), { recursive: true });
  await ensureDebianPackages([
    postgresPackage,
    redisPackage,
    ...qemuPackages,
    ...clientPackages,
    ...(config.browser ? [chromiumPackage] : []),
  ]);
  const etcdBinary = await ensureEtcdBinary();
  const kube = await ensureKubernetesBinaries();
  const image = await ensureImage(DEFAULT_IMAGE_RECIPE);
  const pki = await ensurePki(join(stateDir, "pki"));

  const outcome = {} as StartOutcome;
  const ensure = async (service: ServiceName, start: () => Promise<DaemonRecord>) => {
    if (!toStart.has(service)) {
      outcome[service] = "already running";
      return;
    }
    await withStep(
      `starting ${service} on 127.0.0.1:${ports[SERVICE_PORTS[service][0] as keyof Ports]}`,
      start,
    );
    outcome[service] = "started";
  };

  await ensure("etcd", () =>
    startEtcd({
      binary: etcdBinary,
      dir: join(stateDir, "etcd"),
      clientPort: ports.etcdClient,
      peerPort: ports.etcdPeer,
      unsafeNoFsync: config.ephemeral,
    }),
  );
  // The API server takes the longest to become ready: start the databases meanwhile.
  const results = await Promise.allSettled([
    (async () => {
      await ensure("kube-apiserver", () =>
        startApiServer({
          binary: kube.kubeApiserver,
          dir: join(stateDir, "kube-apiserver"),
          port: ports.apiServer,
          etcdUrl: etcdUrl({ clientPort: ports.etcdClient }),
          pki,
        }),
      );
      await ensure("kube-controller-manager", () =>
        startControllerManager({
          binary: kube.kubeControllerManager,
          dir: join(stateDir, "kube-controller-manager"),
          port: ports.controllerManager,
          apiServerUrl: apiServerUrl(ports.apiServer),
          pki,
        }),
      );
    })(),
    (async () => {
      await ensure("postgres", () =>
        startPostgres({
          dataDir: config.postgresDataDir,
          runDir: join(stateDir, "postgres"),
          port: ports.postgres,
          unsafeNoFsync: config.ephemeral,
        }),
      );
      await ensure("redis", () =>
        startRedis({
          dir: join(stateDir, "redis"),
          port: ports.redis,
          ephemeral: config.ephemeral,
        }),
      );
    })(),
  ]);
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;

  // A stable path for the cached kubectl: `export PATH=<stateDir>/bin:$PATH`.
  const kubectl = join(stateDir, "bin", "kubectl");
  await mkdir(join(stateDir, "bin"), { recursive: true });
  await rm(kubectl, { force: true });
  await symlink(kube.kubectl, kubectl);
  const kubeconfig = join(stateDir, "kubeconfig");
  await writeKubeConfig(kubeconfig, await buildKubeConfig(apiServerUrl(ports.apiServer), pki));
  const info: EnvironmentInfo = {
    stateDir,
    kubeconfig,
    apiServerUrl: apiServerUrl(ports.apiServer),
    controllerManagerUrl: controllerManagerUrl(ports.controllerManager),
    databaseUrl: databaseUrl(ports.postgres),
    redisUrl: redisUrl(ports.redis),
    kubectl,
    ports,
    guestImage: image.ref,
    imageStore: imageStoreDir(),
  };
  await writeFile(join(stateDir, "environment.json"), `${JSON.stringify(info, null, 2)}\n`);
  return { ...info, outcome };
}

export async function readEnvironmentInfo(stateDir: string): Promise<EnvironmentInfo | undefined> {
  try {
    return JSON.parse(
      await readFile(join(stateDir, "environment.json"), "utf8"),
    ) as EnvironmentInfo;
  } catch {
    return undefined;
  }
}

/** Which of our services are running, by name. */
export function serviceStatus(
  stateDir: string,
): Promise<Record<ServiceName, DaemonRecord | undefined>> {
  return daemonsStatus(stateDir, SERVICES);
}

/** Stops the services this state directory started, and nothing else. */
export async function stopEnvironment(
  stateDir: string,
): Promise<Record<ServiceName, "stopped" | "not-running">> {
  const result = {} as Record<ServiceName, "stopped" | "not-running">;
  for (const service of [...SERVICES].reverse()) {
    // SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to leave.
    const signal = service === "postgres" ? "SIGINT" : "SIGTERM";
    result[service] = await stopLocalDaemon(stateDir, service, { signal });
  }
  return result;
}

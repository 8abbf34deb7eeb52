import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import type { SupervisorFront } from "@turgon/api/supervisor";
import { listen, loadKubeConfig } from "@turgon/toolkit/daemon";
import { ConfigError } from "@turgon/toolkit/flags";
import type { CallerAuthentication } from "./api/auth.ts";
import { type AgentRoute, buildApiServer } from "./api/server.ts";
import { type AgentTls, tlsServerOptions, watchTlsFiles } from "./api/tls.ts";
import { AuditShipper } from "./audit/shipper.ts";
import { AuditSpool } from "./audit/spool.ts";
import type { AgentConfig } from "./config/config.ts";
import { createIngressServer } from "./ingress/proxy.ts";
import { type Logger, logger } from "./logger.ts";
import { AgentMetrics } from "./metrics/metrics.ts";
import { NodeRegistration } from "./registration/registration.ts";
import { allocatableOf, SandboxManager } from "./sandboxes/manager.ts";
import { nodeVmContext } from "./sandboxes/node-vm.ts";
import { Checkpoints } from "./state/checkpoints.ts";
import { VmRecords } from "./state/vm-records.ts";
import { supervisorEntry } from "./supervisor/bundle.ts";
import { type NodeVmSettings, supervisorSpoolDir } from "./supervisor/config.ts";
import { FrontPorts } from "./supervisor/ports.ts";
import { SupervisorSpools } from "./supervisor/spools.ts";
import { SimulatedRuntime } from "./vm/simulated.ts";

/**
 * This build's version: its package's (node-agent/package.json), so a changed
 * build says so. A supervisor reports the version of the agent that started
 * it, and the SandboxNode the running agent's.
 */
export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

export interface RunningAgent {
  apiUrl: string;
  ingressUrl: string;
  /** Every route of the agent API and who may call it. */
  routes: AgentRoute[];
  manager: SandboxManager;
  spool: AuditSpool;
  /** Where the agent keeps its supervisors, checkpoints and records (absolute). */
  stateDir: string;
  /** Stops the agent; supervised VMs go on running (`stopSupervisors(stateDir)` ends them). */
  stop(): Promise<void>;
}

/** A file named by a flag cannot be used; the message names the flag. */
export class ConfigFileError extends ConfigError {}

async function readToken(path: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, "utf8")).trim();
  } catch (error) {
    throw new ConfigFileError(`--token-file ${path}: ${(error as Error).message}`);
  }
  if (token.length < 16)
    throw new ConfigFileError(`--token-file ${path}: the token must be at least 16 characters`);
  return token;
}

async function readTls(config: AgentConfig): Promise<AgentTls | undefined> {
  const certFile = config["tls-cert-file"];
  const keyFile = config["tls-key-file"];
  const caFile = config["client-ca-file"];
  if (!certFile || !keyFile || !caFile) return undefined;
  const read = async (flag: string, path: string) => {
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      throw new ConfigFileError(`--${flag} ${path}: ${(error as Error).message}`);
    }
  };
  return {
    cert: await read("tls-cert-file", certFile),
    key: await read("tls-key-file", keyFile),
    clientCa: await read("client-ca-file", caFile),
  };
}

/** How callers prove who they are: client certificates, or on an --insecure agent the token. */
async function callerAuthentication(config: AgentConfig): Promise<CallerAuthentication> {
  if (!config.insecure) return { mode: "certificate" };
  return { mode: "token", token: await readToken(config["token-file"] as string) };
}

export interface StartAgentOptions {
  /** How often the TLS files are looked at for a rotation (30 s; tests make it short). */
  tlsWatchIntervalMs?: number;
}

/** Starts the agent: API, ingress data plane, and the SandboxNode registration. */
export async function startAgent(
  config: AgentConfig,
  log: Logger = logger,
  options: StartAgentOptions = {},
): Promise<RunningAgent> {
  const auth = await callerAuthentication(config);
  // Replaced when the files rotate (watchTlsFiles below).
  let tls = await readTls(config);
  /** What each supervisor's front serves with: the same as this agent's ingress port. */
  const frontAuth = (): SupervisorFront =>
    tls
      ? { auth: { mode: "certificate", ...tls } }
      : { auth: { mode: "token", token: auth.mode === "token" ? auth.token : "" } };
  const kc = loadKubeConfig({
    file: config.kubeconfig,
    serviceAccount: "turgon-system/turgon-node-agent",
  });

  // What every VM needs of this node, built once: supervisors get it as it is.
  const vm: NodeVmSettings = {
    nodeName: config["node-name"],
    accelerator: config.accelerator,
    tcgTranslationCacheMiB: config["tcg-tb-size-mib"],
    freePageReporting: config["free-page-reporting"],
    ...(config["image-store"] ? { imageStore: config["image-store"] } : {}),
    ingressHeaderTimeoutMs: config["ingress-header-timeout-ms"],
    platformCidrs: config["platform-cidrs"],
    ...(config["dns-trusted-servers"] ? { dnsTrustedServers: config["dns-trusted-servers"] } : {}),
  };
  // Only simulated sandboxes live in this process; real VMs run in their supervisors.
  let simulated: SimulatedRuntime | undefined;
  if (config.runtime === "simulated") {
    simulated = new SimulatedRuntime({ bootMs: config["simulated-boot-ms"] });
    log.warn(
      { bootMs: config["simulated-boot-ms"] },
      "runtime is SIMULATED: no VM boots; for control-plane scale benchmarks only",
    );
  }
  const capacity = { cpus: config.cpus, memoryMiB: config["memory-mib"], vms: config["max-vms"] };
  const allocatable = allocatableOf(capacity, config["cpu-allocation-ratio"]);
  let manager: SandboxManager | undefined;
  // The shipper is made below; the gauge reads it only when scraped.
  const metrics = new AgentMetrics(
    () => manager,
    () => shipper.backlogBytes(),
  );
  const spool = new AuditSpool({
    dir: config["spool-dir"],
    maxTotalBytes: config["spool-max-mib"] << 20,
  });
  await spool.open();
  spool.on("dropped", (count) =>
    log.error({ count }, "audit spool over its bound: dropped the oldest events"),
  );
  // Absolute: supervisors are started with these paths and report them back.
  const stateDir = resolve(config["state-dir"]);
  const spoolDir = resolve(config["spool-dir"]);
  const shipper = new AuditShipper(spool, config["redis-url"], config["node-name"], log, {
    more: new SupervisorSpools({
      spoolDir,
      stateDir,
      log,
      // Supervised egress is counted as it is shipped (the agent may have been down meanwhile).
      onEvent: (event) => metrics.egressRequests.inc({ decision: event.decision }),
    }),
  });
  shipper.start();
  // Only supervised sandboxes have fronts (the simulated runtime's live in this process).
  const frontPorts = new FrontPorts(config["front-ports"]);
  const records = new VmRecords(config["state-dir"]);
  const reaped = await records.reapOrphans(log);
  if (reaped.length > 0)
    log.warn({ reaped }, "sandboxes of a previous agent are gone; the operator will recreate them");
  // Supervisors run from a bundle of their code (less memory per VM), built once now (launches
  // take it from here); main.ts if that fails.
  if (!simulated) await supervisorEntry(log);
  manager = new SandboxManager({
    allocatable,
    log,
    onTiming: (kind, seconds) => metrics.observeTiming(kind, seconds),
    onFrontRequests: (code, count) => metrics.frontRequests.inc({ code }, count),
    onClaim: (pool, seconds) => metrics.observeClaim(pool, seconds),
    ...(simulated
      ? {
          inProcess: {
            ...nodeVmContext(vm, simulated),
            records,
            checkpoints: new Checkpoints(config["state-dir"]),
            audit: (event) => {
              metrics.egressRequests.inc({ decision: event.decision });
              spool
                .append(event)
                .catch((error) =>
                  log.error({ err: error, id: event.id }, "cannot spool an audit event"),
                );
            },
          },
        }
      : {
          supervision: {
            stateDir,
            spoolDirOf: (uid: string) => supervisorSpoolDir(spoolDir, uid),
            spoolMaxMiB: config["spool-max-mib"],
            version: AGENT_VERSION,
            vm,
            front: { host: config["listen-host"], ports: frontPorts, auth: frontAuth },
          },
        }),
  });

  // Before the API answers: the operator sees re-adopted sandboxes from the first list.
  const { adopted, reaped: dead } = await manager.adopt();
  if (adopted.length > 0 || dead.length > 0)
    log.info({ adopted, dead }, "re-adopted the sandboxes whose supervisors still run");

  const { app: api, routes } = await buildApiServer({
    manager,
    auth,
    log,
    metrics,
    ...(tls ? { tls } : {}),
  });
  await api.listen({ host: config["listen-host"], port: config["api-port"] });
  const apiPort = (api.server.address() as AddressInfo).port;
  const ingress = createIngressServer({
    lookup: (uid) => manager?.get(uid),
    auth: () => auth,
    log: log.child({ component: "ingress" }),
    metrics,
    ...(tls ? { tls } : {}),
  });
  const ingressPort = await listen(ingress, config["listen-host"], config["ingress-port"]);

  const advertise = config["advertise-host"] ?? config["listen-host"];
  const apiUrl = `${tls ? "https" : "http"}://${advertise}:${apiPort}`;
  const ingressUrl = `${tls ? "https" : "http"}://${advertise}:${ingressPort}`;
  const registration = new NodeRegistration(
    kc,
    {
      nodeName: config["node-name"],
      address: apiUrl,
      ingressAddress: ingressUrl,
      ...(config.runtime === "qemu" ? { frontPorts: frontPorts.range } : {}),
      capacity,
      allocatable,
      accelerator: () => simulated?.chosenAccelerator ?? manager?.supervisedAccelerator(),
      runtime: config.runtime,
      heartbeatSeconds: config["heartbeat-seconds"],
      agentVersion: AGENT_VERSION,
    },
    log,
  );
  await registration.start();
  // A rotated certificate reaches the API, the ingress port and every front, with no restart.
  const unwatchTls = tls
    ? watchTlsFiles(
        {
          cert: config["tls-cert-file"] as string,
          key: config["tls-key-file"] as string,
          clientCa: config["client-ca-file"] as string,
        },
        tls,
        (next) => {
          tls = next;
          const context = tlsServerOptions(next);
          (ingress as unknown as HttpsServer).setSecureContext(context);
          (api.server as unknown as HttpsServer).setSecureContext(context);
          void manager?.pushFrontAuth();
        },
        {
          log,
          ...(options.tlsWatchIntervalMs ? { intervalMs: options.tlsWatchIntervalMs } : {}),
        },
      )
    : () => {};
  if (config.insecure)
    log.warn("serving plain HTTP with a bearer token (--insecure): for development only");
  log.info(
    { apiUrl, ingressUrl, node: config["node-name"], version: AGENT_VERSION },
    "node agent started",
  );

  return {
    apiUrl,
    ingressUrl,
    routes,
    manager,
    spool,
    stateDir,
    async stop() {
      registration.stop();
      unwatchTls();
      // Supervised VMs go on running for the next agent; only in-process ones stop.
      await manager.detachAll();
      ingress.closeAllConnections();
      ingress.close();
      await api.close();
      // Flush: spooled events are on disk; ship what Redis will take now.
      await spool.sync();
      await shipper.stop();
      await spool.close();
    },
  };
}

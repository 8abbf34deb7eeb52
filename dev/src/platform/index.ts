/**
 * The Turgon components `npm run up` runs on top of the environment: one node
 * agent and the operator, as daemons with their own identities (client
 * certificates from the local CA, bound by the RBAC manifests they ship).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DevError } from "@turgon/toolkit/errors";
import { withStep } from "@turgon/toolkit/progress";
import { run } from "@turgon/toolkit/run";
import { buildClientKubeConfig } from "../controlplane/kubeconfig.ts";
import { issueClientCertificate, pkiPaths } from "../controlplane/pki.ts";
import type { EnvironmentInfo } from "../environment/index.ts";
import { repoRoot } from "../paths.ts";
import {
  type DaemonRecord,
  isDaemonAlive,
  readDaemonRecord,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from "../process/daemon.ts";
import { assertPortFree } from "../process/ports.ts";

export const COMPONENTS = ["node-agent", "operator"] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** The local node's name, and where the router will serve routed URLs (issue: router). */
export const LOCAL_NODE = "local";
export const ROUTER_PORT = 18080;

export interface PlatformPorts {
  agentApi: number;
  agentIngress: number;
  operatorMetrics: number;
}

const PORT_ENV: Record<keyof PlatformPorts, string> = {
  agentApi: "TURGON_AGENT_API_PORT",
  agentIngress: "TURGON_AGENT_INGRESS_PORT",
  operatorMetrics: "TURGON_OPERATOR_METRICS_PORT",
};
const DEFAULT_PORTS: PlatformPorts = {
  agentApi: 17443,
  agentIngress: 17080,
  operatorMetrics: 18081,
};
const COMPONENT_PORTS: Record<ComponentName, (keyof PlatformPorts)[]> = {
  "node-agent": ["agentApi", "agentIngress"],
  operator: ["operatorMetrics"],
};

export function platformPortsFromEnv(env: NodeJS.ProcessEnv = process.env): PlatformPorts {
  const ports = { ...DEFAULT_PORTS };
  for (const key of Object.keys(PORT_ENV) as (keyof PlatformPorts)[]) {
    const raw = env[PORT_ENV[key]];
    if (raw === undefined || raw === "") continue;
    const port = Number(raw);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new DevError(
        `${PORT_ENV[key]}=${raw} is not a TCP port`,
        `Set ${PORT_ENV[key]} to an integer from 1 to 65535, or unset it.`,
      );
    ports[key] = port;
  }
  return ports;
}

const pidFile = (stateDir: string, component: ComponentName) =>
  join(stateDir, component, `${component}.pid`);

async function running(
  stateDir: string,
  component: ComponentName,
): Promise<DaemonRecord | undefined> {
  const record = await readDaemonRecord(pidFile(stateDir, component));
  return record && (await isDaemonAlive(record)) ? record : undefined;
}

/** Checks the ports of components that will start, before anything starts. */
export async function planPlatform(stateDir: string, ports: PlatformPorts): Promise<void> {
  for (const component of COMPONENTS) {
    if (await running(stateDir, component)) continue;
    for (const key of COMPONENT_PORTS[component])
      await assertPortFree(component, "127.0.0.1", ports[key], PORT_ENV[key]);
  }
}

async function kubectl(info: EnvironmentInfo, args: string[]): Promise<void> {
  const result = await run(info.kubectl, args, {
    env: { ...process.env, KUBECONFIG: info.kubeconfig },
  });
  if (result.exitCode !== 0) throw new DevError(`kubectl ${args.join(" ")} failed`, result.tail);
}

/** A kubeconfig that authenticates as `user` in `groups`, for a component. */
async function componentKubeconfig(
  info: EnvironmentInfo,
  path: string,
  user: string,
  groups: string[],
) {
  const pki = pkiPaths(join(info.stateDir, "pki"));
  const { cert, key } = await issueClientCertificate(pki, user, groups);
  const caPem = await readFile(pki.caCert, "utf8");
  const kc = buildClientKubeConfig({ server: info.apiServerUrl, caPem, user, cert, key });
  await writeFile(path, `${kc.exportConfig()}\n`, { mode: 0o600 });
}

async function agentToken(stateDir: string): Promise<string> {
  const path = join(stateDir, "node-agent", "token");
  try {
    await readFile(path, "utf8");
  } catch {
    await writeFile(path, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  }
  return path;
}

export type PlatformOutcome = Record<ComponentName, "started" | "already running">;

/** Installs the CRDs and RBAC, then starts the node agent and the operator unless running. */
export async function startPlatform(
  info: EnvironmentInfo,
  ports: PlatformPorts,
): Promise<PlatformOutcome> {
  const { stateDir } = info;
  for (const component of COMPONENTS) await mkdir(join(stateDir, component), { recursive: true });
  await withStep("installing CRDs and RBAC", async () => {
    await kubectl(info, [
      "apply",
      "--server-side",
      "--force-conflicts",
      "-f",
      join(repoRoot, "api/crds"),
    ]);
    await kubectl(info, [
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "-f",
      join(repoRoot, "api/crds"),
    ]);
    await kubectl(info, [
      "apply",
      "-f",
      join(repoRoot, "node-agent/deploy/rbac.yaml"),
      "-f",
      join(repoRoot, "operator/deploy/rbac.yaml"),
    ]);
  });
  const token = await agentToken(stateDir);
  const outcome = {} as PlatformOutcome;

  if (await running(stateDir, "node-agent")) outcome["node-agent"] = "already running";
  else {
    const dir = join(stateDir, "node-agent");
    const kubeconfig = join(dir, "kubeconfig");
    await componentKubeconfig(info, kubeconfig, `turgon-node-agent:${LOCAL_NODE}`, [
      "turgon:node-agents",
    ]);
    await withStep(
      `starting node-agent on 127.0.0.1:${ports.agentApi} (ingress :${ports.agentIngress})`,
      async () => {
        const record = await startDaemon({
          name: "node-agent",
          executable: process.execPath,
          args: [
            join(repoRoot, "node-agent/src/main.ts"),
            ...flags({
              "node-name": LOCAL_NODE,
              "api-port": ports.agentApi,
              "ingress-port": ports.agentIngress,
              "token-file": token,
              kubeconfig,
              "state-dir": join(dir, "state"),
              "spool-dir": join(dir, "spool"),
              "redis-url": info.redisUrl,
              "image-store": info.imageStore,
            }),
          ],
          logFile: join(dir, "node-agent.log"),
          pidFile: pidFile(stateDir, "node-agent"),
          cwd: repoRoot,
        });
        await waitUntilReady(
          record,
          "the node agent's /healthz",
          () => healthy(`http://127.0.0.1:${ports.agentApi}/healthz`),
          60_000,
        );
      },
    );
    outcome["node-agent"] = "started";
  }

  if (await running(stateDir, "operator")) outcome.operator = "already running";
  else {
    const dir = join(stateDir, "operator");
    const kubeconfig = join(dir, "kubeconfig");
    await componentKubeconfig(
      info,
      kubeconfig,
      "system:serviceaccount:turgon-system:turgon-operator",
      ["system:serviceaccounts", "system:serviceaccounts:turgon-system"],
    );
    await withStep(
      `starting operator (metrics on 127.0.0.1:${ports.operatorMetrics})`,
      async () => {
        const record = await startDaemon({
          name: "operator",
          executable: process.execPath,
          args: [
            join(repoRoot, "operator/src/main.ts"),
            ...flags({
              kubeconfig,
              "agent-token-file": token,
              "metrics-port": ports.operatorMetrics,
              "ingress-domain": "localhost",
              "ingress-scheme": "http",
              "ingress-port": ROUTER_PORT,
            }),
          ],
          logFile: join(dir, "operator.log"),
          pidFile: pidFile(stateDir, "operator"),
          cwd: repoRoot,
        });
        await waitUntilReady(
          record,
          "the operator's /healthz",
          () => healthy(`http://127.0.0.1:${ports.operatorMetrics}/healthz`),
          60_000,
        );
      },
    );
    outcome.operator = "started";
  }
  return outcome;
}

function flags(values: Record<string, string | number>): string[] {
  return Object.entries(values).flatMap(([name, value]) => [`--${name}`, String(value)]);
}

async function healthy(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return response.ok;
}

/** Stops the operator first (so it does not react), then the agent (which closes its VMs). */
export async function stopPlatform(
  stateDir: string,
): Promise<Record<ComponentName, "stopped" | "not-running">> {
  return {
    operator: await stopDaemon(pidFile(stateDir, "operator")),
    "node-agent": await stopDaemon(pidFile(stateDir, "node-agent"), { graceMs: 60_000 }),
  };
}

export async function platformStatus(
  stateDir: string,
): Promise<Record<ComponentName, DaemonRecord | undefined>> {
  return {
    "node-agent": await running(stateDir, "node-agent"),
    operator: await running(stateDir, "operator"),
  };
}

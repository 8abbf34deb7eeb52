/**
 * The Turgon components `npm run up` runs on top of the environment: one node
 * agent and the operator, as daemons with their own identities (client
 * certificates from the local CA, bound by the RBAC manifests they ship).
 */

import { randomBytes } from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { delimiter, join } from "node:path";
import { SSH_USERS_SECRET, type SshUsersFile } from "@turgon/api/routing";
import { EDGE_CONFIG, type EdgeFacts, edgeConfigData } from "@turgon/api/routing/edge";
import { DevError } from "@turgon/toolkit/errors";
import { withStep } from "@turgon/toolkit/progress";
import { run } from "@turgon/toolkit/run";
import { ensureAgentPki } from "../controlplane/agent-pki.ts";
import { buildClientKubeConfig } from "../controlplane/kubeconfig.ts";
import { issueClientCertificate, pkiPaths } from "../controlplane/pki.ts";
import type { EnvironmentInfo } from "../environment/index.ts";
import { repoRoot } from "../paths.ts";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";
import {
  assertDaemonPortsFree,
  daemonPaths,
  daemonsStatus,
  httpOk,
  runningDaemon,
  stopLocalDaemon,
} from "../process/local-daemons.ts";
import { portsFromEnvironment } from "../process/ports.ts";
import { stopLeftoverSupervisors } from "../testing/supervisors.ts";

export const COMPONENTS = ["node-agent", "operator", "router"] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** The local node's name; routed URLs live under *.localhost, which resolves to loopback. */
export const LOCAL_NODE = "local";
export const INGRESS_DOMAIN = "localhost";

export interface PlatformPorts {
  agentApi: number;
  agentIngress: number;
  operatorMetrics: number;
  router: number;
  routerMetrics: number;
  routerSsh: number;
}

export const PORT_ENV: Record<keyof PlatformPorts, string> = {
  agentApi: "TURGON_AGENT_API_PORT",
  agentIngress: "TURGON_AGENT_INGRESS_PORT",
  operatorMetrics: "TURGON_OPERATOR_METRICS_PORT",
  router: "TURGON_ROUTER_PORT",
  routerMetrics: "TURGON_ROUTER_METRICS_PORT",
  routerSsh: "TURGON_ROUTER_SSH_PORT",
};
export const DEFAULT_PORTS: PlatformPorts = {
  agentApi: 17443,
  agentIngress: 17080,
  operatorMetrics: 18081,
  router: 18080,
  routerMetrics: 18082,
  routerSsh: 2222,
};
const COMPONENT_PORTS: Record<ComponentName, (keyof PlatformPorts)[]> = {
  "node-agent": ["agentApi", "agentIngress"],
  operator: ["operatorMetrics"],
  router: ["router", "routerMetrics", "routerSsh"],
};

export function platformPortsFromEnv(env: NodeJS.ProcessEnv = process.env): PlatformPorts {
  return portsFromEnvironment(DEFAULT_PORTS, PORT_ENV, env);
}

/** Checks the ports of components that will start, before anything starts. */
export async function planPlatform(stateDir: string, ports: PlatformPorts): Promise<void> {
  for (const component of COMPONENTS)
    await assertDaemonPortsFree(
      stateDir,
      component,
      COMPONENT_PORTS[component].map((key) => ({ port: ports[key], variable: PORT_ENV[key] })),
    );
}

async function kubectl(info: EnvironmentInfo, args: string[]): Promise<void> {
  const result = await run(info.kubectl, args, {
    env: { ...process.env, KUBECONFIG: info.kubeconfig },
  });
  if (result.exitCode !== 0) throw new DevError(`kubectl ${args.join(" ")} failed`, result.tail);
}

/** A kubeconfig that authenticates as `user` in `groups`, for a component. */
export async function componentKubeconfig(
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

export type PlatformOutcome = Record<ComponentName, "started" | "already running">;

interface ComponentPlan {
  name: ComponentName;
  entry: string;
  /** The identity it runs as: a client certificate's user and groups. */
  user: string;
  groups: string[];
  flags: (dir: string, kubeconfig: string) => Record<string, string | number>;
  health: string;
  /** The CA that signs the health endpoint's certificate, when it serves https. */
  healthCa?: string;
  what: string;
}

/** Starts one component as a daemon with its own kubeconfig, unless it already runs. */
async function ensureComponent(
  info: EnvironmentInfo,
  plan: ComponentPlan,
): Promise<"started" | "already running"> {
  if (await runningDaemon(info.stateDir, plan.name)) return "already running";
  const { dir, pidFile, logFile } = daemonPaths(info.stateDir, plan.name);
  const kubeconfig = join(dir, "kubeconfig");
  await componentKubeconfig(info, kubeconfig, plan.user, plan.groups);
  await withStep(`starting ${plan.name} ${plan.what}`, async () => {
    const record = await startDaemon({
      name: plan.name,
      executable: process.execPath,
      args: [join(repoRoot, plan.entry), ...flags(plan.flags(dir, kubeconfig))],
      logFile,
      pidFile,
      cwd: repoRoot,
    });
    await waitUntilReady(
      record,
      `${plan.name}'s /healthz`,
      () => httpOk(plan.health, plan.healthCa),
      60_000,
    );
  });
  return "started";
}

/** The key ingress tokens are signed with: made once, kept in a Secret the router reads. */
/** Where `npm run up`'s router is reached: the facts its edge ConfigMap states (and the dashboard's TURGON_INGRESS_*). */
export function localEdge(ports: PlatformPorts): EdgeFacts {
  return {
    domain: INGRESS_DOMAIN,
    scheme: "http",
    port: ports.router,
    sshHost: "localhost",
    sshPort: ports.routerSsh,
  };
}

/**
 * The edge's public facts, once, in the ConfigMap the operator and the
 * router read (turgon-system/turgon-edge): plain HTTP under *.localhost on
 * the router's port, SSH on its gateway's. Applied on every `up`, so a
 * changed port (TURGON_ROUTER_PORT) reaches the URLs the operator writes.
 */
async function ensureEdgeConfig(info: EnvironmentInfo, ports: PlatformPorts): Promise<void> {
  const [namespace, name] = EDGE_CONFIG.split("/") as [string, string];
  const facts = localEdge(ports);
  const path = join(info.stateDir, "edge-configmap.json");
  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data: edgeConfigData(facts),
  };
  await writeFile(path, `${JSON.stringify(configMap, null, 2)}\n`);
  await kubectl(info, ["apply", "-f", path]);
}

async function ensureTokenKeys(info: EnvironmentInfo): Promise<void> {
  const env = { ...process.env, KUBECONFIG: info.kubeconfig };
  const existing = await run(
    info.kubectl,
    ["get", "secret", "turgon-ingress-keys", "-n", "turgon-system"],
    { env },
  );
  if (existing.exitCode === 0) return;
  await kubectl(info, [
    "create",
    "secret",
    "generic",
    "turgon-ingress-keys",
    "-n",
    "turgon-system",
    `--from-literal=current=${randomBytes(32).toString("hex")}`,
  ]);
}

/** The SSH gateway's host key, made once. */
async function ensureSshHostKey(stateDir: string): Promise<string> {
  const hostKey = join(stateDir, "router", "ssh_host_ed25519_key");
  if (!(await exists(hostKey))) {
    const made = await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "turgon-router",
      "-f",
      hostKey,
    ]);
    if (made.exitCode !== 0)
      throw new DevError("ssh-keygen could not make the router's host key", made.tail);
  }
  return hostKey;
}

/** The data key of the SSH users Secret that `npm run up` keeps: the local user's keys. */
export const LOCAL_SSH_USERS_KEY = "local.json";
/** Public key files (path-separated) to admit as the local admin, instead of ~/.ssh's. */
export const LOCAL_SSH_KEYS_VARIABLE = "TURGON_SSH_PUBLIC_KEYS";

function localPublicKeyFiles(env: NodeJS.ProcessEnv): string[] {
  const listed = (env[LOCAL_SSH_KEYS_VARIABLE] ?? "").split(delimiter).filter(Boolean);
  if (listed.length > 0) return listed;
  return ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"].map((n) => join(homedir(), ".ssh", n));
}

/**
 * The SSH gateway's users come from the Secret turgon-system/turgon-ssh-users,
 * which the router follows: the dashboard keeps its `users.json` (everyone
 * who registered a key), and `npm run up` keeps `local.json`, your own
 * `~/.ssh/*.pub` keys (or the files TURGON_SSH_PUBLIC_KEYS lists) as an admin,
 * so `ssh -p 2222 <name>.<namespace>@localhost` works before any key is
 * registered. Rewritten on every `up` (keys change);
 * a JSON merge patch of that one key, so the dashboard's stays.
 */
async function ensureLocalSshUsers(
  info: EnvironmentInfo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const keys: string[] = [];
  for (const file of localPublicKeyFiles(env)) {
    const text = await readFile(file, "utf8").catch(() => "");
    const line = text.trim().split("\n")[0]?.trim();
    if (line) keys.push(line);
  }
  const users: SshUsersFile = keys.length
    ? [{ user: userInfo().username, admin: true, teams: [], keys }]
    : [];
  const created = await run(
    info.kubectl,
    ["create", "secret", "generic", SSH_USERS_SECRET, "-n", "turgon-system"],
    { env: { ...process.env, KUBECONFIG: info.kubeconfig } },
  );
  if (created.exitCode !== 0 && !/already exists/i.test(created.tail))
    throw new DevError(`kubectl create secret ${SSH_USERS_SECRET} failed`, created.tail);
  const value = Buffer.from(`${JSON.stringify(users, null, 2)}\n`).toString("base64");
  await kubectl(info, [
    "patch",
    "secret",
    SSH_USERS_SECRET,
    "-n",
    "turgon-system",
    "--type",
    "merge",
    "-p",
    JSON.stringify({ data: { [LOCAL_SSH_USERS_KEY]: value } }),
  ]);
  return keys.length;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const SERVICE_ACCOUNT_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:turgon-system"];

/** Installs the CRDs and RBAC, then starts the node agent, the operator and the router unless running. */
export async function startPlatform(
  info: EnvironmentInfo,
  ports: PlatformPorts,
  /** The dashboard's sign-in page, where the router sends visitors of private sandboxes. */
  signInUrl: string,
): Promise<PlatformOutcome> {
  const { stateDir } = info;
  for (const component of COMPONENTS) await mkdir(join(stateDir, component), { recursive: true });
  await withStep("installing CRDs and RBAC", async () => {
    const crds = join(repoRoot, "api/crds");
    await kubectl(info, ["apply", "--server-side", "--force-conflicts", "-f", crds]);
    await kubectl(info, ["wait", "--for=condition=Established", "--timeout=60s", "-f", crds]);
    const manifests = [
      "node-agent/deploy/rbac.yaml",
      "operator/deploy/rbac.yaml",
      "router/deploy/rbac.yaml",
    ];
    // The dashboard's identity (turgon-web) and the team roles, once web/deploy/ has them.
    if (await exists(join(repoRoot, "web/deploy/rbac.yaml")))
      manifests.push("web/deploy/rbac.yaml");
    await kubectl(info, ["apply", ...manifests.flatMap((m) => ["-f", join(repoRoot, m)])]);
  });
  await ensureTokenKeys(info);
  await ensureEdgeConfig(info, ports);
  const sshHostKey = await ensureSshHostKey(stateDir);
  await ensureLocalSshUsers(info);
  // The agent serves TLS; the operator and the router present client certificates (kubelet-style).
  const pki = await ensureAgentPki(join(stateDir, "pki", "agent"), LOCAL_NODE);
  const agentAccess = (caller: "operator" | "router") => ({
    "agent-ca-file": pki.ca,
    "agent-client-cert-file": pki[caller].cert,
    "agent-client-key-file": pki[caller].key,
  });
  return {
    "node-agent": await ensureComponent(info, {
      name: "node-agent",
      entry: "node-agent/src/main.ts",
      user: `turgon-node-agent:${LOCAL_NODE}`,
      groups: ["turgon:node-agents"],
      flags: (dir, kubeconfig) => ({
        "node-name": LOCAL_NODE,
        "api-port": ports.agentApi,
        "ingress-port": ports.agentIngress,
        "tls-cert-file": pki.agent.cert,
        "tls-key-file": pki.agent.key,
        "client-ca-file": pki.ca,
        kubeconfig,
        "state-dir": join(dir, "state"),
        "spool-dir": join(dir, "spool"),
        "redis-url": info.redisUrl,
        "image-store": info.imageStore,
      }),
      health: `https://127.0.0.1:${ports.agentApi}/healthz`,
      healthCa: await readFile(pki.ca, "utf8"),
      what: `on https://127.0.0.1:${ports.agentApi} (ingress :${ports.agentIngress})`,
    }),
    operator: await ensureComponent(info, {
      name: "operator",
      entry: "operator/src/main.ts",
      user: "system:serviceaccount:turgon-system:turgon-operator",
      groups: SERVICE_ACCOUNT_GROUPS,
      flags: (_dir, kubeconfig) => ({
        kubeconfig,
        ...agentAccess("operator"),
        "metrics-port": ports.operatorMetrics,
        "edge-config": EDGE_CONFIG,
      }),
      health: `http://127.0.0.1:${ports.operatorMetrics}/healthz`,
      what: `(metrics on 127.0.0.1:${ports.operatorMetrics})`,
    }),
    router: await ensureComponent(info, {
      name: "router",
      entry: "router/src/main.ts",
      user: "system:serviceaccount:turgon-system:turgon-router",
      groups: SERVICE_ACCOUNT_GROUPS,
      flags: (_dir, kubeconfig) => ({
        kubeconfig,
        port: ports.router,
        "metrics-port": ports.routerMetrics,
        "edge-config": EDGE_CONFIG,
        "sign-in-url": signInUrl,
        ...agentAccess("router"),
        "redis-url": info.redisUrl,
        "ssh-port": ports.routerSsh,
        "ssh-host-key-file": sshHostKey,
        "ssh-users-secret": `turgon-system/${SSH_USERS_SECRET}`,
      }),
      health: `http://127.0.0.1:${ports.routerMetrics}/healthz`,
      what: `on http://*.${INGRESS_DOMAIN}:${ports.router} (metrics :${ports.routerMetrics})`,
    }),
  };
}

function flags(values: Record<string, string | number>): string[] {
  return Object.entries(values).flatMap(([name, value]) => [`--${name}`, String(value)]);
}

/** Stops the router and operator first (so nothing reacts), then the agent (which closes its VMs). */
export async function stopPlatform(
  stateDir: string,
): Promise<Record<ComponentName, "stopped" | "not-running">> {
  const stopped = {
    router: await stopLocalDaemon(stateDir, "router"),
    operator: await stopLocalDaemon(stateDir, "operator"),
    "node-agent": await stopLocalDaemon(stateDir, "node-agent", { graceMs: 60_000 }),
  };
  // The agent's VMs live in supervisors that outlive it: down stops them too.
  await stopLeftoverSupervisors((p) => p.cmdline.includes(`"stateDir":"${stateDir}`));
  return stopped;
}

export function platformStatus(
  stateDir: string,
): Promise<Record<ComponentName, DaemonRecord | undefined>> {
  return daemonsStatus(stateDir, COMPONENTS);
}

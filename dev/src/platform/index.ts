/**
 * The Turgon components `npm run up` runs on top of the environment: one node
 * agent, the operator and the router, launched by the stack launcher
 * (../stack) as pid-file daemons that outlive the command, each with its
 * own identity (client certificates from the local CA, bound by the RBAC
 * manifests they ship).
 */
import { access, readFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { delimiter, join } from "node:path";
import type { SshUsersFile } from "@turgon/api/routing";
import { EDGE_CONFIG, type EdgeFacts } from "@turgon/api/routing/edge";
import { withStep } from "@turgon/toolkit/progress";
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
import { writeKubeconfigAs } from "../stack/cluster.ts";
import { COMPONENTS, type ComponentName, STOP_ORDER } from "../stack/components.ts";
import { launchStack, type StackPorts, type StartComponent } from "../stack/launch.ts";
import { stopLeftoverSupervisors, supervisorsUnder } from "../testing/supervisors.ts";

export { COMPONENTS, type ComponentName };

/** The local node's name; routed URLs live under *.localhost, which resolves to loopback. */
export const LOCAL_NODE = "local";
export const INGRESS_DOMAIN = "localhost";

export type PlatformPorts = StackPorts;

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

/** A kubeconfig that authenticates as `user` in `groups`, for a component (the dashboard's). */
export function componentKubeconfig(
  info: EnvironmentInfo,
  path: string,
  user: string,
  groups: string[],
): Promise<void> {
  return writeKubeconfigAs(info, path, user, groups);
}

export type PlatformOutcome = Record<ComponentName, "started" | "already running">;

/**
 * The launcher's way of starting a component for `npm run up`: a daemon in
 * `<stateDir>/<name>/` with its pid file and log, ready when its /healthz
 * answers, unless ours already runs.
 */
function startAsDaemon(stateDir: string): StartComponent<"started" | "already running"> {
  return async (launch) => {
    const name = launch.component;
    if (await runningDaemon(stateDir, name)) return { handle: "already running", ready: {} };
    const { health } = launch;
    if (!health) throw new Error(`${name} has no fixed port to be probed on`);
    const { pidFile, logFile } = daemonPaths(stateDir, name);
    await withStep(`starting ${name} ${launch.where}`, async () => {
      const record = await startDaemon({
        name,
        executable: process.execPath,
        args: [launch.entry, ...launch.args],
        logFile,
        pidFile,
        cwd: repoRoot,
      });
      await waitUntilReady(
        record,
        `${name}'s /healthz`,
        () => httpOk(health.url, health.ca),
        60_000,
      );
    });
    return { handle: "started", ready: {} };
  };
}

/** Where `npm run up`'s router is reached: the facts its edge ConfigMap states, which the router, the operator and the dashboard read. */
export function localEdge(ports: PlatformPorts): EdgeFacts {
  return {
    domain: INGRESS_DOMAIN,
    scheme: "http",
    port: ports.router,
    sshHost: "localhost",
    sshPort: ports.routerSsh,
  };
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
 * registered. Rewritten on every `up` (keys change).
 */
async function localSshUsers(env: NodeJS.ProcessEnv = process.env): Promise<SshUsersFile> {
  const keys: string[] = [];
  for (const file of localPublicKeyFiles(env)) {
    const text = await readFile(file, "utf8").catch(() => "");
    const line = text.trim().split("\n")[0]?.trim();
    if (line) keys.push(line);
  }
  return keys.length ? [{ user: userInfo().username, admin: true, teams: [], keys }] : [];
}

/** Installs the CRDs and RBAC, then starts the node agent, the router and the operator unless running. */
export async function startPlatform(
  info: EnvironmentInfo,
  ports: PlatformPorts,
  /** The dashboard's sign-in page, where the router sends visitors of private sandboxes. */
  signInUrl: string,
): Promise<PlatformOutcome> {
  const { stateDir } = info;
  const dirs = Object.fromEntries(COMPONENTS.map((c) => [c, join(stateDir, c)])) as Record<
    ComponentName,
    string
  >;
  const kubeconfigs = Object.fromEntries(
    COMPONENTS.map((c) => [c, { ownIdentity: join(dirs[c], "kubeconfig") }]),
  ) as Record<ComponentName, { ownIdentity: string }>;
  // The dashboard's identity (turgon-web) and the team roles, once web/deploy/ has them.
  const webRbac = "web/deploy/rbac.yaml";
  const moreManifests = (await exists(join(repoRoot, webRbac))) ? [webRbac] : [];
  const users = await localSshUsers();
  const launched = await withStep("installing CRDs and RBAC, starting the components", () =>
    launchStack(
      {
        cluster: info,
        node: LOCAL_NODE,
        ports,
        dir: stateDir,
        componentDirs: dirs,
        kubeconfigs,
        redisUrl: info.redisUrl,
        edge: { ref: EDGE_CONFIG, facts: localEdge(ports) },
        signInUrl,
        sshUsers: { key: LOCAL_SSH_USERS_KEY, users },
        moreManifests,
      },
      startAsDaemon(stateDir),
    ),
  );
  return {
    "node-agent": launched.agent.handle,
    operator: launched.operator.handle,
    router: launched.router.handle,
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Stops the router and operator first (so nothing reacts), then the agent (which closes its VMs). */
export async function stopPlatform(
  stateDir: string,
): Promise<Record<ComponentName, "stopped" | "not-running">> {
  const stopped = {} as Record<ComponentName, "stopped" | "not-running">;
  for (const component of STOP_ORDER)
    stopped[component] = await stopLocalDaemon(
      stateDir,
      component,
      // The agent closes its VMs first.
      component === "node-agent" ? { graceMs: 60_000 } : undefined,
    );
  // The agent's VMs live in supervisors that outlive it: down stops them too.
  await stopLeftoverSupervisors(supervisorsUnder(stateDir));
  return stopped;
}

export function platformStatus(
  stateDir: string,
): Promise<Record<ComponentName, DaemonRecord | undefined>> {
  return daemonsStatus(stateDir, COMPONENTS);
}

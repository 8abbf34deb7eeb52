/**
 * The one stack launcher: given a stack's description, it prepares the
 * cluster (CRDs, RBAC, ingress key, SSH users, edge ConfigMap), the agent
 * plane's PKI and each component's kubeconfig, builds each component's
 * flags and starts the node agent, the router and the operator in that
 * order. How a component is started is the caller's: `npm run up` starts
 * pid-file daemons that outlive it, tests start child processes they own.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { SSH_USERS_SECRET, type SshUsersFile } from "@turgon/api/routing";
import type { EdgeFacts } from "@turgon/api/routing/edge";
import { type AgentPkiFiles, ensureAgentPki } from "../controlplane/agent-pki.ts";
import { repoRoot } from "../paths.ts";
import {
  applyEdgeConfig,
  applyManifests,
  type Cluster,
  ensureIngressKey,
  grantEdgeConfig,
  installCrds,
  mustKubectl,
  setSshUsers,
  writeKubeconfigAs,
} from "./cluster.ts";
import {
  COMPONENTS,
  type ComponentName,
  componentIdentity,
  ENTRIES,
  RBAC_MANIFESTS,
  READY_MESSAGES,
} from "./components.ts";
import { agentFlags, type Flags, operatorFlags, routerFlags, toArgs } from "./flags.ts";
import { ensureSshKeyPair } from "./ssh-keys.ts";

/** The ports a stack's components listen on (loopback); 0 picks a free one. */
export interface StackPorts {
  agentApi: number;
  agentIngress: number;
  operatorMetrics: number;
  router: number;
  routerMetrics: number;
  routerSsh: number;
}

/** A component's kubeconfig: written for its own identity (as deployed), or an existing file used as it is. */
export type KubeconfigSource = { ownIdentity: string } | { existing: string };

export interface StackDescription {
  /** The cluster (and its CA) the stack runs on. */
  cluster: Cluster & { imageStore?: string };
  /** The SandboxNode name of the stack's one node agent. */
  node: string;
  ports: StackPorts;
  /** The stack's own files: the agent plane's PKI (`pki/agent`), the edge ConfigMap as applied. */
  dir: string;
  /** Each component's files: the agent's state and spool, the router's SSH host key. */
  componentDirs: Record<ComponentName, string>;
  kubeconfigs: Record<ComponentName, KubeconfigSource>;
  /** The Redis that agents (egress audit) and the router (exec sessions) write to. */
  redisUrl: string;
  /**
   * The edge ConfigMap (namespace/name) the operator and the router follow,
   * and its facts; a router on port 0 has its real ports written in once it serves.
   */
  edge: { ref: string; facts: EdgeFacts };
  /** The dashboard's sign-in page, where the router sends visitors of private sandboxes. */
  signInUrl: string;
  /** This stack's data key of the SSH users Secret, and who is in it. */
  sshUsers: { key: string; users: SshUsersFile };
  /**
   * A label (`key=value`) that scopes the operator and the router to this
   * stack's objects, put on its SandboxNode too (tests share a cluster).
   */
  selector?: string;
  /** RBAC manifests to apply besides the components' own (the dashboard's, say). */
  moreManifests?: string[];
  /** Flags added last to each component's, so they override (a runtime, a heartbeat). */
  extraFlags?: Partial<Record<ComponentName, Flags>>;
}

/** How the launcher asks for one component to be started: node <entry> <args>. */
export interface ComponentLaunch {
  component: ComponentName;
  /** The component's main.ts, absolute. */
  entry: string;
  args: string[];
  /** The `msg` of the log line it writes once it serves. */
  readyMessage: string;
  /** Where it answers 2xx once it serves, when its port is fixed; the CA of an https one. */
  health?: { url: string; ca?: string };
  /** Where it listens, as a person reads it. */
  where: string;
}

export interface Started<H> {
  /** What the starter keeps of it (a child process, or whether a daemon was started). */
  handle: H;
  /** The fields of its ready log line, when the starter read them (ports it picked). */
  ready: Record<string, unknown>;
}

export type StartComponent<H> = (launch: ComponentLaunch) => Promise<Started<H>>;

export interface LaunchedStack<H> {
  pki: AgentPkiFiles;
  /** The ingress token signing key (HS256) the router verifies with. */
  ingressKey: string;
  agent: Started<H>;
  router: Started<H>;
  operator: Started<H>;
  /** The edge's facts as the ConfigMap now states them (the router's real ports). */
  edge: EdgeFacts;
  /** Starts the node agent again on its state directory (after a crash). */
  startAgent(): Promise<Started<H>>;
}

/** A port the component logged in its ready line, when it was started on port 0. */
function portOf(started: Started<unknown>, field: string, given: number): number {
  if (given !== 0) return given;
  const value = started.ready[field];
  const port = typeof value === "string" && value.includes("://") ? new URL(value).port : value;
  if (!Number(port)) throw new Error(`the router was started on port 0 and did not log ${field}`);
  return Number(port);
}

export async function launchStack<H>(
  stack: StackDescription,
  start: StartComponent<H>,
): Promise<LaunchedStack<H>> {
  const { cluster, ports, componentDirs } = stack;
  for (const component of COMPONENTS) await mkdir(componentDirs[component], { recursive: true });
  await installCrds(cluster);
  await applyManifests(cluster, [
    ...COMPONENTS.map((c) => RBAC_MANIFESTS[c]),
    ...(stack.moreManifests ?? []),
  ]);
  const ingressKey = await ensureIngressKey(cluster);
  await setSshUsers(cluster, stack.sshUsers.key, stack.sshUsers.users);
  const hostKey = await ensureSshKeyPair(
    join(componentDirs.router, "ssh_host_ed25519_key"),
    "turgon-router",
  );
  // The agent serves TLS; the operator and the router present client certificates (kubelet-style).
  const pki = await ensureAgentPki(join(stack.dir, "pki", "agent"), stack.node);
  const access = { pki };
  const kubeconfig = async (component: ComponentName) => {
    const source = stack.kubeconfigs[component];
    if ("existing" in source) return source.existing;
    const { user, groups } = componentIdentity(component, stack.node);
    await writeKubeconfigAs(cluster, source.ownIdentity, user, groups);
    return source.ownIdentity;
  };
  const launch = (
    component: ComponentName,
    flags: Flags,
    where: string,
    health?: ComponentLaunch["health"],
  ): ComponentLaunch => ({
    component,
    entry: join(repoRoot, ENTRIES[component]),
    args: toArgs(flags),
    readyMessage: READY_MESSAGES[component],
    ...(health ? { health } : {}),
    where,
  });
  const local = (port: number) => (port === 0 ? "a free port" : `127.0.0.1:${port}`);

  const startAgent = async () => {
    const flags = agentFlags({
      node: stack.node,
      apiPort: ports.agentApi,
      ingressPort: ports.agentIngress,
      access,
      kubeconfig: await kubeconfig("node-agent"),
      dir: componentDirs["node-agent"],
      redisUrl: stack.redisUrl,
      ...(cluster.imageStore ? { imageStore: cluster.imageStore } : {}),
      extra: stack.extraFlags?.["node-agent"],
    });
    const agent = await start(
      launch(
        "node-agent",
        flags,
        `on https://${local(ports.agentApi)} (ingress ${local(ports.agentIngress)})`,
        ports.agentApi === 0
          ? undefined
          : {
              url: `https://127.0.0.1:${ports.agentApi}/healthz`,
              ca: await readFile(pki.ca, "utf8"),
            },
      ),
    );
    if (stack.selector)
      await mustKubectl(cluster, [
        "label",
        "sandboxnode",
        stack.node,
        stack.selector,
        "--overwrite",
      ]);
    return agent;
  };
  const agent = await startAgent();

  // The edge ConfigMap first (the router reads its domain at start), then the router's real ports in it.
  await grantEdgeConfig(cluster, stack.edge.ref, stack.dir);
  await applyEdgeConfig(cluster, stack.edge.ref, stack.edge.facts, stack.dir);
  const router = await start(
    launch(
      "router",
      routerFlags({
        kubeconfig: await kubeconfig("router"),
        access,
        port: ports.router,
        metricsPort: ports.routerMetrics,
        edgeConfig: stack.edge.ref,
        signInUrl: stack.signInUrl,
        redisUrl: stack.redisUrl,
        ssh: {
          port: ports.routerSsh,
          hostKeyFile: hostKey.path,
          usersSecret: `turgon-system/${SSH_USERS_SECRET}`,
        },
        ...(stack.selector ? { selector: stack.selector } : {}),
        extra: stack.extraFlags?.router,
      }),
      `on http://*.${stack.edge.facts.domain}:${ports.router || "<a free port>"} (metrics ${local(ports.routerMetrics)}, SSH ${local(ports.routerSsh)})`,
      ports.routerMetrics === 0
        ? undefined
        : { url: `http://127.0.0.1:${ports.routerMetrics}/healthz` },
    ),
  );
  let edge = stack.edge.facts;
  const serving = {
    port: portOf(router, "url", ports.router),
    sshPort: portOf(router, "sshPort", ports.routerSsh),
  };
  if (serving.port !== edge.port || serving.sshPort !== edge.sshPort) {
    edge = { ...edge, ...serving };
    await applyEdgeConfig(cluster, stack.edge.ref, edge, stack.dir);
  }

  const operator = await start(
    launch(
      "operator",
      operatorFlags({
        kubeconfig: await kubeconfig("operator"),
        access,
        metricsPort: ports.operatorMetrics,
        edgeConfig: stack.edge.ref,
        ...(stack.selector ? { selector: stack.selector } : {}),
        extra: stack.extraFlags?.operator,
      }),
      `(metrics on ${local(ports.operatorMetrics)})`,
      ports.operatorMetrics === 0
        ? undefined
        : { url: `http://127.0.0.1:${ports.operatorMetrics}/healthz` },
    ),
  );
  return { pki, ingressKey, agent, router, operator, edge, startAgent };
}

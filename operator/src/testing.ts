/**
 * Real processes for operator and router tests and benchmarks: node agents,
 * operator replicas and routers started from their own `main.ts` as child
 * processes of the test, so kill -9 means what it says; `startStack` runs
 * the whole data path with the launcher `npm run up` uses (@turgon/dev/stack).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  agentApiHeaders,
  agentTlsOptions,
  loadAgentCredentials,
} from "@turgon/api/agent/credentials";
import type { SshUsersFile } from "@turgon/api/routing";
import { DEFAULT_EDGE, type EdgeFacts } from "@turgon/api/routing/edge";
import {
  agentClientFlags,
  applyEdgeConfig,
  ensureSshKeyPair,
  launchStack,
  type RunningProcess,
  removeEdgeConfig,
  STOP_ORDER,
  setSshUsers,
  startChildProcess,
} from "@turgon/dev/stack";
import {
  type AgentPkiFiles,
  startScratchRedis,
  testEnvironment,
  uniqueName,
} from "@turgon/dev/testing";
import { stopSupervisors } from "@turgon/node-agent/testing";
import { Agent, request } from "undici";

/** Components as child processes the test owns (see @turgon/dev/stack). */
export { type RunningProcess, startProcess } from "@turgon/dev/stack";
/** The one bounded wait of the tests (see @turgon/dev/testing). */
export { eventually } from "@turgon/dev/testing";
/** The body of a simulated sandbox's backend (see @turgon/node-agent/testing). */
export { SIMULATED_RESPONSE } from "@turgon/node-agent/testing";

export interface Stack {
  dir: string;
  /** The agent plane's PKI: the agent's serving certificate, the operator's and router's client ones. */
  pki: AgentPkiFiles;
  /** Calls the agent's API as the operator does (its client certificate). */
  agentCall(
    path: string,
    init?: { method?: string; body?: unknown },
  ): Promise<{ status: number; json: unknown }>;
  /** The ingress token signing key (HS256). */
  key: Uint8Array;
  selector: string;
  labels: Record<string, string>;
  agent: RunningProcess;
  operator: RunningProcess;
  router: RunningProcess;
  routerPort: number;
  /**
   * This stack's own edge ConfigMap (`turgon-system/turgon-edge-<run>`: test
   * files run stacks in parallel), stating the router's real ports; the
   * operator follows it, the router read its domain at start.
   */
  edge: { ref: string; facts: EdgeFacts; set(facts: EdgeFacts): Promise<void> };
  /** The Redis that agents (egress audit) and the router (exec sessions) write to. */
  redisUrl: string;
  /**
   * The SSH gateway's port and the private key files of its two users (an
   * admin, and an outsider), who live in this stack's own key of the
   * turgon-ssh-users Secret that the router follows.
   */
  ssh: {
    port: number;
    adminKey: string;
    outsiderKey: string;
    /** Sets (or, with undefined, removes) one key of the SSH users Secret. */
    setUsers(key: string, users: SshUsersFile | undefined): Promise<void>;
  };
  /** Starts the node agent again on its state directory (after a kill). */
  restartAgent(): Promise<void>;
  /** One-shot exec in a sandbox's guest through the agent API. */
  guestExec(
    uid: string,
    command: string[],
    stdin?: string,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/**
 * The whole data path as real processes on the test platform: one node
 * agent, the operator and the router, each with its deploy/ RBAC identity,
 * scoped by a label selector to this run's objects.
 */
export async function startStack(
  options: {
    agentFlags?: Record<string, string>;
    /** The dashboard's sign-in page the router sends browsers to (a test dashboard's own). */
    signInUrl?: string;
    /** Edge facts other than the router's ports (default: DEFAULT_EDGE's domain, http, localhost). */
    edge?: Partial<Pick<EdgeFacts, "domain" | "scheme" | "sshHost">>;
  } = {},
): Promise<Stack> {
  const cluster = testEnvironment();
  const dir = await mkdtemp(join(tmpdir(), "turgon-stack-"));
  const run = uniqueName("run");
  const node = uniqueName("node");
  const selector = `turgon.dev/test-run=${run}`;
  const redis = await startScratchRedis();
  // SSH: an admin, and an outsider in no team, with OpenSSH key files.
  const admin = await ensureSshKeyPair(join(dir, "admin_key"), "admin");
  const outsider = await ensureSshKeyPair(join(dir, "outsider_key"), "outsider");
  // A key of this stack's own: stacks of other test files share the Secret.
  const stackUsersKey = `${run}.json`;
  // This stack's own edge ConfigMap: stacks of other test files run at the same time.
  const edgeRef = `turgon-system/turgon-edge-${run}`;
  const launched = await launchStack(
    {
      cluster,
      node,
      ports: {
        agentApi: 0,
        agentIngress: 0,
        operatorMetrics: 0,
        router: 0,
        routerMetrics: 0,
        routerSsh: 0,
      },
      dir,
      // The agent's state under `<dir>/agent/state`, where tests look for VM records.
      componentDirs: {
        "node-agent": join(dir, "agent"),
        operator: join(dir, "operator"),
        router: join(dir, "router"),
      },
      kubeconfigs: {
        "node-agent": { existing: cluster.kubeconfig },
        operator: { ownIdentity: join(dir, "turgon-operator.kubeconfig") },
        router: { ownIdentity: join(dir, "turgon-router.kubeconfig") },
      },
      redisUrl: redis.url,
      edge: { ref: edgeRef, facts: { ...DEFAULT_EDGE, ...options.edge } },
      signInUrl: options.signInUrl ?? "http://dashboard.localhost:3000/signin",
      sshUsers: {
        key: stackUsersKey,
        users: [
          { user: "ops", admin: true, teams: [], keys: [admin.publicKey] },
          { user: "outsider", admin: false, teams: ["nobody"], keys: [outsider.publicKey] },
        ],
      },
      selector,
      extraFlags: {
        "node-agent": { "heartbeat-seconds": "1", ...options.agentFlags },
        operator: { "leader-elect": "false" },
      },
    },
    startChildProcess,
  );
  const { pki } = launched;
  // The test calls the agent as the operator does: the same credentials code, the operator's certificate.
  const operatorCredentials = await loadAgentCredentials(agentClientFlags({ pki }, "operator"));
  const operatorDispatcher = new Agent({ connect: agentTlsOptions(operatorCredentials) });
  const edge: Stack["edge"] = {
    ref: edgeRef,
    facts: launched.edge,
    async set(facts) {
      await applyEdgeConfig(cluster, edgeRef, facts, dir);
      edge.facts = facts;
    },
  };
  const stack: Stack = {
    dir,
    pki,
    async agentCall(path, init = {}) {
      const response = await request(`${stack.agent.ready.apiUrl}${path}`, {
        method: (init.method ?? "GET") as "GET",
        dispatcher: operatorDispatcher,
        headers: {
          ...agentApiHeaders(operatorCredentials),
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        headersTimeout: 60_000,
        bodyTimeout: 120_000,
      });
      const text = await response.body.text();
      return { status: response.statusCode, json: text ? JSON.parse(text) : undefined };
    },
    key: new TextEncoder().encode(launched.ingressKey),
    selector,
    labels: { "turgon.dev/test-run": run },
    agent: launched.agent.handle,
    operator: launched.operator.handle,
    router: launched.router.handle,
    routerPort: launched.edge.port,
    edge,
    redisUrl: redis.url,
    ssh: {
      port: launched.edge.sshPort,
      adminKey: admin.path,
      outsiderKey: outsider.path,
      setUsers: (key, users) => setSshUsers(cluster, key, users),
    },
    async restartAgent() {
      stack.agent = (await launched.startAgent()).handle;
    },
    async guestExec(uid, command, stdin) {
      const { json } = await stack.agentCall(`/v1/sandboxes/${uid}/exec`, {
        method: "POST",
        body: { command, ...(stdin ? { stdin } : {}) },
      });
      return json as { exitCode: number; stdout: string; stderr: string };
    },
    async stop() {
      const running = { "node-agent": stack.agent, operator: stack.operator, router: stack.router };
      for (const component of STOP_ORDER) await running[component].stop();
      // The agent's VMs live in supervisors that outlive it.
      await stopSupervisors(join(dir, "agent", "state"));
      await setSshUsers(cluster, stackUsersKey, undefined);
      await removeEdgeConfig(cluster, edgeRef, dir);
      await operatorDispatcher.close();
      await redis.remove();
    },
  };
  return stack;
}

/**
 * Real processes for operator and router tests and benchmarks: node agents,
 * operator replicas and routers started from their own `main.ts`, so kill -9
 * means what it says; `startStack` runs the whole data path.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  agentApiHeaders,
  agentTlsOptions,
  loadAgentCredentials,
} from "@turgon/api/agent/credentials";
import { SSH_USERS_SECRET, type SshUsersFile } from "@turgon/api/routing";
import { DEFAULT_EDGE, type EdgeFacts, edgeConfigData } from "@turgon/api/routing/edge";
import {
  type AgentPkiFiles,
  ensureAgentPki,
  installCrds,
  kubeConfigAs,
  kubectl,
  startScratchRedis,
  uniqueName,
} from "@turgon/dev/testing";
import { stopSupervisors, testAgentFlags } from "@turgon/node-agent/testing";
import { run as runCommand } from "@turgon/toolkit/run";
import ssh2 from "ssh2";
import { Agent, request } from "undici";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  /** The fields of the log line that said the process was ready. */
  ready: Record<string, unknown>;
  /** Everything it logged, newest last (bounded). */
  lines: string[];
  /** SIGKILL: no cleanup, no lease release, as a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

/** Starts a component's `main.ts` with flags and waits for the log line `readyMessage`. */
const ENTRIES = {
  operator: "operator/src/main.ts",
  router: "router/src/main.ts",
  "node-agent": "node-agent/src/main.ts",
} as const;

export async function startProcess(
  workspace: keyof typeof ENTRIES,
  args: string[],
  readyMessage: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Promise<RunningProcess> {
  const child = spawn(process.execPath, [`${ROOT}${ENTRIES[workspace]}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, TURGON_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > 2000) lines.shift();
  };
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", remember);
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // A process that never gets ready is killed, not left behind.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${workspace} not ready in ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`),
      );
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${workspace} exited with ${code}:\n${lines.slice(-20).join("\n")}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      remember(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === readyMessage) {
          clearTimeout(timer);
          resolve(entry);
        }
      } catch {
        // not a log line
      }
    });
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return { child, ready, lines, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

/** The one bounded wait of the tests (see @turgon/dev/testing). */
export { eventually } from "@turgon/dev/testing";

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
 * The ingress token key all stacks of a test run share: the first stack
 * creates turgon-ingress-keys, later ones (also in other test files, at the
 * same time) take its key. Replacing it would leave routers, which re-read
 * the key every 30 s, and dashboards verifying with different keys.
 */
async function sharedIngressKey(proposed: string): Promise<string> {
  const created = await kubectl([
    "create",
    "secret",
    "generic",
    "turgon-ingress-keys",
    "-n",
    "turgon-system",
    `--from-literal=current=${proposed}`,
  ]);
  if (created.exitCode === 0) return proposed;
  if (!/already exists/i.test(created.tail))
    throw new Error(`kubectl create secret turgon-ingress-keys: ${created.tail}`);
  const current = await kubectl([
    "get",
    "secret",
    "turgon-ingress-keys",
    "-n",
    "turgon-system",
    "-o",
    "jsonpath={.data.current}",
  ]);
  if (current.exitCode !== 0 || !current.stdout)
    throw new Error(`reading turgon-ingress-keys: ${current.tail}`);
  return Buffer.from(current.stdout, "base64").toString("utf8");
}

/**
 * Lets the operator (get, list, watch) and the router (get) read this
 * stack's edge ConfigMap, as deploy/rbac.yaml lets them read turgon-edge:
 * RBAC names ConfigMaps one by one, and each stack has its own.
 */
async function grantEdgeConfigMap(
  dir: string,
  name: string,
  must: (args: string[]) => Promise<unknown>,
): Promise<void> {
  const grant = (user: "turgon-operator" | "turgon-router", verbs: string[]) => [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: `${user}-${name}`, namespace: "turgon-system" },
      rules: [{ apiGroups: [""], resources: ["configmaps"], resourceNames: [name], verbs }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${user}-${name}`, namespace: "turgon-system" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${user}-${name}` },
      subjects: [{ kind: "ServiceAccount", name: user, namespace: "turgon-system" }],
    },
  ];
  const items = [
    ...grant("turgon-operator", ["get", "list", "watch"]),
    ...grant("turgon-router", ["get"]),
  ];
  await writeFile(
    join(dir, "edge-rbac.json"),
    JSON.stringify({ apiVersion: "v1", kind: "List", items }),
  );
  await must(["apply", "-f", join(dir, "edge-rbac.json")]);
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
  const must = async (args: string[]) => {
    const result = await kubectl(args);
    if (result.exitCode !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.tail}`);
    return result;
  };
  const dir = await mkdtemp(join(tmpdir(), "turgon-stack-"));
  const run = uniqueName("run");
  const node = uniqueName("node");
  const selector = `turgon.dev/test-run=${run}`;
  await installCrds();
  for (const file of [
    "operator/deploy/rbac.yaml",
    "router/deploy/rbac.yaml",
    "node-agent/deploy/rbac.yaml",
  ])
    await must(["apply", "-f", `${ROOT}${file}`]);
  const keyText = await sharedIngressKey(randomBytes(32).toString("hex"));
  const pki = await ensureAgentPki(join(dir, "pki"), node);
  const accessAs = (caller: "operator" | "router") => ({
    "agent-ca-file": pki.ca,
    "agent-client-cert-file": pki[caller].cert,
    "agent-client-key-file": pki[caller].key,
  });
  // The test calls the agent as the operator does: the same credentials code, the operator's certificate.
  const operatorCredentials = await loadAgentCredentials(accessAs("operator"));
  const operatorDispatcher = new Agent({ connect: agentTlsOptions(operatorCredentials) });
  const redis = await startScratchRedis();
  const identity = async (user: string) => {
    const kc = await kubeConfigAs(`system:serviceaccount:turgon-system:${user}`, [
      "system:serviceaccounts",
      "system:serviceaccounts:turgon-system",
    ]);
    await writeFile(join(dir, `${user}.kubeconfig`), kc.exportConfig());
    return join(dir, `${user}.kubeconfig`);
  };
  // SSH: a host key for the gateway; an admin, and an outsider in no team, with OpenSSH key files.
  const hostKey = ssh2.utils.generateKeyPairSync("ed25519");
  await writeFile(join(dir, "ssh_host_key"), hostKey.private, { mode: 0o600 });
  const userKey = async (name: string) => {
    const path = join(dir, `${name}_key`);
    const made = await runCommand("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      name,
      "-f",
      path,
    ]);
    if (made.exitCode !== 0) throw new Error(`ssh-keygen: ${made.tail}`);
    return { path, publicKey: (await readFile(`${path}.pub`, "utf8")).trim() };
  };
  const admin = await userKey("admin");
  const outsider = await userKey("outsider");
  const setSshUsers = async (key: string, users: SshUsersFile | undefined) => {
    const value = users ? Buffer.from(JSON.stringify(users)).toString("base64") : null;
    const patch = JSON.stringify({ data: { [key]: value } });
    await must(["patch", "secret", SSH_USERS_SECRET, "-n", "turgon-system", "-p", patch]);
  };
  const created = await kubectl([
    "create",
    "secret",
    "generic",
    SSH_USERS_SECRET,
    "-n",
    "turgon-system",
  ]);
  if (created.exitCode !== 0 && !/already exists/i.test(created.tail))
    throw new Error(`kubectl create secret ${SSH_USERS_SECRET}: ${created.tail}`);
  // A key of this stack's own: stacks of other test files share the Secret.
  const stackUsersKey = `${run}.json`;
  await setSshUsers(stackUsersKey, [
    { user: "ops", admin: true, teams: [], keys: [admin.publicKey] },
    { user: "outsider", admin: false, teams: ["nobody"], keys: [outsider.publicKey] },
  ]);
  const flags = (values: Record<string, string>) =>
    Object.entries(values).flatMap(([k, v]) => [`--${k}`, v]);
  const startAgent = async () => {
    await mkdir(join(dir, "agent"), { recursive: true });
    const agent = await startProcess(
      "node-agent",
      testAgentFlags(
        join(dir, "agent"),
        node,
        redis.url,
        { "heartbeat-seconds": "1", ...options.agentFlags },
        pki,
      ),
      "node agent started",
    );
    await must(["label", "sandboxnode", node, selector, "--overwrite"]);
    return agent;
  };
  const agent = await startAgent();
  // The edge ConfigMap first (the router reads its domain at start), then the router's real ports in it.
  const edgeName = `turgon-edge-${run}`;
  const edgeRef = `turgon-system/${edgeName}`;
  await grantEdgeConfigMap(dir, edgeName, must);
  const edge: Stack["edge"] = {
    ref: edgeRef,
    facts: { ...DEFAULT_EDGE, ...options.edge },
    async set(facts) {
      const configMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: edgeName, namespace: "turgon-system" },
        data: edgeConfigData(facts),
      };
      await writeFile(join(dir, "edge.json"), JSON.stringify(configMap));
      await must(["apply", "-f", join(dir, "edge.json")]);
      edge.facts = facts;
    },
  };
  await edge.set(edge.facts);
  const router = await startProcess(
    "router",
    flags({
      kubeconfig: await identity("turgon-router"),
      port: "0",
      "metrics-port": "0",
      "sandbox-selector": selector,
      "node-selector": selector,
      "sign-in-url": options.signInUrl ?? "http://dashboard.localhost:3000/signin",
      ...accessAs("router"),
      "redis-url": redis.url,
      "ssh-port": "0",
      "ssh-host-key-file": join(dir, "ssh_host_key"),
      "ssh-users-secret": `turgon-system/${SSH_USERS_SECRET}`,
      "edge-config": edgeRef,
    }),
    "router started",
  );
  const routerPort = Number(new URL(String(router.ready.url)).port);
  await edge.set({ ...edge.facts, port: routerPort, sshPort: Number(router.ready.sshPort) });
  const operator = await startProcess(
    "operator",
    flags({
      kubeconfig: await identity("turgon-operator"),
      ...accessAs("operator"),
      "leader-elect": "false",
      "metrics-port": "0",
      "sandbox-selector": selector,
      "node-selector": selector,
      "edge-config": edgeRef,
    }),
    "operator started",
  );
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
    key: new TextEncoder().encode(keyText),
    selector,
    labels: { "turgon.dev/test-run": run },
    agent,
    operator,
    router,
    routerPort,
    edge,
    redisUrl: redis.url,
    ssh: { port: 0, adminKey: admin.path, outsiderKey: outsider.path, setUsers: setSshUsers },
    async restartAgent() {
      stack.agent = await startAgent();
    },
    async guestExec(uid, command, stdin) {
      const { json } = await stack.agentCall(`/v1/sandboxes/${uid}/exec`, {
        method: "POST",
        body: { command, ...(stdin ? { stdin } : {}) },
      });
      return json as { exitCode: number; stdout: string; stderr: string };
    },
    async stop() {
      for (const p of [stack.router, stack.operator, stack.agent]) await p.stop();
      // The agent's VMs live in supervisors that outlive it.
      await stopSupervisors(join(dir, "agent", "state"));
      await setSshUsers(stackUsersKey, undefined);
      await kubectl(["delete", "-f", join(dir, "edge-rbac.json"), "--ignore-not-found"]);
      await kubectl(["delete", "configmap", edgeName, "-n", "turgon-system", "--ignore-not-found"]);
      await operatorDispatcher.close();
      await redis.remove();
    },
  };
  stack.ssh.port = Number(stack.router.ready.sshPort);
  return stack;
}

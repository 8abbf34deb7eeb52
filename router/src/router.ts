import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadAgentCredentials } from "@turgon/api/agent/credentials";
import { AUDIT_JOB_OPTIONS, EXEC_AUDIT_QUEUE, type ExecAuditEvent } from "@turgon/api/audit";
import { GROUP, VERSION } from "@turgon/api/crd";
import type { SshUsersFile } from "@turgon/api/routing";
import { listen, loadKubeConfig } from "@turgon/toolkit/daemon";
import { FlagFileError, readFlagFile } from "@turgon/toolkit/flags";
import { customResourceInformer, startCaches, stopCaches } from "@turgon/toolkit/kube";
import { serveMetrics } from "@turgon/toolkit/metrics";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { SingleUseGuard } from "./access/replay.ts";
import { TokenKeys } from "./access/tokens.ts";
import { loadEdgeFacts, type RouterConfig, servesHttps, wakeMaxHeldPerTeam } from "./config.ts";
import { SandboxDirectory } from "./directory/directory.ts";
import { namespaceInformer } from "./directory/namespaces.ts";
import { ExecEdge } from "./exec/edge.ts";
import { TrustedProxies } from "./http/forwarded.ts";
import { createRouterServer } from "./http/proxy.ts";
import { type Logger, logger } from "./logger.ts";
import { RouterMetrics } from "./metrics.ts";
import { SessionRecorder } from "./records/session-records.ts";
import { SshGateway, type SshGatewayOptions, unreadableKeys } from "./ssh/gateway.ts";
import { parseSshUsers, SshUsersError, SshUsersSecret } from "./ssh/users.ts";
import { KubeSandboxResumer } from "./wake/resumer.ts";
import { SandboxWaker } from "./wake/waker.ts";

export interface RunningRouter {
  url: string;
  /** The SSH gateway's port, when it runs. */
  sshPort?: number;
  metricsUrl: string;
  stop(): Promise<void>;
}

export { FlagFileError as RouterFileError };

/** Starts the router: informer caches of Sandboxes, SandboxNodes and Namespaces, token keys, the data path. */
export async function startRouter(
  config: RouterConfig,
  parent: Logger = logger,
): Promise<RunningRouter> {
  const log = parent.child({ component: "router" });
  const kc = loadKubeConfig({
    file: config.kubeconfig,
    serviceAccount: "turgon-system/turgon-router",
  });
  const edge = await loadEdgeFacts(kc, config);
  const tls =
    config["tls-cert-file"] && config["tls-key-file"]
      ? {
          cert: await readFlagFile("tls-cert-file", config["tls-cert-file"]),
          key: await readFlagFile("tls-key-file", config["tls-key-file"]),
        }
      : undefined;

  const caches = {
    sandboxes: customResourceInformer(
      kc,
      { group: GROUP, version: VERSION, plural: "sandboxes" },
      config["sandbox-selector"],
    ),
    nodes: customResourceInformer(
      kc,
      { group: GROUP, version: VERSION, plural: "sandboxnodes" },
      config["node-selector"],
    ),
    namespaces: namespaceInformer(kc),
  };
  const directory = new SandboxDirectory(
    caches.sandboxes as never,
    caches.nodes as never,
    caches.namespaces,
  );
  const keys = new TokenKeys(kc, config["token-secret"], log);
  await keys.start().catch((error) => {
    throw new FlagFileError(
      `--token-secret ${config["token-secret"]}: ${(error as Error).message}`,
    );
  });
  const metrics = new RouterMetrics();
  const waker = new SandboxWaker({
    route: (label) => directory.route(label),
    resumer: new KubeSandboxResumer(kc),
    timeoutMs: config["wake-timeout-seconds"] * 1000,
    maxHeld: config["wake-max-held"],
    maxHeldPerSandbox: config["wake-max-held-per-sandbox"],
    maxHeldPerTeam: wakeMaxHeldPerTeam(config),
    metrics,
    log,
  });
  // Held requests go on when the cache says their sandbox serves: on its events, not by polling.
  for (const verb of ["add", "update", "delete"] as const)
    caches.sandboxes.on(verb, (sandbox) => waker.changed(sandbox as never));
  await startCaches(caches, log);

  const agentCredentials = await loadAgentCredentials(config);
  const redis = new Redis(config["redis-url"], { maxRetriesPerRequest: 2, lazyConnect: true });
  const audit = new Queue(EXEC_AUDIT_QUEUE, { connection: redis });
  /** Exec and SSH sessions alike: keyed by event id, so a retried add is not a second record. */
  const sessions = new SessionRecorder({
    log,
    send: async (event: ExecAuditEvent) => {
      await audit.add(event.reason.startsWith("ssh-") ? "ssh" : "exec", event, {
        ...AUDIT_JOB_OPTIONS,
        jobId: event.id,
      });
    },
  });
  const recordSession = async (event: ExecAuditEvent) => sessions.record(event);
  const exec = new ExecEdge({
    directory,
    keys,
    metrics,
    log,
    agentCredentials,
    record: recordSession,
    replay: new SingleUseGuard(redis, "exec"),
  });
  // The edge says https when a terminator in front holds the certificate: then cookies are Secure too.
  const https = servesHttps(config) || edge.scheme === "https";
  if (tls && edge.scheme === "http")
    log.warn(
      { edge },
      "the router serves TLS but the edge ConfigMap says http: its URLs will be wrong",
    );
  const server = createRouterServer({
    directory,
    keys,
    metrics,
    log,
    domain: edge.domain,
    signInUrl: config["sign-in-url"],
    connectTimeoutMs: config["agent-connect-timeout-ms"],
    queueTimeoutMs: config["upstream-queue-timeout-ms"],
    https,
    trustedProxies: new TrustedProxies(config["trusted-proxies"]),
    ...(tls ? { tls } : {}),
    exec,
    agentCredentials,
    handoffs: new SingleUseGuard(redis, "handoff"),
    sessionTtlSeconds: config["session-ttl-seconds"],
    waker,
  });
  const port = await listen(server, config["listen-host"], config.port);
  const ssh = await startSshGateway(config, kc, {
    directory,
    agentCredentials,
    log,
    record: recordSession,
  });
  const metricsServer = await serveMetrics(
    config["listen-host"],
    config["metrics-port"],
    metrics.registry,
    () => ({}),
  );
  const url = `${tls ? "https" : "http"}://${config["listen-host"]}:${port}`;
  log.info(
    {
      url,
      domain: edge.domain,
      https,
      trustedProxies: config["trusted-proxies"].map((c) => `${c.address}/${c.prefix}`),
    },
    "router serving",
  );
  return {
    url,
    metricsUrl: `http://${config["listen-host"]}:${(metricsServer.address() as AddressInfo).port}/metrics`,
    ...(ssh ? { sshPort: ssh.port } : {}),
    async stop() {
      keys.stop();
      exec.close();
      ssh?.source?.stop();
      await ssh?.gateway.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await new Promise((resolve) => metricsServer.close(resolve));
      await stopCaches(caches);
      await sessions.stop();
      await audit.close();
      redis.disconnect();
    },
  };
}

/** The SSH gateway, when its host key and users are configured. */
async function startSshGateway(
  config: RouterConfig,
  kc: KubeConfig,
  base: Omit<SshGatewayOptions, "hostKey" | "users">,
): Promise<{ gateway: SshGateway; port: number; source?: SshUsersSecret } | undefined> {
  const keyFile = config["ssh-host-key-file"];
  if (!keyFile) return undefined;
  const hostKey = await readFlagFile("ssh-host-key-file", keyFile);
  const usersFile = config["ssh-users-file"];
  const users = usersFile ? await readUsersFile(usersFile) : [];
  const gateway = new SshGateway({ ...base, hostKey, users });
  const secret = config["ssh-users-secret"];
  const source = secret
    ? new SshUsersSecret(kc, secret, (next) => gateway.setUsers(next), base.log)
    : undefined;
  await source?.start().catch((error) => {
    throw new FlagFileError(`--ssh-users-secret ${secret}: ${(error as Error).message}`);
  });
  const port = await gateway.listen(config["listen-host"], config["ssh-port"]);
  return { gateway, port, ...(source ? { source } : {}) };
}

async function readUsersFile(path: string): Promise<SshUsersFile> {
  try {
    const users = parseSshUsers(await readFlagFile("ssh-users-file", path), "");
    const unreadable = unreadableKeys(users);
    if (unreadable.length > 0) throw new SshUsersError(unreadable.join("; "));
    return users;
  } catch (error) {
    if (!(error instanceof SshUsersError)) throw error;
    throw new FlagFileError(`--ssh-users-file ${path}: ${error.message.replace(/^: /, "")}`);
  }
}

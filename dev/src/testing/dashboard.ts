/**
 * A dashboard of a test's own: the cached build served on a free port,
 * against a scratch database (created and migrated on the test platform's
 * PostgreSQL) and the test platform's API server, with a fresh admin.
 *
 * It runs as the dashboard's own identity (ServiceAccount turgon-web, with
 * web/deploy/rbac.yaml applied), as in a cluster, so RBAC is what it would
 * be there. Its Kubernetes-side state is its own, so test files that run at
 * once do not step on each other: its own key of the SSH users Secret, and
 * (unless a test asks for the shared one, to meet a router) its own
 * ingress token Secret and its own edge ConfigMap (or a stack's), which
 * Roles of its own let it read.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SSH_USERS_SECRET } from "@turgon/api/routing";
import { DEFAULT_EDGE, edgeConfigData, parseEdgeFacts } from "@turgon/api/routing/edge";
import { migrateDatabase } from "@turgon/prisma/migrate";
import pg from "pg";
import {
  ADMIN_EMAIL,
  ensureDashboardBuild,
  ensureFirstAdmin,
  startDashboardServer,
} from "../dashboard/index.ts";
import { repoRoot } from "../paths.ts";
import { stopDaemon } from "../process/daemon.ts";
import { freePort } from "../process/ports.ts";
import { installCrds, kubeConfigAs, kubectl, testEnvironment } from "./index.ts";

/** The dashboard's Kubernetes identity, as web/deploy/rbac.yaml binds it. */
export const DASHBOARD_USER = "system:serviceaccount:turgon-system:turgon-web";
const DASHBOARD_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:turgon-system"];
const SYSTEM = "turgon-system";

export interface IngressSite {
  domain: string;
  scheme: "http" | "https";
  port: number;
}

export interface TestDashboard {
  /** Where browsers reach it (BETTER_AUTH_URL). */
  url: string;
  admin: { email: string; password: string };
  /** Its scratch database, for tests that look underneath. */
  databaseUrl: string;
  /** Its own identity's kubeconfig (turgon-web), which the audit worker beside it uses too. */
  kubeconfig: string;
  logFile: string;
  /** The router's site it hands sign-ins back to, as its edge ConfigMap stated it at start. */
  ingress: IngressSite;
  /** namespace/name of the edge ConfigMap it follows (TURGON_EDGE_CONFIG): its own, or a stack's. */
  edgeConfig: string;
  /**
   * Rewrites its own edge ConfigMap with `site` over the current facts; the
   * dashboard follows it without a restart. Not for a stack's ConfigMap
   * (use the stack's edge.set).
   */
  setIngress(site: Partial<IngressSite>): Promise<void>;
  /** namespace/name of the Secret it signs hand-off tokens with (`current`). */
  ingressTokenSecret: string;
  /** Its data key of turgon-system/turgon-ssh-users (TURGON_SSH_USERS_KEY). */
  sshUsersKey: string;
  /** The router origin its terminals connect to (TURGON_ROUTER_URL). */
  routerUrl: string;
  /** The Redis whose audit announcements wake its live tails (REDIS_URL), if any. */
  redisUrl: string | undefined;
  /** The server's process id (benchmarks read its memory in /proc). */
  pid: number;
  stop(): Promise<void>;
}

export interface TestDashboardOptions {
  /** Sign-in attempts per client address in 10 s (TURGON_SIGN_IN_LIMIT); 60 by default, since tests sign in often from one address. */
  signInLimit?: number;
  /** Where the server logs (keep it beside a test's artifacts); a temporary file by default. */
  logFile?: string;
  /**
   * The router's site, written to an edge ConfigMap of the dashboard's own;
   * by default http://*.localhost:18080, as `npm run up` runs it.
   */
  ingress?: Partial<IngressSite>;
  /**
   * An edge ConfigMap to follow instead (namespace/name in turgon-system,
   * e.g. a test stack's `stack.edge.ref`): one source of the facts for the
   * dashboard, the operator and the router. The dashboard's identity is
   * granted get, list and watch on it.
   */
  edgeConfig?: string;
  /**
   * The ingress token Secret (namespace/name) to share with a router, which
   * must exist; by default the dashboard gets a Secret of its own.
   */
  ingressTokenSecret?: string;
  /**
   * The port to serve on, picked beforehand (freePort) when a router must be
   * told the sign-in URL before the dashboard starts; a free one by default.
   */
  port?: number;
  /**
   * The router's own origin, where the terminal opens exec WebSockets
   * (TURGON_ROUTER_URL), e.g. a test stack's `http://127.0.0.1:<port>`;
   * by default http://localhost:18080, as `npm run up` runs it.
   */
  routerUrl?: string;
  /**
   * The Redis the audit worker announces commits on (REDIS_URL), e.g. a
   * startScratchRedis() of the test's own; by default the test platform's
   * (the global setup's REDIS_URL). Pass null for none: live tails poll.
   */
  redisUrl?: string | null;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A database of its own on the test platform's PostgreSQL, migrated. */
async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const server = new URL(testEnvironment().databaseUrl);
  const name = `dashboard_${process.pid}_${randomBytes(4).toString("hex")}`;
  await withClient(server.href, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(server.href);
  url.pathname = `/${name}`;
  await migrateDatabase(url.href);
  return {
    url: url.href,
    drop: () =>
      withClient(server.href, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

async function must(args: string[]): Promise<void> {
  const result = await kubectl(args);
  if (result.exitCode !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.tail}`);
}

/**
 * An ingress token Secret of this dashboard's own in turgon-system, and a
 * Role letting the dashboard's identity get it (the shipped Role names only
 * turgon-ingress-keys). Returns how to remove both.
 */
async function ownTokenSecret(name: string, dir: string): Promise<() => Promise<void>> {
  const objects = [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: SYSTEM },
      type: "Opaque",
      stringData: { current: randomBytes(32).toString("hex") },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: SYSTEM },
      rules: [{ apiGroups: [""], resources: ["secrets"], resourceNames: [name], verbs: ["get"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: SYSTEM },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name: "turgon-web", namespace: SYSTEM }],
    },
  ];
  const file = join(dir, "token-secret.json");
  await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }), {
    mode: 0o600,
  });
  await must(["apply", "-f", file]);
  return async () => {
    await kubectl(["delete", "-f", file, "--ignore-not-found", "--wait=false"]);
  };
}

/**
 * Lets the dashboard's identity follow the edge ConfigMap `name` in
 * turgon-system (the shipped Role names only turgon-edge), and, with
 * `data`, writes that ConfigMap. Returns how to remove what it made.
 */
async function edgeConfigMapGrant(
  name: string,
  dir: string,
  data?: Record<string, string>,
): Promise<() => Promise<void>> {
  const grant = `turgon-web-${name}`;
  const objects = [
    ...(data
      ? [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: SYSTEM }, data }]
      : []),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: grant, namespace: SYSTEM },
      rules: [
        {
          apiGroups: [""],
          resources: ["configmaps"],
          resourceNames: [name],
          verbs: ["get", "list", "watch"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: grant, namespace: SYSTEM },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: grant },
      subjects: [{ kind: "ServiceAccount", name: "turgon-web", namespace: SYSTEM }],
    },
  ];
  const file = join(dir, `${grant}.json`);
  await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  await must(["apply", "-f", file]);
  return async () => {
    await kubectl(["delete", "-f", file, "--ignore-not-found", "--wait=false"]);
  };
}

/** The edge facts a ConfigMap in turgon-system states now (the defaults when it does not exist). */
async function edgeFactsOf(name: string): Promise<IngressSite> {
  const got = await kubectl(["get", "configmap", name, "-n", SYSTEM, "-o", "jsonpath={.data}"]);
  if (got.exitCode !== 0 && !/NotFound/.test(got.tail))
    throw new Error(`kubectl get configmap ${name}: ${got.tail}`);
  const data = got.exitCode === 0 && got.stdout.trim() ? JSON.parse(got.stdout) : undefined;
  const { domain, scheme, port } = parseEdgeFacts(data, `${SYSTEM}/${name}`);
  return { domain, scheme, port };
}

/** Starts a dashboard for a test; `stop()` removes everything it made. */
export async function startTestDashboard(
  options: TestDashboardOptions = {},
): Promise<TestDashboard> {
  // Build first (cached): a cold build is the slow part, and needs no database.
  const build = await ensureDashboardBuild();
  const dir = await mkdtemp(join(tmpdir(), "turgon-dashboard-"));
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const sshUsersKey = `dashboard-${id}.json`;
  if (options.edgeConfig && options.ingress)
    throw new Error("give the dashboard either ingress (its own edge ConfigMap) or edgeConfig");
  if (options.edgeConfig && !options.edgeConfig.startsWith(`${SYSTEM}/`))
    throw new Error(`edgeConfig must be a ConfigMap in ${SYSTEM}, not ${options.edgeConfig}`);
  let ingress: IngressSite = {
    domain: DEFAULT_EDGE.domain,
    scheme: DEFAULT_EDGE.scheme,
    port: DEFAULT_EDGE.port,
    ...options.ingress,
  };
  const routerUrl = options.routerUrl ?? "http://localhost:18080";
  const redisUrl =
    options.redisUrl === null ? undefined : (options.redisUrl ?? process.env.REDIS_URL);
  const undo: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  const cleanUp = async () => {
    for (const step of undo.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    await installCrds();
    await must(["apply", "-f", join(repoRoot, "web/deploy/rbac.yaml")]);
    const kubeconfig = join(dir, "kubeconfig");
    const identity = await kubeConfigAs(DASHBOARD_USER, DASHBOARD_GROUPS);
    await writeFile(kubeconfig, identity.exportConfig(), { mode: 0o600 });
    // The edge facts it hands sign-ins back to: a stack's ConfigMap, or one of its own.
    const ownEdge = `turgon-edge-test-${id}`;
    const edgeName = options.edgeConfig?.slice(SYSTEM.length + 1) ?? ownEdge;
    const edgeData = () => edgeConfigData({ ...DEFAULT_EDGE, ...ingress });
    undo.push(await edgeConfigMapGrant(edgeName, dir, options.edgeConfig ? undefined : edgeData()));
    if (options.edgeConfig) ingress = await edgeFactsOf(edgeName);
    let ingressTokenSecret = options.ingressTokenSecret;
    if (!ingressTokenSecret) {
      const name = `turgon-ingress-keys-test-${id}`;
      undo.push(await ownTokenSecret(name, dir));
      ingressTokenSecret = `${SYSTEM}/${name}`;
    }
    const database = await scratchDatabase();
    undo.push(database.drop);
    const port = options.port ?? (await freePort());
    const url = `http://127.0.0.1:${port}`;
    const authSecret = randomBytes(32).toString("hex");
    const admin = await ensureFirstAdmin({
      databaseUrl: database.url,
      secret: authSecret,
      url,
      passwordFile: join(dir, "admin-password"),
    });
    if (!admin.newPassword) throw new Error("the scratch database already had an admin");
    const logFile = options.logFile ?? join(dir, "dashboard.log");
    const pidFile = join(dir, "dashboard.pid");
    // Its key of the SSH users Secret goes when it does (the dashboard writes it at start-up).
    undo.push(() =>
      kubectl([
        "patch",
        "secret",
        SSH_USERS_SECRET,
        "-n",
        SYSTEM,
        "-p",
        JSON.stringify({ data: { [sshUsersKey]: null } }),
      ]),
    );
    undo.push(() => stopDaemon(pidFile));
    const server = await startDashboardServer({
      build,
      port,
      url,
      databaseUrl: database.url,
      authSecret,
      kubeconfig,
      pidFile,
      logFile,
      env: {
        TURGON_EDGE_CONFIG: `${SYSTEM}/${edgeName}`,
        TURGON_INGRESS_TOKEN_SECRET: ingressTokenSecret,
        TURGON_SSH_USERS_KEY: sshUsersKey,
        TURGON_ROUTER_URL: routerUrl,
        // Empty means unset to the dashboard (the parent's REDIS_URL is inherited otherwise).
        REDIS_URL: redisUrl ?? "",
        // Every test signs in from 127.0.0.1, several users within seconds.
        TURGON_SIGN_IN_LIMIT: String(options.signInLimit ?? 60),
      },
    });
    return {
      url,
      admin: { email: ADMIN_EMAIL, password: admin.newPassword },
      databaseUrl: database.url,
      kubeconfig,
      logFile,
      get ingress() {
        return ingress;
      },
      edgeConfig: `${SYSTEM}/${edgeName}`,
      async setIngress(site) {
        if (options.edgeConfig)
          throw new Error("a stack's edge ConfigMap is set with stack.edge.set");
        ingress = { ...ingress, ...site };
        const file = join(dir, "edge.json");
        await writeFile(
          file,
          JSON.stringify({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: ownEdge, namespace: SYSTEM },
            data: edgeData(),
          }),
        );
        await must(["apply", "-f", file]);
      },
      ingressTokenSecret,
      sshUsersKey,
      routerUrl,
      redisUrl,
      pid: server.pid,
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

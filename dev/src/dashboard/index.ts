/**
 * The dashboard on the local platform: its database migrated, its first
 * admin, its cached build, and the server as a daemon (`npm run up`), or as a
 * throw-away instance for tests (see ../testing/dashboard.ts).
 */

import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPrismaClient } from "@turgon/prisma";
import { migrateDatabase } from "@turgon/prisma/migrate";
import { withStep } from "@turgon/toolkit/progress";
import { createAuth } from "@turgon/web/auth";
import pino from "pino";
import { repoRoot } from "../paths.ts";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";
import {
  assertDaemonPortsFree,
  daemonPaths,
  httpOk,
  recordStartedWith,
  runningDaemon,
  startedWith,
  stopLocalDaemon,
} from "../process/local-daemons.ts";
import { portsFromEnvironment } from "../process/ports.ts";
import { type DashboardBuild, ensureDashboardBuild } from "./build.ts";

export { type DashboardBuild, dashboardInputsDigest, ensureDashboardBuild } from "./build.ts";

export const DASHBOARD = "dashboard";
export const ADMIN_EMAIL = "admin@turgon.local";
export const PORT_VARIABLE = "TURGON_WEB_PORT";
/** Preloaded into the dashboard's server: it settles X-Forwarded-For before Next.js reads it. */
const DASHBOARD_PRELOAD = join(repoRoot, "web/src/server/http/preload.ts");

export function dashboardPortFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return portsFromEnvironment({ web: 3000 }, { web: PORT_VARIABLE }, env).web;
}

/** Where browsers reach the local dashboard; the router sends visitors to its /signin. */
export function dashboardUrl(port: number): string {
  return `http://localhost:${port}`;
}

/** The dashboard's files under a state directory: pid, log, secrets (0600). */
export function dashboardPaths(stateDir: string) {
  const { dir, pidFile, logFile } = daemonPaths(stateDir, DASHBOARD);
  return {
    dir,
    pidFile,
    logFile,
    authSecretFile: join(dir, "auth-secret"),
    adminPasswordFile: join(dir, "admin-password"),
    kubeconfig: join(dir, "kubeconfig"),
  };
}

/** A value made once and kept in a 0600 file; `created` says whether it was made now. */
export async function ensureSecretFile(
  path: string,
  make: () => string,
): Promise<{ value: string; created: boolean }> {
  const existing = await readFile(path, "utf8").catch(() => undefined);
  if (existing?.trim()) return { value: existing.trim(), created: false };
  const value = make();
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  return { value, created: true };
}

export interface FirstAdmin {
  email: string;
  passwordFile: string;
  /** Only when the password was generated just now; never again afterwards. */
  newPassword?: string;
  created: boolean;
}

/**
 * Creates the first platform admin unless a user with that email exists,
 * through the dashboard's own better-auth set-up (same hashing, same
 * tables). The password is generated once and kept only in `passwordFile`.
 */
export async function ensureFirstAdmin(options: {
  databaseUrl: string;
  secret: string;
  url: string;
  passwordFile: string;
  email?: string;
}): Promise<FirstAdmin> {
  const email = options.email ?? ADMIN_EMAIL;
  const prisma = createPrismaClient(options.databaseUrl);
  try {
    if (await prisma.user.findUnique({ where: { email }, select: { id: true } })) {
      return { email, passwordFile: options.passwordFile, created: false };
    }
    const password = await ensureSecretFile(options.passwordFile, () =>
      randomBytes(18).toString("base64url"),
    );
    const auth = createAuth({
      prisma,
      secret: options.secret,
      baseURL: options.url,
      logger: pino({ name: "first-admin", level: "warn" }),
    });
    await auth.api.createUser({
      body: { email, password: password.value, name: "Platform admin", role: "admin" },
    });
    return {
      email,
      passwordFile: options.passwordFile,
      created: true,
      ...(password.created ? { newPassword: password.value } : {}),
    };
  } finally {
    await prisma.$disconnect();
  }
}

export interface DashboardServer {
  build: DashboardBuild;
  port: number;
  /** BETTER_AUTH_URL: the URL browsers use. */
  url: string;
  databaseUrl: string;
  authSecret: string;
  kubeconfig: string;
  pidFile: string;
  logFile: string;
  /** More of the dashboard's environment (TURGON_EDGE_CONFIG, TURGON_SSH_USERS_*, ...). */
  env?: Record<string, string>;
}

/** Starts the standalone Next.js server as a daemon and waits until /api/healthz answers. */
export async function startDashboardServer(server: DashboardServer): Promise<DaemonRecord> {
  const record = await startDaemon({
    name: DASHBOARD,
    executable: process.execPath,
    // Next.js renames its process "next-server (v16...)".
    title: "next-server",
    // The client address guard runs before Next.js (web/src/server/http/forwarded-for.ts).
    args: ["--import", DASHBOARD_PRELOAD, server.build.serverJs],
    cwd: server.build.dir,
    logFile: server.logFile,
    pidFile: server.pidFile,
    env: {
      ...process.env,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      HOSTNAME: "127.0.0.1",
      PORT: String(server.port),
      DATABASE_URL: server.databaseUrl,
      BETTER_AUTH_SECRET: server.authSecret,
      BETTER_AUTH_URL: server.url,
      KUBECONFIG: server.kubeconfig,
      ...server.env,
    },
  });
  await waitUntilReady(
    record,
    "the dashboard's /api/healthz",
    () => httpOk(`http://127.0.0.1:${server.port}/api/healthz`),
    60_000,
  );
  return record;
}

/** Checks the dashboard's port before anything starts, unless ours already runs. */
export function planDashboard(stateDir: string, port: number): Promise<void> {
  return assertDaemonPortsFree(stateDir, DASHBOARD, [{ port, variable: PORT_VARIABLE }]);
}

export interface DashboardOutcome {
  state:
    | "started"
    | "already running"
    | "restarted with a new build"
    | "restarted with new settings";
  url: string;
  admin: FirstAdmin;
  logFile: string;
}

/**
 * `npm run up`'s dashboard: migrate, first admin, cached build, daemon. A
 * daemon serving an older build of changed sources is restarted.
 */
export async function ensureDashboard(options: {
  stateDir: string;
  port: number;
  databaseUrl: string;
  /** Writes the dashboard's kubeconfig (its own identity) to the path given. */
  writeKubeconfig: (path: string) => Promise<void>;
  /** The router's own origin, where browsers open terminals (TURGON_ROUTER_URL). */
  routerUrl: string;
  /** Redis (REDIS_URL), where the audit worker announces committed rows to live tails. */
  redisUrl: string;
}): Promise<DashboardOutcome> {
  const paths = dashboardPaths(options.stateDir);
  await mkdir(paths.dir, { recursive: true });
  const url = dashboardUrl(options.port);
  await withStep("migrating the dashboard's database", () => migrateDatabase(options.databaseUrl));
  const secret = await ensureSecretFile(paths.authSecretFile, () =>
    randomBytes(32).toString("hex"),
  );
  const admin = await ensureFirstAdmin({
    databaseUrl: options.databaseUrl,
    secret: secret.value,
    url,
    passwordFile: paths.adminPasswordFile,
  });
  const build = await ensureDashboardBuild();
  const env = {
    TURGON_ROUTER_URL: options.routerUrl,
    REDIS_URL: options.redisUrl,
  };
  // A daemon started with other settings (or before one existed) is restarted too.
  const settings = createHash("sha256").update(JSON.stringify(env)).digest("hex").slice(0, 16);
  const running = await runningDaemon(options.stateDir, DASHBOARD);
  // Which cached build the running daemon serves, and a digest of the settings it was given.
  const [runningBuild, runningSettings] = (await startedWith(options.stateDir, DASHBOARD)).split(
    /\s+/,
  );
  let state: DashboardOutcome["state"] = "started";
  if (running) {
    if (runningBuild === build.key && runningSettings === settings)
      return { state: "already running", url, admin, logFile: paths.logFile };
    await stopLocalDaemon(options.stateDir, DASHBOARD);
    state =
      runningBuild === build.key ? "restarted with new settings" : "restarted with a new build";
  }
  await options.writeKubeconfig(paths.kubeconfig);
  await withStep(`starting the dashboard on ${url}`, () =>
    startDashboardServer({
      build,
      port: options.port,
      url,
      databaseUrl: options.databaseUrl,
      authSecret: secret.value,
      kubeconfig: paths.kubeconfig,
      pidFile: paths.pidFile,
      logFile: paths.logFile,
      env,
    }),
  );
  await recordStartedWith(options.stateDir, DASHBOARD, `${build.key} ${settings}`);
  return { state, url, admin, logFile: paths.logFile };
}

export function stopDashboard(stateDir: string): Promise<"stopped" | "not-running"> {
  return stopLocalDaemon(stateDir, DASHBOARD);
}

export function dashboardStatus(stateDir: string): Promise<DaemonRecord | undefined> {
  return runningDaemon(stateDir, DASHBOARD);
}

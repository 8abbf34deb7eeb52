/**
 * A dashboard of a test's own: the cached build served on a free port,
 * against a scratch database (created and migrated on the test platform's
 * PostgreSQL) and the test platform's API server, with a fresh admin.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateDatabase } from "@turgon/prisma/migrate";
import pg from "pg";
import {
  ADMIN_EMAIL,
  ensureDashboardBuild,
  ensureFirstAdmin,
  startDashboardServer,
} from "../dashboard/index.ts";
import { stopDaemon } from "../process/daemon.ts";
import { freePort } from "../process/ports.ts";
import { testEnvironment } from "./index.ts";

export interface TestDashboard {
  /** Where browsers reach it (BETTER_AUTH_URL). */
  url: string;
  admin: { email: string; password: string };
  /** Its scratch database, for tests that look underneath. */
  databaseUrl: string;
  logFile: string;
  stop(): Promise<void>;
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

/** `logFile`: where the server logs (keep it beside a test's artifacts); a temporary file by default. */
export async function startTestDashboard(
  options: { logFile?: string } = {},
): Promise<TestDashboard> {
  const env = testEnvironment();
  // Build first (cached): a cold build is the slow part, and needs no database.
  const build = await ensureDashboardBuild();
  const dir = await mkdtemp(join(tmpdir(), "turgon-dashboard-"));
  const database = await scratchDatabase();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const authSecret = randomBytes(32).toString("hex");
  const pidFile = join(dir, "dashboard.pid");
  const cleanUp = async () => {
    await stopDaemon(pidFile);
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const admin = await ensureFirstAdmin({
      databaseUrl: database.url,
      secret: authSecret,
      url,
      passwordFile: join(dir, "admin-password"),
    });
    if (!admin.newPassword) throw new Error("the scratch database already had an admin");
    const logFile = options.logFile ?? join(dir, "dashboard.log");
    await startDashboardServer({
      build,
      port,
      url,
      databaseUrl: database.url,
      authSecret,
      kubeconfig: env.kubeconfig,
      pidFile,
      logFile,
    });
    return {
      url,
      admin: { email: ADMIN_EMAIL, password: admin.newPassword },
      databaseUrl: database.url,
      logFile,
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

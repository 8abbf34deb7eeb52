/**
 * node:test global setup (`--test-global-setup`): one throw-away local
 * platform for the whole run, on free loopback ports in a temporary
 * directory, so tests never touch `npm run up`'s instance or other services
 * already running on the machine. Test files find it through the
 * environment variables set here.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEnvironment, stopEnvironment } from "../environment/index.ts";
import { freePort } from "../process/ports.ts";
import { TEST_ENVIRONMENT_VARIABLE } from "./index.ts";

let stateDir: string | undefined;

export async function globalSetup(): Promise<void> {
  stateDir = await mkdtemp(join(tmpdir(), "turgon-test-"));
  // As root, PostgreSQL runs as the postgres user, which must reach its data.
  await chmod(stateDir, 0o755);
  const info = await startEnvironment({
    stateDir,
    postgresDataDir: join(stateDir, "postgres", "data"),
    ports: {
      apiServer: await freePort(),
      etcdClient: await freePort(),
      etcdPeer: await freePort(),
      postgres: await freePort(),
      redis: await freePort(),
    },
    ephemeral: true,
  });
  process.env[TEST_ENVIRONMENT_VARIABLE] = join(stateDir, "environment.json");
  process.env.KUBECONFIG = info.kubeconfig;
  process.env.DATABASE_URL = info.databaseUrl;
  process.env.REDIS_URL = info.redisUrl;
}

export async function globalTeardown(): Promise<void> {
  if (!stateDir) return;
  await stopEnvironment(stateDir);
  await rm(stateDir, { recursive: true, force: true });
}

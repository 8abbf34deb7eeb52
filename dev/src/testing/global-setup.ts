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
import {
  type EnvironmentInfo,
  freePorts,
  startEnvironment,
  stopEnvironment,
} from "../environment/index.ts";
import { removeStaleExternalHosts } from "./external-host.ts";
import { TEST_ENVIRONMENT_VARIABLE } from "./index.ts";
import { stopLeftoverSupervisors } from "./supervisors.ts";

let stateDir: string | undefined;

export async function globalSetup(): Promise<void> {
  await removeStaleExternalHosts();
  stateDir = await mkdtemp(join(tmpdir(), "turgon-test-"));
  // As root, PostgreSQL runs as the postgres user, which must reach its data.
  await chmod(stateDir, 0o755);
  let info: EnvironmentInfo;
  try {
    info = await startEnvironment({
      stateDir,
      postgresDataDir: join(stateDir, "postgres", "data"),
      ports: await freePorts(),
      ephemeral: true,
      browser: true,
    });
  } catch (error) {
    // Leave no half-started services behind when start-up fails.
    await globalTeardown();
    throw error;
  }
  process.env[TEST_ENVIRONMENT_VARIABLE] = join(stateDir, "environment.json");
  process.env.KUBECONFIG = info.kubeconfig;
  process.env.DATABASE_URL = info.databaseUrl;
  process.env.REDIS_URL = info.redisUrl;
}

export async function globalTeardown(): Promise<void> {
  if (!stateDir) return;
  const dir = stateDir;
  stateDir = undefined;
  // Sandbox supervisors (and their QEMU) a crashed test left: they inherited this run's variable.
  const mark = `${TEST_ENVIRONMENT_VARIABLE}=${join(dir, "environment.json")}\0`;
  await stopLeftoverSupervisors((p) => p.environ.includes(mark));
  await stopEnvironment(dir);
  await rm(dir, { recursive: true, force: true });
}

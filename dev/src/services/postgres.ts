import { chown, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type DebianPackage, fileExists } from "@turgon/toolkit/apt";
import { CommandFailedError } from "@turgon/toolkit/errors";
import { run } from "@turgon/toolkit/run";
import pg from "pg";
import { type DaemonRecord, startDaemon, waitUntilReady } from "../process/daemon.ts";

const DEBIAN_PG_ROOT = "/usr/lib/postgresql";
export const DATABASE = "turgon";
export const DATABASE_USER = "turgon";
/** Loopback-only development password; production databases get their own. */
export const DATABASE_PASSWORD = "turgon";

/** The newest PostgreSQL server that Debian installed, or TURGON_POSTGRES_BIN. */
export async function findPostgresBin(
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (env.TURGON_POSTGRES_BIN) return env.TURGON_POSTGRES_BIN;
  const versions = await readdir(DEBIAN_PG_ROOT).catch(() => [] as string[]);
  const sorted = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of sorted) {
    const bin = join(DEBIAN_PG_ROOT, version, "bin");
    if ((await fileExists(join(bin, "initdb"))) && (await fileExists(join(bin, "postgres"))))
      return bin;
  }
  return undefined;
}

export const postgresPackage: DebianPackage = {
  name: "postgresql",
  isInstalled: async () => (await findPostgresBin()) !== undefined,
};

/** PostgreSQL refuses to run as root; as root we run it as Debian's `postgres` user. */
async function serverIdentity(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async (flag: string) => {
    const result = await run("id", [flag, "postgres"]);
    if (result.exitCode !== 0) {
      throw new CommandFailedError(
        "looking up the postgres user",
        `id ${flag} postgres`,
        result.exitCode,
        result.tail,
        "Debian's postgresql package creates the postgres user; reinstall it (apt-get install --reinstall postgresql-common).",
      );
    }
    return Number.parseInt(result.stdout, 10);
  };
  return { uid: await id("-u"), gid: await id("-g") };
}

export interface PostgresOptions {
  /** Data directory; must be reachable by the postgres user when run as root. */
  dataDir: string;
  /** Where the pid file and log go. */
  runDir: string;
  port: number;
  /** Turns fsync off: for throw-away test databases only. */
  unsafeNoFsync?: boolean;
}

export function databaseUrl(port: number): string {
  return `postgresql://${DATABASE_USER}:${DATABASE_PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
}

/**
 * Creates the cluster with our user and password. The parent directories stay
 * world-traversable so the postgres user can reach the data directory; a
 * failed initdb leaves nothing behind, so the next run starts clean.
 */
async function initDataDir(
  bin: string,
  dataDir: string,
  identity: { uid: number; gid: number } | undefined,
) {
  const parent = dirname(dataDir);
  await mkdir(parent, { recursive: true, mode: 0o755 });
  await mkdir(dataDir, { mode: 0o700 });
  if (identity) await chown(dataDir, identity.uid, identity.gid);
  const pwfile = join(parent, `.pwfile-${process.pid}`);
  await writeFile(pwfile, `${DATABASE_PASSWORD}\n`, { mode: 0o644 });
  try {
    const result = await run(
      join(bin, "initdb"),
      [
        "-D",
        dataDir,
        "-U",
        DATABASE_USER,
        `--pwfile=${pwfile}`,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
      ],
      { ...identity, cwd: "/" },
    );
    if (result.exitCode !== 0) {
      await rm(dataDir, { recursive: true, force: true });
      throw new CommandFailedError(
        "initdb",
        `initdb -D ${dataDir}`,
        result.exitCode,
        result.tail,
        `Check that the ${identity ? "postgres user" : "current user"} can write to ${parent}, then run the command again.`,
      );
    }
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** Initialises (once) and starts a PostgreSQL server on loopback with our database in it. */
export async function startPostgres(options: PostgresOptions): Promise<DaemonRecord> {
  const bin = await findPostgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed: call ensureDebianPackages first");
  const identity = await serverIdentity();
  if (!(await fileExists(join(options.dataDir, "PG_VERSION"))))
    await initDataDir(bin, options.dataDir, identity);

  const record = await startDaemon({
    name: "postgres",
    executable: join(bin, "postgres"),
    args: [
      "-D",
      options.dataDir,
      "-p",
      String(options.port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${options.dataDir}`,
      ...(options.unsafeNoFsync
        ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        : []),
    ],
    logFile: join(options.runDir, "postgres.log"),
    pidFile: join(options.runDir, "postgres.pid"),
    cwd: "/",
    ...identity,
  });
  const admin = `postgresql://${DATABASE_USER}:${DATABASE_PASSWORD}@127.0.0.1:${options.port}/postgres`;
  await waitUntilReady(
    record,
    "PostgreSQL to accept connections",
    () => query(admin, "SELECT 1").then(() => true),
    60_000,
  );
  const exists = await query(admin, "SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
  if (exists.rowCount === 0) await query(admin, `CREATE DATABASE ${DATABASE}`);
  return record;
}

async function query(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

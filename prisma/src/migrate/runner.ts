import { randomUUID } from "node:crypto";
import pg from "pg";
import { parseDatabaseUrl, redactUrl } from "../database/url.ts";
import {
  MigrationChecksumMismatchError,
  MigrationConnectionError,
  MigrationFailedError,
  MigrationLockTimeoutError,
  MigrationPreviouslyFailedError,
} from "./errors.ts";
import { type Migration, matchesChecksum, readMigrations } from "./migrations.ts";

/** The key of Prisma Migrate's advisory lock, so this runner and `prisma migrate` exclude each other. */
export const PRISMA_MIGRATE_LOCK = 72707369;

/** Prisma's table, column for column, so `prisma migrate status` reads what this runner writes. */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export type MigrateProgress =
  | { kind: "pending"; migrations: string[] }
  | { kind: "applying"; migration: string }
  | { kind: "applied"; migration: string; durationMs: number };

export interface MigrateOptions {
  /** Default: this workspace's prisma/migrations. */
  migrationsDir?: string;
  /** How long to wait for another migrator's lock; Prisma waits 10 s. */
  lockTimeoutMs?: number;
  onProgress?: (progress: MigrateProgress) => void;
}

export interface MigrateResult {
  /** Applied by this run, oldest first. */
  applied: string[];
  /** Already applied before this run. */
  alreadyApplied: string[];
  /** Recorded as applied but not in the directory: a newer release applied them. */
  notInDirectory: string[];
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function lock(client: pg.Client, timeoutMs: number): Promise<void> {
  // lock_timeout covers advisory locks too, and wakes us the moment the holder lets go.
  await client.query("SELECT set_config('lock_timeout', $1, false)", [`${timeoutMs}ms`]);
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
  } catch (error) {
    if ((error as { code?: string }).code === "55P03")
      throw new MigrationLockTimeoutError(timeoutMs);
    throw error;
  } finally {
    await client.query("RESET lock_timeout");
  }
}

/** Checks the recorded history against the files and returns what is left to apply. */
function plan(migrations: Migration[], rows: AppliedRow[]) {
  const failed = rows.find((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed) throw new MigrationPreviouslyFailedError(failed.migration_name);
  const applied = new Map<string, string>();
  for (const row of rows)
    if (row.rolled_back_at === null) applied.set(row.migration_name, row.checksum);
  for (const migration of migrations) {
    const recorded = applied.get(migration.name);
    if (recorded !== undefined && !matchesChecksum(migration, recorded))
      throw new MigrationChecksumMismatchError(migration.name, recorded, migration.checksum);
  }
  const names = new Set(migrations.map((m) => m.name));
  return {
    pending: migrations.filter((m) => !applied.has(m.name)),
    alreadyApplied: migrations.filter((m) => applied.has(m.name)).map((m) => m.name),
    notInDirectory: [...applied.keys()].filter((name) => !names.has(name)),
  };
}

async function apply(client: pg.Client, migration: Migration): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(migration.sql);
    // now() is the transaction's start: when the migration started.
    await client.query(
      `INSERT INTO "_prisma_migrations"
         (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw new MigrationFailedError(migration.name, error);
  }
}

/**
 * Applies the pending migrations to the database at `databaseUrl`, each in a
 * transaction of its own, under Prisma Migrate's advisory lock, recording
 * them in `_prisma_migrations` as `prisma migrate deploy` does. Nothing is
 * applied when an applied migration's file changed since, or when the
 * database records a migration that failed half-way.
 */
export async function migrateDatabase(
  databaseUrl: string,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const { schema } = parseDatabaseUrl(databaseUrl);
  const migrations = await readMigrations(options.migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  // A dropped connection is reported by the query that needed it.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new MigrationConnectionError(redactUrl(databaseUrl), error);
  }
  try {
    if (schema !== "public") {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
      await client.query(`SET search_path TO ${quoteIdentifier(schema)}`);
    }
    await lock(client, options.lockTimeoutMs ?? 10_000);
    try {
      // Created only when missing, so an up-to-date database sees no DDL at all.
      const table = await client.query<{ found: string | null }>(
        `SELECT to_regclass('"_prisma_migrations"')::text AS found`,
      );
      if (table.rows[0]?.found == null) await client.query(CREATE_MIGRATIONS_TABLE);
      const { rows } = await client.query<AppliedRow>(
        `SELECT migration_name, checksum, finished_at, rolled_back_at
           FROM "_prisma_migrations" ORDER BY started_at`,
      );
      const { pending, alreadyApplied, notInDirectory } = plan(migrations, rows);
      options.onProgress?.({ kind: "pending", migrations: pending.map((m) => m.name) });
      const applied: string[] = [];
      for (const migration of pending) {
        options.onProgress?.({ kind: "applying", migration: migration.name });
        const started = performance.now();
        await apply(client, migration);
        applied.push(migration.name);
        options.onProgress?.({
          kind: "applied",
          migration: migration.name,
          durationMs: Math.round(performance.now() - started),
        });
      }
      return { applied, alreadyApplied, notInDirectory };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createScratchDatabase, runPrisma, type ScratchDatabase } from "../testing/index.ts";
import {
  checksum,
  DEFAULT_MIGRATIONS_DIR,
  MigrationChecksumMismatchError,
  MigrationFailedError,
  MigrationPreviouslyFailedError,
  migrateDatabase,
  readMigrations,
} from "./index.ts";

const TABLES = [
  "_prisma_migrations",
  "account",
  "audit_dead_letter",
  "audit_export",
  "egress_event",
  "exec_session",
  "invitation",
  "member",
  "organization",
  "policy_change",
  "policy_request",
  "session",
  "ssh_key",
  "user",
  "verification",
];

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  started_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
  applied_steps_count: number;
}

async function migrationRows(database: ScratchDatabase): Promise<MigrationRow[]> {
  return database.query<MigrationRow>(
    `SELECT id, checksum, migration_name, started_at, finished_at, rolled_back_at, logs,
            applied_steps_count
       FROM _prisma_migrations ORDER BY started_at`,
  );
}

/** Everything a migration could change: tables, columns, indexes and constraints. */
async function schemaFingerprint(database: ScratchDatabase): Promise<string> {
  const rows = await database.query(
    `SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type AS what
       FROM information_schema.columns WHERE table_schema = 'public'
     UNION ALL
     SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
     UNION ALL
     SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace
     ORDER BY 1, 2`,
  );
  return JSON.stringify(rows);
}

async function tables(database: ScratchDatabase): Promise<string[]> {
  const rows = await database.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return rows.map((row) => row.table_name);
}

describe("migrateDatabase", () => {
  let scratchDir: string;
  const databases: ScratchDatabase[] = [];
  const scratchDatabase = async () => {
    const database = await createScratchDatabase("prisma_migrate");
    databases.push(database);
    return database;
  };

  before(async () => {
    scratchDir = await mkdtemp(join(tmpdir(), "turgon-prisma-migrate-"));
  });
  after(async () => {
    for (const database of databases) await database.drop();
    if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
  });

  test("applies the migrations to an empty database as prisma migrate deploy records them", async () => {
    const database = await scratchDatabase();
    const migrations = await readMigrations();
    assert.ok(migrations.length > 0);

    const started = performance.now();
    const progress: string[] = [];
    const result = await migrateDatabase(database.url, {
      onProgress: (p) => progress.push(p.kind),
    });
    console.log(
      `migrateDatabase on an empty database: ${Math.round(performance.now() - started)} ms`,
    );

    assert.deepEqual(
      result.applied,
      migrations.map((m) => m.name),
    );
    assert.deepEqual(result.alreadyApplied, []);
    assert.deepEqual(progress, ["pending", ...migrations.flatMap(() => ["applying", "applied"])]);
    assert.deepEqual(await tables(database), TABLES);

    const rows = await migrationRows(database);
    assert.equal(rows.length, migrations.length);
    for (const [i, migration] of migrations.entries()) {
      const row = rows[i];
      assert.ok(row);
      const file = await readFile(join(DEFAULT_MIGRATIONS_DIR, migration.name, "migration.sql"));
      assert.equal(row.migration_name, migration.name);
      assert.equal(row.checksum, checksum(file));
      assert.equal(row.applied_steps_count, 1);
      assert.equal(row.rolled_back_at, null);
      assert.ok(row.finished_at && row.finished_at >= row.started_at);
    }

    // Prisma's own view of the history, through the schema-engine stand-in.
    const status = await runPrisma(["migrate", "status"], database.url);
    assert.equal(status.exitCode, 0, `${status.stdout}\n${status.stderr}`);
    assert.match(status.stdout, /Database schema is up to date!/);
    console.log(`prisma migrate status: ${status.durationMs} ms`);
  });

  test("a second run on an up-to-date database applies nothing and changes nothing", async () => {
    const database = await scratchDatabase();
    await migrateDatabase(database.url);
    const rowsBefore = await migrationRows(database);
    const schemaBefore = await schemaFingerprint(database);

    const result = await migrateDatabase(database.url);

    assert.deepEqual(result.applied, []);
    assert.deepEqual(
      result.alreadyApplied,
      rowsBefore.map((row) => row.migration_name),
    );
    assert.deepEqual(await migrationRows(database), rowsBefore);
    assert.equal(await schemaFingerprint(database), schemaBefore);
  });

  test("concurrent runs take turns under the advisory lock and apply each migration once", async () => {
    const database = await scratchDatabase();
    const results = await Promise.all([
      migrateDatabase(database.url),
      migrateDatabase(database.url),
    ]);
    const applied = results.flatMap((r) => r.applied);
    const names = (await readMigrations()).map((m) => m.name);
    assert.deepEqual(applied.sort(), [...names].sort());
    assert.equal((await migrationRows(database)).length, names.length);
  });

  test("an applied migration whose file changed is refused, naming it, and nothing runs", async () => {
    const database = await scratchDatabase();
    await migrateDatabase(database.url);
    const rowsBefore = await migrationRows(database);

    const migrations = join(scratchDir, "tampered");
    await cp(DEFAULT_MIGRATIONS_DIR, migrations, { recursive: true });
    const [first] = await readMigrations(migrations);
    assert.ok(first);
    const file = join(migrations, first.name, "migration.sql");
    await writeFile(file, `${await readFile(file, "utf8")}\n-- edited after it was applied\n`);
    // A later migration must not run either.
    await mkdir(join(migrations, "29991231000000_later"));
    await writeFile(
      join(migrations, "29991231000000_later", "migration.sql"),
      "CREATE TABLE later (id int);",
    );

    await assert.rejects(migrateDatabase(database.url, { migrationsDir: migrations }), (error) => {
      assert.ok(error instanceof MigrationChecksumMismatchError);
      assert.equal(error.migration, first.name);
      assert.match(error.message, new RegExp(first.name));
      return true;
    });
    assert.deepEqual(await migrationRows(database), rowsBefore);
    assert.ok(!(await tables(database)).includes("later"));
  });

  test("a failing migration is rolled back whole, named, and not recorded", async () => {
    const database = await scratchDatabase();
    const migrations = join(scratchDir, "failing");
    await cp(DEFAULT_MIGRATIONS_DIR, migrations, { recursive: true });
    const bad = "29991231000000_bad";
    await mkdir(join(migrations, bad));
    await writeFile(
      join(migrations, bad, "migration.sql"),
      "CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n",
    );

    await assert.rejects(migrateDatabase(database.url, { migrationsDir: migrations }), (error) => {
      assert.ok(error instanceof MigrationFailedError);
      assert.equal(error.migration, bad);
      assert.match(error.message, /division by zero/);
      return true;
    });
    // The migrations before it stay applied; the failing one left nothing behind.
    const rows = await migrationRows(database);
    assert.ok(rows.every((row) => row.migration_name !== bad));
    assert.ok(!(await tables(database)).includes("half_done"));
  });

  test("a migration that Prisma recorded as failed half-way stops the runner", async () => {
    const database = await scratchDatabase();
    await migrateDatabase(database.url);
    const [row] = await migrationRows(database);
    assert.ok(row);
    await database.query("UPDATE _prisma_migrations SET finished_at = NULL WHERE id = $1", [
      row.id,
    ]);
    await assert.rejects(migrateDatabase(database.url), (error) => {
      assert.ok(error instanceof MigrationPreviouslyFailedError);
      assert.equal(error.migration, row.migration_name);
      return true;
    });
  });
});

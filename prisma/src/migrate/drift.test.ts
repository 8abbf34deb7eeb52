/**
 * Drift: the migrations must build exactly the schema in schema.prisma.
 * `prisma migrate diff --from-migrations … --to-schema … --exit-code` runs
 * the migrations on a shadow database through the offline schema-engine
 * stand-in and compares; exit code 2 means they differ.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createScratchDatabase,
  databasesNamed,
  PRISMA_DIR,
  runPrisma,
  type ScratchDatabase,
} from "../testing/index.ts";

const MIGRATIONS = join(PRISMA_DIR, "migrations");
const SCHEMA = join(PRISMA_DIR, "schema.prisma");

function driftCheck(schema: string, database: ScratchDatabase, shadow?: ScratchDatabase) {
  return runPrisma(
    ["migrate", "diff", "--from-migrations", MIGRATIONS, "--to-schema", schema, "--exit-code"],
    database.url,
    shadow?.url,
  );
}

describe("drift between prisma/migrations and prisma/schema.prisma", () => {
  let database: ScratchDatabase;
  let shadow: ScratchDatabase;
  let scratchDir: string;

  before(async () => {
    database = await createScratchDatabase("prisma_drift");
    shadow = await createScratchDatabase("prisma_drift_shadow");
    scratchDir = await mkdtemp(join(tmpdir(), "turgon-prisma-drift-"));
  });
  after(async () => {
    await database?.drop();
    await shadow?.drop();
    if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
  });

  test("the migrations build the schema exactly (configured shadow database, wiped first)", async () => {
    // Left-overs that the stand-in must wipe, or they would show as drift.
    await shadow.query("CREATE TABLE leftover (id int); CREATE SCHEMA stale");
    const result = await driftCheck(SCHEMA, database, shadow);
    assert.equal(result.exitCode, 0, `drift or failure:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /No difference detected/);
    console.log(`migrate diff --from-migrations --exit-code: ${result.durationMs} ms`);
  });

  test("a field that no migration adds is drift (throw-away shadow database)", async () => {
    const schema = (await readFile(SCHEMA, "utf8")).replace(
      /(model SshKey \{\n)/,
      "$1  lastUsedAt  DateTime?\n",
    );
    assert.match(schema, /lastUsedAt/);
    const changed = join(scratchDir, "schema.prisma");
    await writeFile(changed, schema);
    const shadowsBefore = await databasesNamed("prisma_migrate_shadow_db_");
    const result = await driftCheck(changed, database);
    assert.equal(result.exitCode, 2, `expected drift:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /ssh_key/);
    assert.match(result.stdout, /lastUsedAt/);
    // The throw-away shadow database is gone again.
    assert.deepEqual(await databasesNamed("prisma_migrate_shadow_db_"), shadowsBefore);
    console.log(`migrate diff with drift: ${result.durationMs} ms`);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createScratchDatabase, runCommand, type ScratchDatabase } from "../testing/index.ts";
import { parseMigrateArgs, UsageError } from "./migrate.ts";

const CLI = fileURLToPath(new URL("./migrate.ts", import.meta.url));

function migrateCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = { ...process.env, ...env };
  if (!("DATABASE_URL" in env)) delete clean.DATABASE_URL;
  return runCommand(process.execPath, [CLI, ...args], clean);
}

describe("node prisma/src/cli/migrate.ts", () => {
  let database: ScratchDatabase;
  before(async () => {
    database = await createScratchDatabase("prisma_cli");
  });
  after(async () => {
    await database?.drop();
  });

  test("--help describes the flags", async () => {
    const result = await migrateCli(["--help"]);
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /--database-url/);
    assert.match(result.stdout, /DATABASE_URL/);
  });

  test("a missing or malformed database URL is refused naming the flag", async () => {
    const missing = await migrateCli([]);
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /--database-url is required/);

    const malformed = await migrateCli(["--database-url", "postgresql://u:secret@localhost"]);
    assert.equal(malformed.exitCode, 2);
    assert.match(malformed.stderr, /--database-url: invalid database URL/);
    assert.doesNotMatch(malformed.stderr, /secret/);

    assert.throws(
      () => parseMigrateArgs([], { DATABASE_URL: "mysql://x@y/z" }),
      (error) =>
        error instanceof UsageError && /--database-url \(from DATABASE_URL\)/.test(error.message),
    );
    assert.throws(() => parseMigrateArgs(["--datbase-url", "x"], {}), UsageError);
  });

  test("migrates the database named by DATABASE_URL, then finds it up to date", async () => {
    const first = await migrateCli([], { DATABASE_URL: database.url });
    assert.equal(first.exitCode, 0, first.stderr);
    assert.match(first.stdout, /applied \d+_init/);
    assert.doesNotMatch(first.stdout, /turgon:turgon@/);
    const second = await migrateCli(["--database-url", database.url]);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.match(second.stdout, /0 applied now/);
  });
});

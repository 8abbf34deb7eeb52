/**
 * The stand-in's own contract with the Prisma CLI, beyond what the drift and
 * migration tests exercise through the CLI: its version line, the `cli`
 * subcommands that `migrate dev` runs, and JSON-RPC answers.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  createScratchDatabase,
  databasesNamed,
  onTestServer,
  runCommand,
  SCHEMA_ENGINE,
  type ScratchDatabase,
  testDatabaseUrl,
  withDatabase,
} from "../testing/index.ts";

function engine(args: string[], input?: string) {
  return runCommand(SCHEMA_ENGINE, args, process.env, input);
}

function datasource(url: string) {
  return ["--datasource", JSON.stringify({ url })];
}

describe("schema-engine stand-in", () => {
  let database: ScratchDatabase;
  const missing = `prisma_engine_missing_${process.pid}`;
  before(async () => {
    database = await createScratchDatabase("prisma_engine");
  });
  after(async () => {
    await database?.drop();
    await onTestServer(`DROP DATABASE IF EXISTS "${missing}"`);
  });

  test("--version names the pinned wasm engine's commit", async () => {
    const result = await engine(["--version"]);
    assert.equal(result.exitCode, 0);
    assert.equal(
      result.stdout.trim(),
      "schema-engine-cli 0edf323efd1d98336f3f0a68684b56f689b900d3",
    );
  });

  test("cli can-connect-to-database reports a missing database as P1003; create-database creates it", async () => {
    const url = withDatabase(testDatabaseUrl(), missing);
    const absent = await engine([...datasource(url), "cli", "can-connect-to-database"]);
    assert.equal(absent.exitCode, 1);
    const error = JSON.parse(absent.stderr.trim().split("\n").at(-1) ?? "{}");
    assert.equal(error.level, "ERROR");
    assert.equal(error.fields.error_code, "P1003");

    const created = await engine([...datasource(url), "cli", "create-database"]);
    assert.equal(created.exitCode, 0, created.stderr);
    assert.deepEqual(await databasesNamed(missing), [missing]);
    const present = await engine([...datasource(url), "cli", "can-connect-to-database"]);
    assert.equal(present.exitCode, 0, present.stderr);
  });

  test("answers JSON-RPC requests, and unknown methods with a JSON-RPC error", async () => {
    const requests = [
      { jsonrpc: "2.0", id: 1, method: "getDatabaseVersion", params: undefined },
      { jsonrpc: "2.0", id: 2, method: "getDatabaseDescription", params: {} },
      {
        jsonrpc: "2.0",
        id: 3,
        method: "ensureConnectionValidity",
        params: { datasource: { tag: "ConnectionString", url: database.url } },
      },
    ];
    const result = await engine(
      datasource(database.url),
      `${requests.map((r) => JSON.stringify(r)).join("\n")}\n`,
    );
    assert.equal(result.exitCode, 0, result.stderr);
    const answers = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(answers.length, 3);
    assert.equal(answers[0].id, 1);
    assert.match(answers[0].result, /PostgreSQL/);
    assert.equal(answers[1].error.code, -32601);
    assert.equal(answers[2].id, 3);
    assert.equal(answers[2].error, undefined);
  });
});

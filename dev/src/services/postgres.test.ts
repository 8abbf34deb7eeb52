import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { testEnvironment } from "../testing/index.ts";

describe("local PostgreSQL", () => {
  const env = testEnvironment();

  it("runs real SQL in the turgon database", async () => {
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    try {
      const table = `smoke_${process.pid}`;
      await client.query(`CREATE TEMP TABLE ${table} (id serial PRIMARY KEY, note text NOT NULL)`);
      await client.query(`INSERT INTO ${table} (note) VALUES ($1), ($2)`, ["alpha", "beta"]);
      const { rows } = await client.query(`SELECT note FROM ${table} ORDER BY id`);
      assert.deepEqual(
        rows.map((r) => r.note),
        ["alpha", "beta"],
      );
      const { rows: db } = await client.query(
        "SELECT current_database() AS name, current_setting('server_version_num')::int AS version",
      );
      assert.equal(db[0].name, "turgon");
      assert.ok(db[0].version >= 150000, `PostgreSQL 15 or newer, got ${db[0].version}`);
    } finally {
      await client.end();
    }
  });

  it("refuses a wrong password over TCP", async () => {
    const url = new URL(env.databaseUrl);
    url.password = "not-the-password";
    const client = new pg.Client({ connectionString: url.toString() });
    await assert.rejects(client.connect(), /password authentication failed/);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidDatabaseUrlError, parseDatabaseUrl, poolConfig, redactUrl } from "./url.ts";

test("parseDatabaseUrl splits a URL into its parts", () => {
  assert.deepEqual(parseDatabaseUrl("postgresql://turgon:p%40ss@127.0.0.1:15432/turgon"), {
    host: "127.0.0.1",
    port: 15432,
    user: "turgon",
    password: "p@ss",
    database: "turgon",
    schema: "public",
  });
  const c = parseDatabaseUrl("postgres://u@db.internal/app?schema=dash");
  assert.equal(c.port, 5432);
  assert.equal(c.password, undefined);
  assert.equal(c.schema, "dash");
  assert.equal(parseDatabaseUrl("postgresql://u@[::1]:5433/app").host, "::1");
  assert.equal(
    parseDatabaseUrl("postgresql://u@x/app?host=/run/postgresql").host,
    "/run/postgresql",
  );
});

test("poolConfig keeps the database apart from the rest, so another database can be swapped in", () => {
  const config = poolConfig(parseDatabaseUrl("postgresql://u:p@h:1/main"));
  assert.equal(config.connectionString, undefined);
  assert.equal({ ...config, database: "shadow" }.database, "shadow");
});

test("parseDatabaseUrl says what is wrong, without echoing the password", () => {
  for (const [url, reason] of [
    ["turgon", /not a URL/],
    ["mysql://u:secret@h/db", /scheme must be postgresql/],
    ["postgresql://u:secret@h", /name one database/],
    ["postgresql://u:secret@h/a/b", /name one database/],
    ["postgresql://h/db", /no user/],
  ] as const) {
    assert.throws(
      () => parseDatabaseUrl(url),
      (error) =>
        error instanceof InvalidDatabaseUrlError &&
        reason.test(error.message) &&
        !error.message.includes("secret"),
      url,
    );
  }
});

test("redactUrl masks the password", () => {
  assert.equal(redactUrl("postgresql://u:secret@h:1/db"), "postgresql://u:***@h:1/db");
  assert.equal(redactUrl("postgresql://u@h/db"), "postgresql://u@h/db");
});

import { randomUUID } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
// A dependency of @prisma/adapter-pg, at the version that adapter pins.
import type {
  SqlDriverAdapter,
  SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import pg from "pg";
import { type DatabaseConnection, parseDatabaseUrl, poolConfig } from "../database/url.ts";

/** Postgres's internal `"char"` and `name` types, which the engine reads from the catalogs. */
const CHAR_OID = 18;
const NAME_OID = 19;
const TEXT_OID = 25;

function reportInternalTypesAsText(result: unknown): unknown {
  const fields = (result as { fields?: { dataTypeID: number }[] } | undefined)?.fields;
  for (const field of fields ?? []) {
    if (field.dataTypeID === CHAR_OID || field.dataTypeID === NAME_OID) field.dataTypeID = TEXT_OID;
  }
  return result;
}

/**
 * A pg client whose results call `"char"` and `name` columns text: the
 * adapter refuses to deserialize those OIDs, yet the schema engine's
 * introspection queries return them, and pg already hands them over as
 * strings.
 */
class CatalogClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    this.query = ((...args: unknown[]) => {
      // pg.Pool#query passes a callback; a client used directly returns a promise.
      const callback = args.at(-1);
      if (typeof callback === "function") {
        args[args.length - 1] = (error: unknown, result: unknown) =>
          callback(error, error ? result : reportInternalTypesAsText(result));
        return query(...args);
      }
      const result = query(...args);
      return result instanceof Promise ? result.then(reportInternalTypesAsText) : result;
    }) as pg.Client["query"];
  }
}

function enginePoolConfig(connection: DatabaseConnection): pg.PoolConfig {
  return { ...poolConfig(connection), Client: CatalogClient, max: 4 };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Empties a configured shadow database: the wasm engine assumes it starts
 * empty and does not reset it, so a previous run's tables would show up as
 * drift.
 */
export async function wipeDatabase(connection: DatabaseConnection): Promise<void> {
  const client = new pg.Client(poolConfig(connection));
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'`,
    );
    const drops = rows.map((row) => `DROP SCHEMA ${quoteIdentifier(row.nspname)} CASCADE;`);
    await client.query(`${drops.join("\n")}\nCREATE SCHEMA public;`);
  } finally {
    await client.end();
  }
}

/** The shadow database would be wiped, and it is the main database. */
export class ShadowIsMainDatabaseError extends Error {
  constructor(database: string) {
    super(
      `the shadow database URL names the main database (${database}); the shadow database is emptied before each use, so it must be a database of its own`,
    );
    this.name = new.target.name;
  }
}

function sameDatabase(a: DatabaseConnection, b: DatabaseConnection): boolean {
  return a.host === b.host && a.port === b.port && a.database === b.database;
}

/** Runs one statement on the server's maintenance database (to create or drop another). */
async function onServer(connection: DatabaseConnection, sql: string): Promise<void> {
  const client = new pg.Client(poolConfig({ ...connection, database: "postgres" }));
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A shadow database of its own next to the main one, dropped when the engine
 * disposes of it. (@prisma/adapter-pg's connectToShadowDb drops the database
 * before closing its own pool, so the drop waits and fails.)
 */
async function throwAwayShadow(main: DatabaseConnection): Promise<SqlDriverAdapter> {
  const name = `prisma_migrate_shadow_db_${randomUUID()}`;
  await onServer(main, `CREATE DATABASE ${quoteIdentifier(name)}`);
  const adapter = runScriptsWhole(
    await new PrismaPg(enginePoolConfig({ ...main, database: name })).connect(),
  );
  const dispose = adapter.dispose.bind(adapter);
  adapter.dispose = async () => {
    await dispose();
    await onServer(main, `DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
  };
  return adapter;
}

interface PgAdapterInternals {
  underlyingDriver(): pg.Pool;
  onError(error: unknown): never;
}

/**
 * @prisma/adapter-pg runs a migration script by splitting it on every `;`,
 * which breaks any statement holding one in a string, a comment or a
 * function body (a hand-written `CREATE FUNCTION ... $$ ... $$`). Postgres
 * takes the whole script in one simple-protocol query, as `psql -f` and the
 * migration runner send it.
 */
function runScriptsWhole(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const internals = adapter as unknown as PgAdapterInternals;
  adapter.executeScript = async (script: string) => {
    try {
      await internals.underlyingDriver().query(script);
    } catch (error) {
      internals.onError(error);
    }
  };
  return adapter;
}

export interface EngineDatasource {
  url: string;
  shadowDatabaseUrl?: string | undefined;
}

/**
 * The driver-adapter factory that the wasm engine connects through: the main
 * database, and a shadow database that is either the configured one (wiped
 * first) or a throw-away one that @prisma/adapter-pg creates next to the main
 * database and drops when the engine lets it go.
 */
export function engineAdapterFactory(
  datasource: EngineDatasource,
): SqlMigrationAwareDriverAdapterFactory {
  const main = parseDatabaseUrl(datasource.url);
  const mainFactory = new PrismaPg(enginePoolConfig(main), { schema: main.schema });
  const shadow = datasource.shadowDatabaseUrl
    ? parseDatabaseUrl(datasource.shadowDatabaseUrl)
    : undefined;
  if (shadow && sameDatabase(main, shadow)) throw new ShadowIsMainDatabaseError(shadow.database);
  return {
    provider: mainFactory.provider,
    adapterName: mainFactory.adapterName,
    connect: async () => runScriptsWhole(await mainFactory.connect()),
    async connectToShadowDb(): Promise<SqlDriverAdapter> {
      if (shadow) {
        await wipeDatabase(shadow);
        return runScriptsWhole(
          await new PrismaPg(enginePoolConfig(shadow), { schema: shadow.schema }).connect(),
        );
      }
      return throwAwayShadow(main);
    },
  };
}

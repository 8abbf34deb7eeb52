/** Helpers for tests of the audit pipeline: a migrated scratch database and bounded waits. */
import { randomBytes } from "node:crypto";
import { migrateDatabase } from "@turgon/prisma/migrate";
import pg from "pg";
import { endPool } from "../server/pg-pool.ts";

export interface AuditDatabase {
  url: string;
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Counts egress rows of one node: [rows, distinct ids]. */
  egressCount(node: string): Promise<{ rows: number; distinct: number }>;
  close(): Promise<void>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: withDatabase(serverUrl, "postgres") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A new database on the server of `serverUrl` (the test platform's
 * DATABASE_URL by default) with every migration applied.
 */
export async function createAuditDatabase(
  serverUrl = process.env.DATABASE_URL,
): Promise<AuditDatabase> {
  if (!serverUrl) throw new Error("DATABASE_URL is not set: run with the test global setup");
  const name = `audit_${process.pid}_${randomBytes(4).toString("hex")}`;
  await onServer(serverUrl, `CREATE DATABASE "${name}"`);
  const url = withDatabase(serverUrl, name);
  await migrateDatabase(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on("error", () => {
    // The server may be stopped on purpose (fault tests); the next query reconnects.
  });
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
    (await pool.query<R>(sql, params)).rows;
  return {
    url,
    query,
    async egressCount(node) {
      const [row] = await query<{ rows: number; distinct: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS distinct
           FROM egress_event WHERE node = $1`,
        [node],
      );
      return row ?? { rows: 0, distinct: 0 };
    },
    close: () => endPool(pool),
    async drop() {
      await endPool(pool).catch(() => {});
      await onServer(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/** The one bounded wait of the tests (see @turgon/dev/testing). */
export { eventually } from "@turgon/dev/testing";

/**
 * Test helpers: scratch databases on the test PostgreSQL (the global setup's
 * DATABASE_URL) and the offline Prisma CLI.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";

/** prisma/ in this checkout. */
export const PRISMA_DIR = fileURLToPath(new URL("../..", import.meta.url));
export const PRISMA_CLI = fileURLToPath(new URL("../../bin/prisma", import.meta.url));
export const SCHEMA_ENGINE = fileURLToPath(new URL("../../bin/schema-engine", import.meta.url));

/** The test platform's database URL, which the global setup exports. */
export function testDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error(
      "DATABASE_URL is not set: run these tests with --test-global-setup=dev/src/testing/global-setup.ts",
    );
  return url;
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs one statement on the test server's maintenance database. */
export async function onTestServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: withDatabase(testDatabaseUrl(), "postgres") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface ScratchDatabase {
  name: string;
  url: string;
  /** Runs a query on the scratch database. */
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** An empty database of the test's own on the test server; drop it when done. */
export async function createScratchDatabase(prefix = "prisma_test"): Promise<ScratchDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  await onTestServer(`CREATE DATABASE "${name}"`);
  const url = withDatabase(testDatabaseUrl(), name);
  return {
    name,
    url,
    async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    drop: () => onTestServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** Databases on the test server whose names start with `prefix`. */
export async function databasesNamed(prefix: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: withDatabase(testDatabaseUrl(), "postgres") });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
      [prefix],
    );
    return rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** How long the command took, in ms. */
  durationMs: number;
}

/** Runs a command to completion (never throwing on a non-zero exit). */
export function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env, cwd: PRISMA_DIR, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        if (error && typeof code !== "number") {
          reject(error);
          return;
        }
        resolve({
          exitCode: typeof code === "number" ? code : 0,
          stdout,
          stderr,
          durationMs: Math.round(performance.now() - started),
        });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * Runs prisma/bin/prisma (the CLI with the schema-engine stand-in) against
 * `databaseUrl`, with `shadowDatabaseUrl` as the configured shadow database
 * or, without one, a throw-away shadow database next to it.
 */
export function runPrisma(
  args: string[],
  databaseUrl: string,
  shadowDatabaseUrl?: string,
): Promise<CommandResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: "1" };
  if (shadowDatabaseUrl) env.SHADOW_DATABASE_URL = shadowDatabaseUrl;
  else delete env.SHADOW_DATABASE_URL;
  return runCommand("sh", [PRISMA_CLI, ...args], env);
}

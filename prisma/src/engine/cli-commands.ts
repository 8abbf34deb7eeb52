import pg from "pg";
import { type DatabaseConnection, parseDatabaseUrl, poolConfig } from "../database/url.ts";

/** A failure the CLI reports by its Prisma error code, as the native engine's `cli` commands do. */
export class EngineCliError extends Error {
  readonly errorCode: string;

  constructor(errorCode: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.errorCode = errorCode;
  }
}

function where(c: DatabaseConnection): string {
  return `${c.host}:${c.port}`;
}

/** Prisma's codes for what connecting can run into (P1000-P1003). */
function connectError(error: unknown, c: DatabaseConnection): EngineCliError {
  const code = (error as { code?: string }).code;
  if (code === "3D000")
    return new EngineCliError(
      "P1003",
      `Database \`${c.database}\` does not exist on the database server at \`${where(c)}\`.`,
    );
  if (code === "28P01" || code === "28000")
    return new EngineCliError(
      "P1000",
      `Authentication failed against database server at \`${where(c)}\`, the provided database credentials for \`${c.user}\` are not valid.`,
    );
  return new EngineCliError(
    "P1001",
    `Can't reach database server at \`${where(c)}\`: ${(error as Error).message}`,
  );
}

async function withClient<T>(
  c: DatabaseConnection,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(poolConfig(c));
  try {
    await client.connect();
  } catch (error) {
    throw connectError(error, c);
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The native engine's `cli` subcommands, which the CLI runs as separate
 * processes (`migrate dev` creates a missing database with them). Prints
 * what the native engine prints; failures become EngineCliError.
 */
export async function runCliCommand(command: string, url: string): Promise<number> {
  const c = parseDatabaseUrl(url);
  // Create and drop from the server's maintenance database.
  const maintenance = { ...c, database: "postgres" };
  switch (command) {
    case "can-connect-to-database":
      await withClient(c, async () => {});
      return 0;
    case "create-database":
      await withClient(maintenance, (client) =>
        client.query(`CREATE DATABASE ${quoteIdentifier(c.database)}`),
      );
      process.stdout.write(`Database '${c.database}' was successfully created.\n`);
      return 0;
    case "drop-database":
      await withClient(maintenance, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(c.database)}`),
      );
      process.stdout.write(`The database '${c.database}' was successfully dropped.\n`);
      return 0;
    default:
      throw new EngineCliError("P1012", `unknown schema-engine cli command: ${command}`);
  }
}

import type pg from "pg";

/** A database URL that is not a usable postgres:// or postgresql:// URL. */
export class InvalidDatabaseUrlError extends Error {
  constructor(reason: string) {
    super(`invalid database URL: ${reason}`);
    this.name = new.target.name;
  }
}

/** The parts of a PostgreSQL URL, each on its own. */
export interface DatabaseConnection {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** `?schema=` as Prisma spells it; `public` when absent. */
  schema: string;
}

/** Parses and checks a postgresql:// URL, saying what is wrong with it (never echoing a password). */
export function parseDatabaseUrl(url: string): DatabaseConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidDatabaseUrlError(
      "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE, got something that is not a URL",
    );
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:")
    throw new InvalidDatabaseUrlError(
      `the scheme must be postgresql:// or postgres://, not ${parsed.protocol}//`,
    );
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!database || database.includes("/"))
    throw new InvalidDatabaseUrlError("the path must name one database, as in /turgon");
  // A unix socket directory comes as ?host=/path, with no host before the path.
  const host = parsed.searchParams.get("host") ?? parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new InvalidDatabaseUrlError("it names no host");
  const port = parsed.port ? Number(parsed.port) : 5432;
  const user = decodeURIComponent(parsed.username);
  if (!user) throw new InvalidDatabaseUrlError("it names no user");
  return {
    host,
    port,
    user,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
    schema: parsed.searchParams.get("schema") ?? "public",
  };
}

/**
 * pg pool settings with host, port, user and database as separate fields. A
 * connectionString would override a `database` set next to it, so anything
 * that derives another database from these settings (the shadow database)
 * would reach the main one instead.
 */
export function poolConfig(connection: DatabaseConnection): pg.PoolConfig {
  return {
    host: connection.host,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    database: connection.database,
    connectionTimeoutMillis: 10_000,
  };
}

/** The URL's text with its password masked, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<not a URL>";
  }
}

/**
 * `node prisma/src/cli/migrate.ts`: applies the pending migrations with the
 * runner (no Prisma CLI, no schema engine), for deploys and scripts.
 */
import { parseArgs } from "node:util";
import { InvalidDatabaseUrlError, parseDatabaseUrl, redactUrl } from "../database/url.ts";
import { MigrationError, migrateDatabase } from "../migrate/index.ts";
import { DEFAULT_MIGRATIONS_DIR } from "../migrate/migrations.ts";

export const USAGE = `node prisma/src/cli/migrate.ts [flags]

Applies the pending migrations in prisma/migrations to a PostgreSQL database,
each in its own transaction under Prisma Migrate's advisory lock, recording
them in _prisma_migrations as \`prisma migrate deploy\` does.

  --database-url URL     the database (default: the DATABASE_URL environment variable),
                         postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?schema=NAME]
  --migrations-dir DIR   default: ${DEFAULT_MIGRATIONS_DIR}
  --help                 this text`;

/** Bad flags; the message names the flag. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface MigrateCommand {
  databaseUrl: string;
  migrationsDir: string | undefined;
}

/** Reads the flags, or undefined for --help. */
export function parseMigrateArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
): MigrateCommand | undefined {
  let values: { "database-url"?: string; "migrations-dir"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "database-url": { type: "string" },
        "migrations-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return undefined;
  const databaseUrl = values["database-url"] || env.DATABASE_URL;
  if (!databaseUrl)
    throw new UsageError(
      "--database-url is required (or set the DATABASE_URL environment variable)",
    );
  try {
    parseDatabaseUrl(databaseUrl);
  } catch (error) {
    if (error instanceof InvalidDatabaseUrlError)
      throw new UsageError(
        `--database-url${values["database-url"] ? "" : " (from DATABASE_URL)"}: ${error.message}`,
      );
    throw error;
  }
  return { databaseUrl, migrationsDir: values["migrations-dir"] };
}

async function main(): Promise<number> {
  let command: MigrateCommand | undefined;
  try {
    command = parseMigrateArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (!command) {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  console.log(`migrate: ${redactUrl(command.databaseUrl)}`);
  try {
    const result = await migrateDatabase(command.databaseUrl, {
      migrationsDir: command.migrationsDir,
      onProgress(progress) {
        if (progress.kind === "pending" && progress.migrations.length > 0)
          console.log(`  ${progress.migrations.length} pending migration(s)`);
        if (progress.kind === "applying") console.log(`  applying ${progress.migration} ...`);
        if (progress.kind === "applied")
          console.log(`  applied ${progress.migration} (${progress.durationMs} ms)`);
      },
    });
    for (const name of result.notInDirectory)
      console.log(
        `  note: ${name} is applied but not in the migrations directory (a newer release?)`,
      );
    const total = result.applied.length + result.alreadyApplied.length;
    console.log(
      `  up to date: ${total} migration(s), ${result.applied.length} applied now (${Math.round(performance.now() - started)} ms)`,
    );
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) {
      console.error(`error: ${error.message}\nwhat to do: ${error.hint}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error("error:", error);
      process.exitCode = 1;
    },
  );
}

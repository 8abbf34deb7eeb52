/**
 * Why migrating stopped. Each error says what went wrong and, in `hint`,
 * what to do; the ones about one migration name it in `migration`.
 */
export class MigrationError extends Error {
  readonly hint: string;

  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.hint = hint;
  }
}

/** The migrations directory is missing or holds something that is not a migration. */
export class MigrationsDirectoryError extends MigrationError {
  readonly directory: string;

  constructor(directory: string, problem: string) {
    super(
      `migrations directory ${directory}: ${problem}`,
      "Each migration is a folder <timestamp>_<name> with a migration.sql; create them with prisma/bin/prisma migrate dev --create-only.",
    );
    this.directory = directory;
  }
}

/** An applied migration's file changed since it was applied. */
export class MigrationChecksumMismatchError extends MigrationError {
  readonly migration: string;
  readonly appliedChecksum: string;
  readonly fileChecksum: string;

  constructor(migration: string, appliedChecksum: string, fileChecksum: string) {
    super(
      `migration ${migration} was modified after it was applied: the database recorded checksum ${appliedChecksum}, the file now has ${fileChecksum}`,
      `Restore ${migration}/migration.sql as it was applied (git log -p shows it) and put the change in a new migration.`,
    );
    this.migration = migration;
    this.appliedChecksum = appliedChecksum;
    this.fileChecksum = fileChecksum;
  }
}

/**
 * The database records a migration that started and never finished (Prisma's
 * own `migrate deploy` leaves such rows; this runner's transactions do not).
 */
export class MigrationPreviouslyFailedError extends MigrationError {
  readonly migration: string;

  constructor(migration: string) {
    super(
      `migration ${migration} failed earlier on this database and was never resolved`,
      `Fix the database by hand, then mark it with prisma/bin/prisma migrate resolve --applied ${migration} (or --rolled-back ${migration}).`,
    );
    this.migration = migration;
  }
}

/** A migration's SQL failed; its transaction was rolled back, so it left nothing behind. */
export class MigrationFailedError extends MigrationError {
  readonly migration: string;

  constructor(migration: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `migration ${migration} failed and was rolled back: ${reason}`,
      `Fix ${migration}/migration.sql (it has not been applied anywhere it failed) or the data it trips over, then run the migration again.`,
      { cause },
    );
    this.migration = migration;
  }
}

/** Another migrator held Prisma's advisory lock for too long. */
export class MigrationLockTimeoutError extends MigrationError {
  constructor(timeoutMs: number) {
    super(
      `another migration run held the migration lock (pg_advisory_lock(72707369)) for more than ${timeoutMs} ms`,
      "Wait for the other `migrate` (or `prisma migrate deploy`) to finish, then run again; pg_locks shows who holds it.",
    );
  }
}

/** The database could not be reached at all. */
export class MigrationConnectionError extends MigrationError {
  constructor(redactedUrl: string, cause: unknown) {
    super(
      `cannot connect to ${redactedUrl}: ${cause instanceof Error ? cause.message : String(cause)}`,
      "Check that PostgreSQL runs there (`npm run up` starts one locally) and that the URL's user, password and database are right.",
      { cause },
    );
  }
}

export { InvalidDatabaseUrlError } from "../database/url.ts";
export {
  MigrationChecksumMismatchError,
  MigrationConnectionError,
  MigrationError,
  MigrationFailedError,
  MigrationLockTimeoutError,
  MigrationPreviouslyFailedError,
  MigrationsDirectoryError,
} from "./errors.ts";
export { checksum, DEFAULT_MIGRATIONS_DIR, type Migration, readMigrations } from "./migrations.ts";
export {
  type MigrateOptions,
  type MigrateProgress,
  type MigrateResult,
  migrateDatabase,
  PRISMA_MIGRATE_LOCK,
} from "./runner.ts";

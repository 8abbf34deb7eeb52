import { createHash } from "node:crypto";
import type { Dirent } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MigrationsDirectoryError } from "./errors.ts";

/** This workspace's migrations, which `migrate dev` writes. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

export interface Migration {
  /** The folder's name, `<timestamp>_<name>`, as `_prisma_migrations.migration_name` records it. */
  name: string;
  sql: string;
  /** sha256 of migration.sql's bytes, hex: Prisma's checksum. */
  checksum: string;
}

export function checksum(content: string | Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

/**
 * Whether an applied checksum still matches the file. The same text with
 * other line endings matches too, so a checkout with CRLF line endings (git
 * autocrlf) is not taken for an edit.
 */
export function matchesChecksum(migration: Migration, applied: string): boolean {
  if (migration.checksum === applied) return true;
  const lf = migration.sql.replaceAll("\r\n", "\n");
  return checksum(lf) === applied || checksum(lf.replaceAll("\n", "\r\n")) === applied;
}

/** The migrations in `directory`, oldest first (folder names start with a timestamp). */
export async function readMigrations(directory = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    throw new MigrationsDirectoryError(directory, (error as Error).message);
  }
  const lock = await readFile(join(directory, "migration_lock.toml"), "utf8").catch(() => "");
  const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(lock)?.[1];
  if (provider !== undefined && provider !== "postgresql")
    throw new MigrationsDirectoryError(
      directory,
      `migration_lock.toml says provider "${provider}", this runner applies PostgreSQL migrations`,
    );
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(directory, name, "migration.sql"));
    } catch {
      throw new MigrationsDirectoryError(directory, `${name} has no migration.sql`);
    }
    migrations.push({ name, sql: bytes.toString("utf8"), checksum: checksum(bytes) });
  }
  return migrations;
}

/**
 * egress_event's day partitions (egress_event_pYYYYMMDD, UTC): made ahead by
 * the migration's turgon_audit_ensure_partition, and dropped whole once
 * their day has passed the retention setting. Rows are never DELETEd.
 */
import type pg from "pg";
import type { Logger } from "./logger.ts";

const DAY_MS = 86_400_000;
const PARTITION_NAME = /^egress_event_p(\d{4})(\d{2})(\d{2})$/;

/** The UTC day (YYYY-MM-DD) holding `time`. */
export function utcDay(time: Date | string): string {
  return new Date(time).toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/**
 * The oldest instant kept: an event before it is past retention. A day's
 * partition is dropped once its whole day is before it.
 */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/** True when the whole UTC `day` lies before the cutoff (its partition may go). */
export function dayExpired(day: string, cutoff: Date): boolean {
  return Date.parse(`${addDays(day, 1)}T00:00:00Z`) <= cutoff.getTime();
}

/** The day partitions that exist, as days, from the catalog (only names of our form). */
export async function listPartitionDays(db: pg.Pool | pg.PoolClient): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'egress_event'::regclass`,
  );
  return rows
    .flatMap(({ name }) => {
      const match = PARTITION_NAME.exec(name);
      return match ? [`${match[1]}-${match[2]}-${match[3]}`] : [];
    })
    .sort();
}

/** Creates the partitions of `days` that are missing (the SQL function serializes creators). */
export async function ensurePartitions(
  db: pg.Pool | pg.PoolClient,
  days: readonly string[],
): Promise<void> {
  if (days.length === 0) return;
  await db.query("SELECT turgon_audit_ensure_partition(d) FROM unnest($1::date[]) AS d", [days]);
}

/**
 * Days whose partitions are known to exist, so the hot path calls the DDL
 * function only for a day it has not seen. Forgotten on any error and after
 * every sweep: another worker may have dropped one.
 */
export class KnownPartitions {
  private readonly days = new Set<string>();

  missing(days: Iterable<string>): string[] {
    return [...new Set(days)].filter((day) => !this.days.has(day));
  }

  remember(days: Iterable<string>): void {
    for (const day of days) this.days.add(day);
  }

  forget(): void {
    this.days.clear();
  }
}

export interface SweepResult {
  created: string[];
  dropped: string[];
  /** Partitions not made or dropped this time (the lock was not free): the next sweep tries again. */
  postponed: string[];
}

const LOCK_NOT_AVAILABLE = "55P03";

/**
 * Runs DDL on egress_event in a transaction that waits at most `ms` for its
 * locks; false when it gave up (to be tried again later).
 */
async function withLockTimeout(
  pool: pg.Pool,
  ms: number,
  ddl: (client: pg.PoolClient) => Promise<void>,
): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`SET LOCAL lock_timeout = ${Math.round(ms)}`);
    await ddl(client);
    await client.query("COMMIT");
    return true;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
    return false;
  } finally {
    client.release();
  }
}

/**
 * One retention pass: makes today's and tomorrow's partitions, then drops
 * each partition whose day ended before now − retention. Creating or
 * dropping a partition takes an exclusive lock on egress_event; waiting
 * behind a long read (an export) would queue every insert and query behind
 * it, so each gives up after `lockTimeoutMs` and is tried again at the next
 * sweep (tomorrow's partition is made a day ahead: there are many chances).
 */
export async function sweepPartitions(
  pool: pg.Pool,
  options: { retentionDays: number; now?: Date; lockTimeoutMs?: number; log: Logger },
): Promise<SweepResult> {
  const now = options.now ?? new Date();
  const today = utcDay(now);
  const ahead = [today, addDays(today, 1)];
  const before = new Set(await listPartitionDays(pool));
  const lockTimeoutMs = options.lockTimeoutMs ?? 2000;
  const created: string[] = [];
  const dropped: string[] = [];
  const postponed: string[] = [];
  for (const day of ahead.filter((d) => !before.has(d))) {
    const done = await withLockTimeout(pool, lockTimeoutMs, (client) =>
      ensurePartitions(client, [day]),
    );
    (done ? created : postponed).push(day);
  }
  const cutoff = retentionCutoff(now, options.retentionDays);
  for (const day of [...before].filter((d) => dayExpired(d, cutoff))) {
    const name = `egress_event_p${day.replaceAll("-", "")}`;
    const done = await withLockTimeout(pool, lockTimeoutMs, async (client) => {
      await client.query(`DROP TABLE IF EXISTS "${name}"`);
    });
    (done ? dropped : postponed).push(day);
  }
  if (created.length + dropped.length + postponed.length > 0)
    options.log.info(
      { created, dropped, postponed, retentionDays: options.retentionDays },
      "egress partitions swept",
    );
  return { created, dropped, postponed };
}

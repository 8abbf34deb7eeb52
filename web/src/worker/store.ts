/**
 * The worker's SQL, on `pg` directly (the hot path): one transaction per
 * job, one multi-row statement for its events, dead letters in the same
 * transaction. Every insert is idempotent, so a job delivered again (a
 * worker killed after its commit, before bullmq heard of it) changes nothing.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import type { DeadLetter, EgressRow } from "./egress-ingest.ts";
import { ensurePartitions, KnownPartitions, utcDay } from "./partitions.ts";

/**
 * Held from the egress insert to its commit, so rows become visible in
 * `seq` order: a live tail that has read up to seq N never later finds a
 * row below N committed behind its back.
 */
export const EGRESS_COMMIT_LOCK = advisoryLockKey("turgon_audit_egress_commit");

/** A stable 32-bit advisory lock key for a name (the first four bytes of its SHA-256, signed). */
function advisoryLockKey(name: string): number {
  return createHash("sha256").update(name).digest().readInt32BE(0);
}

/** A redelivered job's dead letters are recognised (and not doubled) this long. */
const DEAD_LETTER_DEDUPE_WINDOW = "7 days";

const EGRESS_COLUMNS = [
  ["id", "uuid"],
  ["time", "timestamptz"],
  ["node", "text"],
  ["namespace", "text"],
  ["sandbox", "text"],
  ["sandboxUid", "text"],
  ["team", "text"],
  ["method", "text"],
  ["scheme", "text"],
  ["host", "text"],
  ["port", "integer"],
  ["path", "text"],
  ["status", "integer"],
  ["decision", '"EgressDecision"'],
  ["reason", "text"],
  ["policy", "text"],
  ["secrets", "text[]"],
  ["bytesSent", "bigint"],
  ["bytesReceived", "bigint"],
  ["durationMs", "integer"],
] as const satisfies readonly (readonly [keyof EgressRow, string])[];

const columnList = EGRESS_COLUMNS.map(([name]) => `"${name}"`).join(", ");
const recordType = EGRESS_COLUMNS.map(([name, type]) => `"${name}" ${type}`).join(", ");

// The batch travels as one JSON parameter: JSON.stringify is native and fast,
// and json_to_recordset turns its arrays into text[] (unnest would flatten
// the secrets' two-dimensional array).
const INSERT_EGRESS = `
  WITH inserted AS (
    INSERT INTO "egress_event" (${columnList})
    SELECT ${columnList} FROM json_to_recordset($1::json) AS r(${recordType})
    ON CONFLICT DO NOTHING
    RETURNING "seq"
  )
  SELECT count(*)::int AS inserted, max("seq")::text AS "lastSeq" FROM inserted`;

const INSERT_DEAD_LETTERS = `
  INSERT INTO "audit_dead_letter" ("queue", "jobId", "payload", "reason")
  SELECT $1, $2, d.payload, d.reason FROM unnest($3::text[], $4::text[]) AS d(payload, reason)
  WHERE NOT EXISTS (
    SELECT 1 FROM "audit_dead_letter" x
     WHERE x."receivedAt" > now() - interval '${DEAD_LETTER_DEDUPE_WINDOW}'
       AND x."queue" = $1 AND x."jobId" IS NOT DISTINCT FROM $2 AND x."payload" = d.payload)`;

export interface EgressCommit {
  /** Rows new to the table (a redelivered event is not counted again). */
  inserted: number;
  /** The highest seq inserted; null when nothing new was inserted. */
  lastSeq: string | null;
}

/** An exec or SSH session, as exec_session holds it. */
export interface ExecSessionRow {
  id: string;
  kind: "exec" | "ssh";
  user: string;
  node: string;
  namespace: string;
  sandbox: string;
  sandboxUid: string;
  team: string | null;
  command: string[];
  tty: boolean;
  startedAt: string;
  endedAt: string;
  exitCode: number | null;
  reason: string;
}

export function createPool(databaseUrl: string, size: number, onError: (error: Error) => void) {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: size,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    // A batch is small; one that takes this long is stuck (a lock), and is retried.
    statement_timeout: 60_000,
    application_name: "turgon-audit-worker",
  });
  // A connection that Postgres closes (a restart) must not crash the worker: an idle one
  // reports through the pool, a checked-out one through its own client, which pg leaves
  // without a listener (an unhandled 'error' event ends the process). The query in
  // flight fails as well, and the batch is retried.
  pool.on("error", onError);
  pool.on("connect", (client) => client.on("error", onError));
  return pool;
}

export class AuditStore {
  readonly pool: pg.Pool;
  private readonly partitions = new KnownPartitions();

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** One egress job, all or nothing: its new rows and its dead letters. */
  async commitEgress(job: {
    queue: string;
    jobId: string | undefined;
    rows: readonly EgressRow[];
    deadLetters: readonly DeadLetter[];
  }): Promise<EgressCommit> {
    const days = job.rows.map((row) => utcDay(row.time));
    return this.transaction(async (client) => {
      let result: EgressCommit = { inserted: 0, lastSeq: null };
      if (job.rows.length > 0) {
        await client.query("SELECT pg_advisory_xact_lock($1)", [EGRESS_COMMIT_LOCK]);
        const missing = this.partitions.missing(days);
        if (missing.length > 0) {
          // Making a partition locks egress_event exclusively: rather than queue every
          // reader behind a long one (an export), give up and let the job be retried.
          await client.query("SET LOCAL lock_timeout = 5000");
          await ensurePartitions(client, missing);
          await client.query("SET LOCAL lock_timeout = 0");
        }
        const { rows } = await client.query<EgressCommit>(INSERT_EGRESS, [
          JSON.stringify(job.rows),
        ]);
        result = rows[0] ?? result;
        this.partitions.remember(missing);
      }
      await insertDeadLetters(client, job.queue, job.jobId, job.deadLetters);
      return result;
    });
  }

  async commitDeadLetters(
    queue: string,
    jobId: string | undefined,
    letters: readonly DeadLetter[],
  ): Promise<void> {
    await this.transaction((client) => insertDeadLetters(client, queue, jobId, letters));
  }

  /** One exec or SSH session; true when it was new. */
  async commitExecSession(row: ExecSessionRow): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO "exec_session" ("id", "kind", "user", "node", "namespace", "sandbox",
         "sandboxUid", "team", "command", "tty", "startedAt", "endedAt", "exitCode", "reason")
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       ON CONFLICT ("id") DO NOTHING`,
      [
        row.id,
        row.kind,
        row.user,
        row.node,
        row.namespace,
        row.sandbox,
        row.sandboxUid,
        row.team,
        row.command,
        row.tty,
        row.startedAt,
        row.endedAt,
        row.exitCode,
        row.reason,
      ],
    );
    return result.rowCount === 1;
  }

  /** After a retention sweep, or a failure that may mean a partition went away. */
  forgetPartitions(): void {
    this.partitions.forget();
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (error) {
      this.partitions.forget();
      await client.query("ROLLBACK").catch(() => {});
      // A connection that failed mid-transaction is discarded, not reused.
      client.release(error as Error);
      throw error;
    }
  }
}

async function insertDeadLetters(
  client: pg.PoolClient,
  queue: string,
  jobId: string | undefined,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  await client.query(INSERT_DEAD_LETTERS, [
    queue,
    jobId ?? null,
    letters.map((l) => l.payload),
    letters.map((l) => l.reason),
  ]);
}

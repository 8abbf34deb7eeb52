/**
 * Audit test helpers, shared by this folder's tests, e2e/ and the
 * benchmark: a migrated scratch database, rows inserted as the worker
 * commits them (day partitions first, seq in insert order), and the
 * worker's AuditCommitted announcement on Redis. A whole-stack test with a
 * real agent and worker replaces `insertEgressEvents` + `announceCommitted`
 * and keeps the rest.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { AUDIT_COMMITTED_CHANNEL, type AuditCommitted } from "@turgon/api/audit";
import { migrateDatabase } from "@turgon/prisma/migrate";
import { Redis } from "ioredis";
import pg from "pg";
import type { Decision } from "../../lib/audit.ts";
import { endPool } from "../pg-pool.ts";

export { endPool };

import type { Queryable } from "./query.ts";

export interface ScratchAuditDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A migrated database of the test's own on the test platform's PostgreSQL (DATABASE_URL). */
export async function createAuditDatabase(prefix = "audit"): Promise<ScratchAuditDatabase> {
  const server = process.env.DATABASE_URL;
  if (!server)
    throw new Error(
      "DATABASE_URL is not set: run with --test-global-setup=dev/src/testing/global-setup.ts",
    );
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  await migrateDatabase(url.href);
  const pool = new pg.Pool({ connectionString: url.href, max: 4 });
  return {
    url: url.href,
    pool,
    async drop() {
      await endPool(pool);
      const client = new pg.Client({ connectionString: server });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** An egress row as a test writes it; what is left out gets a plain default. */
export interface EgressSeed {
  id?: string;
  time: Date;
  node?: string;
  namespace: string;
  sandbox: string;
  sandboxUid?: string;
  team: string | null;
  method?: string;
  scheme?: "http" | "https";
  host: string;
  port?: number;
  path?: string;
  status?: number | null;
  decision: Decision;
  reason?: string;
  policy?: string | null;
  secrets?: string[];
  bytesSent?: number | null;
  bytesReceived?: number | null;
  durationMs?: number;
}

const EGRESS_INSERT_COLUMNS = [
  "id",
  "time",
  "node",
  "namespace",
  "sandbox",
  "sandboxUid",
  "team",
  "method",
  "scheme",
  "host",
  "port",
  "path",
  "status",
  "decision",
  "reason",
  "policy",
  "secrets",
  "bytesSent",
  "bytesReceived",
  "durationMs",
] as const;

function valuesOf(seed: EgressSeed): unknown[] {
  const denied = seed.decision !== "allowed";
  return [
    seed.id ?? randomUUID(),
    seed.time,
    seed.node ?? "node-1",
    seed.namespace,
    seed.sandbox,
    seed.sandboxUid ?? `uid-${seed.namespace}-${seed.sandbox}`,
    seed.team,
    seed.method ?? "GET",
    seed.scheme ?? "https",
    seed.host,
    seed.port ?? (seed.scheme === "http" ? 80 : 443),
    seed.path ?? "/",
    seed.status === undefined ? (denied ? 403 : 200) : seed.status,
    seed.decision,
    seed.reason ?? (denied ? "host not in allowedHosts" : "allowedHosts"),
    seed.policy ?? null,
    seed.secrets ?? [],
    seed.bytesSent === undefined ? 120 : seed.bytesSent,
    seed.bytesReceived === undefined ? (denied ? 0 : 2048) : seed.bytesReceived,
    seed.durationMs ?? 12,
  ];
}

/** The UTC days rows fall on, so their partitions exist before the insert. */
export async function ensurePartitions(db: Queryable, times: Date[]): Promise<void> {
  const days = new Set(times.map((time) => time.toISOString().slice(0, 10)));
  for (const day of [...days].sort())
    await db.query("SELECT turgon_audit_ensure_partition($1::date)", [day]);
}

/**
 * Inserts rows in one statement per 500, in the given order (so seq follows
 * it), as the worker commits a batch; returns the highest seq given.
 */
export async function insertEgressEvents(db: Queryable, seeds: EgressSeed[]): Promise<string> {
  await ensurePartitions(
    db,
    seeds.map((seed) => seed.time),
  );
  let last = "0";
  for (let start = 0; start < seeds.length; start += 500) {
    const batch = seeds.slice(start, start + 500);
    const values: unknown[] = [];
    const tuples = batch.map((seed) => {
      const row = valuesOf(seed);
      const placeholders = row.map((value, i) => {
        values.push(value);
        const cast = EGRESS_INSERT_COLUMNS[i] === "decision" ? `::"EgressDecision"` : "";
        return `$${values.length}${cast}`;
      });
      return `(${placeholders.join(", ")})`;
    });
    const columns = EGRESS_INSERT_COLUMNS.map((c) => `"${c}"`).join(", ");
    // One statement orders its rows' nextval() calls by the VALUES list.
    const { rows } = await db.query<{ seq: string }>(
      `INSERT INTO egress_event (${columns}) VALUES ${tuples.join(", ")} RETURNING seq::text AS seq`,
      values,
    );
    for (const row of rows) if (BigInt(row.seq) > BigInt(last)) last = row.seq;
  }
  return last;
}

export interface SessionSeed {
  id?: string;
  kind?: "exec" | "ssh";
  user: string;
  namespace: string;
  sandbox: string;
  team: string | null;
  command?: string[];
  tty?: boolean;
  startedAt: Date;
  endedAt?: Date;
  exitCode?: number | null;
  reason?: string;
}

export async function insertSessions(db: Queryable, seeds: SessionSeed[]): Promise<void> {
  for (const seed of seeds)
    await db.query(
      `INSERT INTO exec_session (id, kind, "user", node, namespace, sandbox, "sandboxUid", team,
        command, tty, "startedAt", "endedAt", "exitCode", reason)
        VALUES ($1, $2, $3, 'node-1', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        seed.id ?? randomUUID(),
        seed.kind ?? "exec",
        seed.user,
        seed.namespace,
        seed.sandbox,
        `uid-${seed.namespace}-${seed.sandbox}`,
        seed.team,
        seed.command ?? [],
        seed.tty ?? (seed.command ?? []).length === 0,
        seed.startedAt,
        seed.endedAt ?? new Date(seed.startedAt.getTime() + 65_000),
        seed.exitCode === undefined ? 0 : seed.exitCode,
        seed.reason ?? "exited",
      ],
    );
}

/** PUBLISHes AuditCommitted as the worker does after a commit. */
export async function announceCommitted(redisUrl: string, lastSeq: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    const message: AuditCommitted = { lastSeq };
    await redis.publish(AUDIT_COMMITTED_CHANNEL, JSON.stringify(message));
  } finally {
    redis.disconnect();
  }
}

/** Parses RFC 4180 CSV (quoted cells, "" for a quote, CRLF or LF records): the export's reader in tests. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      record.push(cell);
      cell = "";
    } else if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
      if (c === "\r") i++;
      record.push(cell);
      records.push(record);
      record = [];
      cell = "";
    } else cell += c;
  }
  if (cell || record.length) {
    record.push(cell);
    records.push(record);
  }
  return records;
}

/**
 * The audit queries: the egress list (keyset paged on (time desc, seq
 * desc), never OFFSET), the live tail (seq > cursor), one event, the
 * summaries and the exec/SSH sessions. SQL is built from fixed fragments;
 * every value a user gave travels as a bind parameter.
 *
 * Access is part of every query: admins see every row; anyone else sees
 * only rows whose `team` (the team that held the namespace when the event
 * was ingested) is one of their teams.
 *
 * Plain `pg` (no "server-only"), so tests and the benchmark run it as the
 * dashboard does.
 */
import type { EgressEvent } from "@turgon/prisma";
import {
  type AuditFilter,
  type Decision,
  type EgressRow,
  egressCursorOf,
  hostLikePattern,
  parseEgressCursor,
  parseSessionCursor,
  type SessionFilter,
  type SessionRow,
  sessionCursorOf,
  statusRange,
  type TimeWindow,
  windowOf,
} from "../../lib/audit.ts";

/** Who is asking: everything (admins) or the rows of these teams. */
export type AuditAccess = { all: true } | { all: false; teams: readonly string[] };

/** A pg Pool, Client or PoolClient. */
export interface Queryable {
  query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** Collects conditions and their bind parameters; values never enter the SQL text. */
export class Conditions {
  readonly values: unknown[] = [];
  private readonly parts: string[] = [];

  /** A placeholder ($n) for `value`. */
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  add(condition: string): void {
    this.parts.push(condition);
  }

  where(): string {
    return this.parts.length ? `WHERE ${this.parts.join(" AND ")}` : "";
  }
}

function addAccess(where: Conditions, access: AuditAccess): void {
  if (access.all) return;
  // One team (the usual member): an equality, which the (team, time desc)
  // index answers in order; several: ANY. No team: no rows (ANY of an empty
  // array is false), never "no condition".
  if (access.teams.length === 1) where.add(`team = ${where.param(access.teams[0])}`);
  else where.add(`team = ANY(${where.param([...access.teams])}::text[])`);
}

function addWindow(where: Conditions, column: string, window: TimeWindow): void {
  where.add(`${column} >= ${where.param(window.from)}`);
  if (window.to) where.add(`${column} < ${where.param(window.to)}`);
}

/** Which parts of the filter a query applies (the summaries split by decision themselves). */
interface FilterOptions {
  ignoreDecision?: boolean;
}

/** The conditions of an egress filter, with access, at `now`. */
export function egressConditions(
  filter: AuditFilter,
  access: AuditAccess,
  now: Date,
  options: FilterOptions = {},
): Conditions {
  const where = new Conditions();
  addAccess(where, access);
  addWindow(where, "time", windowOf(filter, now));
  if (filter.team) where.add(`team = ${where.param(filter.team)}`);
  if (filter.namespace) where.add(`namespace = ${where.param(filter.namespace)}`);
  if (filter.sandbox) where.add(`sandbox = ${where.param(filter.sandbox)}`);
  if (filter.host) {
    const like = hostLikePattern(filter.host);
    if (like) where.add(`host LIKE ${where.param(like)} ESCAPE '\\'`);
    else where.add(`host = ${where.param(filter.host)}`);
  }
  if (filter.method) where.add(`method = ${where.param(filter.method)}`);
  if (filter.decision && !options.ignoreDecision)
    where.add(`decision = ${where.param(filter.decision)}::"EgressDecision"`);
  if (filter.status) {
    const range = statusRange(filter.status);
    if (range)
      where.add(`status >= ${where.param(range[0])} AND status < ${where.param(range[1])}`);
    else where.add("status IS NULL");
  }
  if (filter.secret) where.add(`secrets @> ARRAY[${where.param(filter.secret)}]::text[]`);
  return where;
}

// Text ids and seqs (a BIGINT exceeds a JS number); ORDER BY names the table's own
// columns, since a bare name would sort by these text aliases and miss the index.
const EGRESS_COLUMNS = `id::text AS id, "time", seq::text AS seq, "receivedAt", node, namespace,
  sandbox, "sandboxUid", team, method, scheme, host, port, path, status, decision::text AS decision,
  reason, policy, secrets, "bytesSent"::float8 AS "bytesSent",
  "bytesReceived"::float8 AS "bytesReceived", "durationMs"`;

/** A row as EGRESS_COLUMNS reads it: the schema's columns, seq as text, byte counts as numbers. */
type EgressRecord = Omit<
  EgressEvent,
  "seq" | "decision" | "secrets" | "bytesSent" | "bytesReceived"
> & {
  seq: string;
  decision: string;
  secrets: string[] | null;
  bytesSent: number | null;
  bytesReceived: number | null;
};

export function egressRowOf(record: EgressRecord): EgressRow {
  return {
    id: record.id,
    time: record.time.toISOString(),
    seq: record.seq,
    receivedAt: record.receivedAt.toISOString(),
    node: record.node,
    namespace: record.namespace,
    sandbox: record.sandbox,
    sandboxUid: record.sandboxUid,
    team: record.team,
    method: record.method,
    scheme: record.scheme,
    host: record.host,
    port: record.port,
    path: record.path,
    status: record.status,
    decision: record.decision as Decision,
    reason: record.reason,
    policy: record.policy,
    secrets: record.secrets ?? [],
    bytesSent: record.bytesSent,
    bytesReceived: record.bytesReceived,
    durationMs: record.durationMs,
  };
}

export interface EgressPage {
  rows: EgressRow[];
  /** The cursor of the next (older) page, or null at the end. */
  next: string | null;
  /**
   * On a first page: the highest seq committed when it was read, in the same
   * snapshot. The live tail starts after it; rows up to it are in this list
   * (if they match), rows after it come from the tail.
   */
  head: string | null;
}

export interface ListOptions {
  filter: AuditFilter;
  access: AuditAccess;
  now: Date;
  limit: number;
  /** A cursor from a previous page's `next`. */
  cursor?: string | null | undefined;
  /** Only rows committed up to this seq (an export's fixed end). */
  throughSeq?: string | undefined;
}

/** One page of the egress list, newest first. */
export async function listEgress(db: Queryable, options: ListOptions): Promise<EgressPage> {
  const where = egressConditions(options.filter, options.access, options.now);
  if (options.cursor) {
    const after = parseEgressCursor(options.cursor);
    where.add(`("time", seq) < (${where.param(after.time)}, ${where.param(after.seq)}::bigint)`);
  }
  if (options.throughSeq) where.add(`seq <= ${where.param(options.throughSeq)}::bigint`);
  const limit = where.param(options.limit + 1);
  const page = `SELECT ${EGRESS_COLUMNS} FROM egress_event ${where.where()}
    ORDER BY egress_event."time" DESC, egress_event.seq DESC LIMIT ${limit}`;
  let records: (EgressRecord & { head?: string })[];
  let head: string | null = null;
  if (options.cursor) {
    records = (await db.query<EgressRecord>(page, where.values)).rows;
  } else {
    // One statement, one snapshot: the page and the head it was read at.
    const { rows } = await db.query<EgressRecord & { head: string; present: boolean }>(
      `WITH head AS (SELECT coalesce(max(seq), 0)::text AS head FROM egress_event),
        page AS (${page})
      SELECT head.head, page.id IS NOT NULL AS present, page.* FROM head LEFT JOIN page ON true
      ORDER BY page."time" DESC, page.seq::bigint DESC`,
      where.values,
    );
    head = rows[0]?.head ?? "0";
    records = rows.filter((row) => row.present);
  }
  const more = records.length > options.limit;
  const rows = records.slice(0, options.limit).map(egressRowOf);
  const last = rows.at(-1);
  return { rows, next: more && last ? egressCursorOf(last) : null, head };
}

/** The highest committed seq: where a tail without a last event id starts. */
export async function egressHead(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ head: string }>(
    "SELECT coalesce(max(seq), 0)::text AS head FROM egress_event",
  );
  return rows[0]?.head ?? "0";
}

/** Matching rows committed after `afterSeq`, oldest first: the live tail's next batch. */
export async function tailEgress(
  db: Queryable,
  options: { filter: AuditFilter; access: AuditAccess; now: Date; afterSeq: string; limit: number },
): Promise<EgressRow[]> {
  const where = egressConditions(options.filter, options.access, options.now);
  where.add(`seq > ${where.param(options.afterSeq)}::bigint`);
  const { rows } = await db.query<EgressRecord>(
    `SELECT ${EGRESS_COLUMNS} FROM egress_event ${where.where()}
      ORDER BY egress_event.seq ASC LIMIT ${where.param(options.limit)}`,
    where.values,
  );
  return rows.map(egressRowOf);
}

/** One event by its key (time, id), if the asker may see it. */
export async function getEgress(
  db: Queryable,
  access: AuditAccess,
  key: { time: Date; id: string },
): Promise<EgressRow | null> {
  const where = new Conditions();
  addAccess(where, access);
  where.add(`"time" = ${where.param(key.time)}`);
  where.add(`id = ${where.param(key.id)}::uuid`);
  const { rows } = await db.query<EgressRecord>(
    `SELECT ${EGRESS_COLUMNS} FROM egress_event ${where.where()}`,
    where.values,
  );
  return rows[0] ? egressRowOf(rows[0]) : null;
}

export interface HostCount {
  host: string;
  count: number;
}
export interface EgressSummary {
  window: { from: string; to: string };
  allowedHosts: HostCount[];
  deniedHosts: HostCount[];
  /** Denied requests per bucket over the window, oldest first, empty buckets included. */
  deniedOverTime: { bucketMs: number; buckets: { start: string; count: number }[] };
}

/** Bucket sizes for the chart: the smallest that keeps it at most MAX_BUCKETS bars. */
const BUCKET_SIZES_MS = [
  10_000,
  30_000,
  60_000,
  5 * 60_000,
  10 * 60_000,
  30 * 60_000,
  3_600_000,
  3 * 3_600_000,
  6 * 3_600_000,
  12 * 3_600_000,
  86_400_000,
  7 * 86_400_000,
];
const MAX_BUCKETS = 60;
const TOP_HOSTS = 8;

export function bucketSizeFor(spanMs: number): number {
  return (
    BUCKET_SIZES_MS.find((size) => spanMs / size <= MAX_BUCKETS) ??
    (BUCKET_SIZES_MS.at(-1) as number)
  );
}

async function topHosts(
  db: Queryable,
  options: { filter: AuditFilter; access: AuditAccess; now: Date },
  decision: Decision,
): Promise<HostCount[]> {
  const where = egressConditions(options.filter, options.access, options.now, {
    ignoreDecision: true,
  });
  where.add(`decision = ${where.param(decision)}::"EgressDecision"`);
  const { rows } = await db.query<{ host: string; count: string }>(
    `SELECT host, count(*)::text AS count FROM egress_event ${where.where()}
      GROUP BY host ORDER BY count(*) DESC, host LIMIT ${where.param(TOP_HOSTS)}`,
    where.values,
  );
  return rows.map((row) => ({ host: row.host, count: Number(row.count) }));
}

/**
 * The summaries over the filter's window: top allowed and denied hosts and
 * denied requests over time. The decision filter is not applied (each
 * summary picks its own decision); every other filter and access is.
 */
export async function summarizeEgress(
  db: Queryable,
  options: { filter: AuditFilter; access: AuditAccess; now: Date },
): Promise<EgressSummary> {
  const window = windowOf(options.filter, options.now);
  const to = window.to ?? options.now;
  const bucketMs = bucketSizeFor(to.getTime() - window.from.getTime());
  const where = egressConditions(options.filter, options.access, options.now, {
    ignoreDecision: true,
  });
  where.add(`decision = 'denied'::"EgressDecision"`);
  const bucketSeconds = where.param(bucketMs / 1000);
  const [allowedHosts, deniedHosts, overTime] = await Promise.all([
    topHosts(db, options, "allowed"),
    topHosts(db, options, "denied"),
    db.query<{ bucket: Date; count: string }>(
      `SELECT date_bin(make_interval(secs => ${bucketSeconds}), "time", TIMESTAMPTZ 'epoch') AS bucket,
        count(*)::text AS count FROM egress_event ${where.where()} GROUP BY 1 ORDER BY 1`,
      where.values,
    ),
  ]);
  const counts = new Map(overTime.rows.map((row) => [row.bucket.getTime(), Number(row.count)]));
  const buckets: { start: string; count: number }[] = [];
  const first = Math.floor(window.from.getTime() / bucketMs) * bucketMs;
  for (
    let start = first;
    start < to.getTime() && buckets.length <= MAX_BUCKETS + 1;
    start += bucketMs
  )
    buckets.push({ start: new Date(start).toISOString(), count: counts.get(start) ?? 0 });
  return {
    window: { from: window.from.toISOString(), to: to.toISOString() },
    allowedHosts,
    deniedHosts,
    deniedOverTime: { bucketMs, buckets },
  };
}

interface SessionRecord {
  id: string;
  kind: string;
  user: string;
  node: string;
  namespace: string;
  sandbox: string;
  team: string | null;
  command: string[] | null;
  tty: boolean;
  startedAt: Date;
  endedAt: Date;
  exitCode: number | null;
  reason: string;
}

export function sessionRowOf(record: SessionRecord): SessionRow {
  return {
    ...record,
    command: record.command ?? [],
    startedAt: record.startedAt.toISOString(),
    endedAt: record.endedAt.toISOString(),
  };
}

export interface SessionPage {
  rows: SessionRow[];
  next: string | null;
}

/** One page of exec and SSH sessions, newest first by start, keyset paged on (startedAt, id). */
export async function listSessions(
  db: Queryable,
  options: {
    filter: SessionFilter;
    access: AuditAccess;
    now: Date;
    limit: number;
    cursor?: string | null | undefined;
  },
): Promise<SessionPage> {
  const { filter } = options;
  const where = new Conditions();
  addAccess(where, options.access);
  addWindow(where, `"startedAt"`, windowOf(filter, options.now));
  if (filter.team) where.add(`team = ${where.param(filter.team)}`);
  if (filter.namespace) where.add(`namespace = ${where.param(filter.namespace)}`);
  if (filter.sandbox) where.add(`sandbox = ${where.param(filter.sandbox)}`);
  if (filter.kind) where.add(`kind = ${where.param(filter.kind)}`);
  if (options.cursor) {
    const after = parseSessionCursor(options.cursor);
    where.add(
      `("startedAt", id) < (${where.param(after.startedAt)}, ${where.param(after.id)}::uuid)`,
    );
  }
  const { rows } = await db.query<SessionRecord>(
    `SELECT id::text AS id, kind, "user", node, namespace, sandbox, team, command, tty,
      "startedAt", "endedAt", "exitCode", reason
      FROM exec_session ${where.where()}
      ORDER BY exec_session."startedAt" DESC, exec_session.id DESC LIMIT ${where.param(options.limit + 1)}`,
    where.values,
  );
  const more = rows.length > options.limit;
  const page = rows.slice(0, options.limit).map(sessionRowOf);
  const last = page.at(-1);
  return { rows: page, next: more && last ? sessionCursorOf(last) : null };
}

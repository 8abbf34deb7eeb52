/**
 * Pure logic of an egress batch: the agent's raw spool lines become rows of
 * egress_event, or dead letters with the reason they were refused. No I/O.
 */
import { AuditBatch, EgressAuditEvent } from "@turgon/api/audit";
import type { EgressEvent } from "@turgon/prisma";
import type { z } from "zod";
import { dayExpired, retentionCutoff, utcDay } from "./partitions.ts";

/**
 * One row of egress_event as the store inserts it: the schema's columns,
 * with the time as an ISO string and byte counts as numbers (JSON carries
 * them to Postgres); seq and receivedAt come from Postgres.
 */
export type EgressRow = Omit<
  EgressEvent,
  "time" | "seq" | "receivedAt" | "decision" | "bytesSent" | "bytesReceived"
> & {
  time: string;
  decision: string;
  bytesSent: number | null;
  bytesReceived: number | null;
};

/** A payload the worker could not use, kept with why. */
export interface DeadLetter {
  payload: string;
  reason: string;
}

export interface ParsedBatch {
  events: EgressAuditEvent[];
  deadLetters: DeadLetter[];
}

/** Dead-lettered lines are cut to this many characters: enough to diagnose, never a flood. */
const MAX_PAYLOAD = 4096;
const KNOWN_FIELDS = new Set(Object.keys(EgressAuditEvent.shape));

/**
 * Splits an AuditBatch's lines into valid events and dead letters. A line
 * repeated in the batch (an agent re-ship) is kept once.
 */
export function parseBatchLines(lines: readonly string[]): ParsedBatch {
  const events: EgressAuditEvent[] = [];
  const deadLetters: DeadLetter[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      deadLetters.push({
        payload: redactRawLine(line),
        reason: `not JSON: ${(error as Error).message}`,
      });
      continue;
    }
    const parsed = EgressAuditEvent.safeParse(value);
    if (!parsed.success) {
      deadLetters.push({
        payload: redactEventLike(value, line),
        reason: `not an EgressAuditEvent: ${describeIssues(parsed.error)}`,
      });
      continue;
    }
    if (seen.has(parsed.data.id)) continue;
    seen.add(parsed.data.id);
    events.push(parsed.data);
  }
  return { events, deadLetters };
}

/** What a job's data is, or why it is not an AuditBatch at all (dead-lettered whole). */
export function parseBatch(
  data: unknown,
): { ok: true; batch: AuditBatch } | { ok: false; letter: DeadLetter } {
  const parsed = AuditBatch.safeParse(data);
  if (parsed.success) return { ok: true, batch: parsed.data };
  return {
    ok: false,
    letter: {
      payload: redactRawLine(safeStringify(data)),
      reason: `not an AuditBatch: ${describeIssues(parsed.error)}`,
    },
  };
}

/** How far ahead of the worker's clock an event may be (clock skew) before it is refused. */
export const MAX_FUTURE_MS = 86_400_000;

/**
 * Sorts events by time: those to store; those already past retention (their
 * partition is dropped or about to be: not stored, only counted); and those
 * more than a day in the future, dead-lettered, so that a wrong clock never
 * makes partitions for distant days that retention would keep for years.
 */
export function splitByTime(
  events: readonly EgressAuditEvent[],
  now: Date,
  retentionDays: number,
): { kept: EgressAuditEvent[]; expired: number; future: DeadLetter[] } {
  const cutoff = retentionCutoff(now, retentionDays);
  const latest = now.getTime() + MAX_FUTURE_MS;
  const kept: EgressAuditEvent[] = [];
  const future: DeadLetter[] = [];
  let expired = 0;
  for (const event of events) {
    if (dayExpired(utcDay(event.time), cutoff)) expired += 1;
    else if (Date.parse(event.time) > latest)
      future.push({
        payload: JSON.stringify(event),
        reason: `time ${event.time} is more than a day ahead of the worker's clock (${now.toISOString()})`,
      });
    else kept.push(event);
  }
  return { kept, expired, future };
}

export function toRow(event: EgressAuditEvent, team: string | null): EgressRow {
  return {
    id: event.id,
    time: event.time,
    node: event.node,
    namespace: event.sandbox.namespace,
    sandbox: event.sandbox.name,
    sandboxUid: event.sandbox.uid,
    team,
    method: event.method,
    scheme: event.scheme,
    host: event.host,
    port: event.port,
    path: event.path,
    status: event.status,
    decision: event.decision,
    reason: event.reason,
    policy: event.policy,
    secrets: event.secretsInjected,
    bytesSent: event.bytesSent,
    bytesReceived: event.bytesReceived,
    durationMs: event.durationMs,
  };
}

/** zod's issues as `path: message; …` (zod's messages name expectations, never the values). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

/**
 * A line that is not even JSON is kept as written, except anything after a
 * `?` up to the next space or quote: audit data must never hold a query
 * string, not even in the dead-letter table.
 */
export function redactRawLine(line: string): string {
  return truncate(line.replace(/\?[^\s"']*/g, "?[query removed]"));
}

function truncate(text: string): string {
  return text.length > MAX_PAYLOAD
    ? `${text.slice(0, MAX_PAYLOAD)}…[${text.length - MAX_PAYLOAD} more characters]`
    : text;
}

/**
 * A JSON line that is not a valid event is kept with its known fields as
 * written, the query of its path removed, and the values of fields the
 * schema does not know replaced (they might be header values).
 */
function redactEventLike(value: unknown, line: string): string {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return redactRawLine(line);
  const kept: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (!KNOWN_FIELDS.has(key)) kept[key] = "[unknown field: value removed]";
    else if (typeof field === "string") kept[key] = field.replace(/\?.*$/s, "?[query removed]");
    else kept[key] = field;
  }
  return truncate(JSON.stringify(kept));
}

function safeStringify(data: unknown): string {
  try {
    return JSON.stringify(data) ?? String(data);
  } catch {
    return String(data);
  }
}

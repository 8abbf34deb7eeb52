/**
 * The egress audit event: one per HTTP(S) request a guest makes, whatever
 * the decision. It carries no query string and no secret values: secrets
 * appear only by name.
 */
import { z } from "zod";

/** The bullmq queue that carries audit events from agents to the dashboard's worker. */
export const AUDIT_QUEUE = "egress-audit";

/** The worker's backoff strategy for audit jobs (capped exponential with jitter). */
export const AUDIT_BACKOFF = "audit-capped";

/**
 * bullmq options of every job on the audit queues: a job is retried with the
 * worker's capped backoff until its rows commit (a Postgres outage of hours
 * still loses nothing), and a failed one is kept, never removed.
 */
export const AUDIT_JOB_OPTIONS = {
  attempts: 1_000_000,
  backoff: { type: AUDIT_BACKOFF },
  removeOnComplete: 1_000,
  removeOnFail: false,
} as const;

export const EgressDecision = z.enum(["allowed", "denied", "would-deny"]);
export type EgressDecision = z.infer<typeof EgressDecision>;

export const EgressAuditEvent = z.strictObject({
  id: z.uuid().meta({
    description: "Unique per request; delivery is at least once, so consumers dedupe on it.",
  }),
  time: z.iso.datetime(),
  node: z.string(),
  sandbox: z.strictObject({ uid: z.string(), name: z.string(), namespace: z.string() }),
  method: z.string(),
  scheme: z.enum(["http", "https"]),
  host: z.string(),
  port: z.int().min(0).max(65535),
  path: z.string().refine((p) => !p.includes("?"), "must not contain a query string"),
  status: z
    .int()
    .nullable()
    .meta({ description: "Upstream status, the refusal status, or null when no answer came." }),
  decision: EgressDecision,
  reason: z.string(),
  policy: z.string().nullable().meta({
    description: "The SandboxPolicy in force; null when only inline rules applied.",
  }),
  secretsInjected: z.array(z.string()),
  bytesSent: z.int().min(0).nullable(),
  bytesReceived: z.int().min(0).nullable(),
  durationMs: z.int().min(0),
});
export type EgressAuditEvent = z.infer<typeof EgressAuditEvent>;

/**
 * One job on AUDIT_QUEUE: consecutive lines of an agent's spool, each an
 * EgressAuditEvent as JSON. Lines travel unparsed so that one the worker
 * cannot read is dead-lettered as it was written, and the rest still land.
 */
export const AuditBatch = z.strictObject({
  node: z.string(),
  lines: z.array(z.string()).min(1),
});
export type AuditBatch = z.infer<typeof AuditBatch>;

/**
 * Redis pub/sub channel on which the worker announces committed egress rows
 * (an AuditCommitted message), so every dashboard replica's live tails read
 * what is new. Rows commit in `seq` order.
 */
export const AUDIT_COMMITTED_CHANNEL = "turgon:audit:egress-committed";
export const AuditCommitted = z.strictObject({ lastSeq: z.string().regex(/^\d+$/) });
export type AuditCommitted = z.infer<typeof AuditCommitted>;

/** The bullmq queue that carries exec session records from the router to the dashboard's worker. */
export const EXEC_AUDIT_QUEUE = "exec-audit";

/** One exec session at the edge: who ran what where, when, and how it ended. */
export const ExecAuditEvent = z.strictObject({
  id: z.uuid(),
  user: z.string(),
  sandbox: z.strictObject({ uid: z.string(), name: z.string(), namespace: z.string() }),
  node: z.string(),
  command: z.array(z.string()).nullable().meta({ description: "null: an interactive shell." }),
  tty: z.boolean(),
  startedAt: z.iso.datetime(),
  endedAt: z.iso.datetime(),
  exitCode: z.int().nullable().meta({ description: "null when the session ended without one." }),
  reason: z.string().meta({ description: "exited, client-closed, agent-closed or error: …" }),
});
export type ExecAuditEvent = z.infer<typeof ExecAuditEvent>;

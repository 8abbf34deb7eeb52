/**
 * Requests to allow a host (issue 13, "from denial to approval"): made from
 * a denied or would-deny egress event the user can see (the audit's access
 * rule: the row's team is one of theirs, or they are an admin), decided by
 * an admin or the team's owner/admin. Approval applies the change through
 * an `AllowHostApplier` as the APPROVER (impersonation, so Kubernetes RBAC
 * decides), and the request is marked approved with the change's id in the
 * same transaction: a refused apply leaves the request pending, nothing
 * half-applied.
 *
 * Plain `pg` (no "server-only"), so tests run it as the dashboard does; the
 * namespace → team mapping and the applier are passed in.
 */

import { TRPCError } from "@trpc/server";
import { hostPattern } from "@turgon/api/crd";
import { ZodRealError, z } from "zod";
import { PRESET_MS } from "../../lib/audit.ts";
import { type AuditAccess, getEgress, type Queryable } from "../audit/query.ts";

export type RequestKind = "SandboxPolicy" | "Sandbox";
export type RequestStatus = "pending" | "approved" | "rejected";

/** Who acts, as the session says. */
export interface Actor {
  id: string;
  email: string;
  isAdmin: boolean;
  /** Team slugs. */
  teams: readonly string[];
}

/** Namespace ↔ team, as the dashboard's KubeCache answers it. */
export interface TeamDirectory {
  teamOf(namespace: string): string | null;
  namespacesOf(teams: Iterable<string>): string[];
}

export interface AllowHostInput {
  namespace: string;
  kind: RequestKind;
  name: string;
  host: string;
  reason?: string | undefined;
  requestId: string;
  eventId?: string | undefined;
}

/**
 * Adds `host` to the target's allowedHosts as `actor` and records the change
 * (action "approve", with requestId); returns the change's id. Throws a
 * TRPCError (FORBIDDEN from RBAC, NOT_FOUND, CONFLICT…) when refused.
 */
export type AllowHostApplier = (actor: Actor, input: AllowHostInput) => Promise<{ id: string }>;

/** A pool: queries, and clients for transactions. */
export interface Database extends Queryable {
  connect(): Promise<Queryable & { release(): void }>;
}

export interface PolicyRequestRow {
  id: string;
  namespace: string;
  kind: RequestKind;
  name: string;
  host: string;
  eventId: string | null;
  eventTime: Date | null;
  reason: string | null;
  status: RequestStatus;
  requestedById: string;
  requestedByEmail: string;
  decidedById: string | null;
  decidedByEmail: string | null;
  decidedAt: Date | null;
  decisionNote: string | null;
  changeId: string | null;
  createdAt: Date;
}

const COLUMNS = `id::text AS id, namespace, kind, name, host, "eventId"::text AS "eventId",
  "eventTime", reason, status, "requestedById", "requestedByEmail", "decidedById",
  "decidedByEmail", "decidedAt", "decisionNote", "changeId"::text AS "changeId", "createdAt"`;

// Inputs, each refusal naming its field.
const note = z.string().trim().max(1000, "must be at most 1000 characters");
export const CreateInput = z.object({
  eventId: z.uuid(),
  eventTime: z.iso.datetime(),
  host: hostPattern.optional(),
  reason: note.optional(),
});
export type CreateInput = z.infer<typeof CreateInput>;
export const DecideInput = z.object({ id: z.uuid(), note: note.optional() });
export const ListInput = z.object({
  status: z.enum(["pending", "approved", "rejected", "all"]).default("pending"),
  namespace: z.string().min(1).max(63).optional(),
  limit: z.int().min(1).max(500).default(200),
});
export type ListInput = z.input<typeof ListInput>;

function fieldError(field: string, message: string): TRPCError {
  // A ZodRealError cause (in zod 4 only it is an Error, which tRPC keeps), so the
  // error formatter hands the form `fieldErrors[field]`.
  const cause = new ZodRealError([{ code: "custom", path: [field], message, input: undefined }]);
  return new TRPCError({ code: "BAD_REQUEST", message: `${field}: ${message}`, cause });
}

/** Whether pattern `pattern` (a host or `*.suffix`) covers `host`. */
export function patternCovers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === h) return true;
  if (p.startsWith("*.")) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return false;
}

/** The patterns that would cover `host`: itself and every `*.` of its parents. */
export function coveringPatterns(host: string): string[] {
  const labels = host.toLowerCase().split(".");
  const out = [host.toLowerCase()];
  for (let i = 1; i < labels.length - 1 && i < 64; i++) out.push(`*.${labels.slice(i).join(".")}`);
  return out;
}

function accessOf(actor: Actor): AuditAccess {
  return actor.isAdmin ? { all: true } : { all: false, teams: actor.teams };
}

/** The actor's role in a team ("owner", "admin", "member"), or null. */
export async function teamRoleOf(
  db: Queryable,
  userId: string,
  team: string,
): Promise<string | null> {
  const { rows } = await db.query<{ role: string }>(
    `SELECT m.role FROM member m JOIN organization o ON o.id = m."organizationId"
     WHERE m."userId" = $1 AND o.slug = $2`,
    [userId, team],
  );
  return rows[0]?.role ?? null;
}

/** Whether the actor decides requests for this namespace: admins, and its team's owners/admins. */
export async function canDecide(
  db: Queryable,
  teams: TeamDirectory,
  actor: Actor,
  namespace: string,
): Promise<boolean> {
  if (actor.isAdmin) return true;
  const team = teams.teamOf(namespace);
  if (!team || !actor.teams.includes(team)) return false;
  const role = await teamRoleOf(db, actor.id, team);
  return (role ?? "").split(",").some((r) => r === "owner" || r === "admin");
}

/** Teams in which the actor is an owner or admin. */
async function managedTeams(db: Queryable, actor: Actor): Promise<string[]> {
  const { rows } = await db.query<{ slug: string }>(
    `SELECT o.slug FROM member m JOIN organization o ON o.id = m."organizationId"
     WHERE m."userId" = $1 AND string_to_array(m.role, ',') && ARRAY['owner', 'admin']`,
    [actor.id],
  );
  return rows.map((r) => r.slug);
}

export interface CreateResult {
  request: PolicyRequestRow;
  /** True when a pending request for the same target and host already existed (it is returned). */
  duplicate: boolean;
}

async function inTransaction<T>(db: Database, work: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** The event behind a request, checked: visible to the actor, denied or would-deny, host covered. */
async function requestTarget(db: Queryable, actor: Actor, input: CreateInput) {
  const event = await getEgress(db, accessOf(actor), {
    time: new Date(input.eventTime),
    id: input.eventId,
  });
  if (!event) throw new TRPCError({ code: "NOT_FOUND", message: "No such audit event." });
  if (event.decision === "allowed")
    throw fieldError("eventId", "this request was allowed; there is nothing to allow");
  const host = (input.host ?? event.host).toLowerCase();
  if (!patternCovers(host, event.host))
    throw fieldError("host", `must be ${event.host} or a *. wildcard that covers it`);
  const kind: RequestKind = event.policy ? "SandboxPolicy" : "Sandbox";
  const name = event.policy ?? event.sandbox;
  return { event, host, kind, name };
}

async function insertOrFindPending(
  tx: Queryable,
  actor: Actor,
  target: { namespace: string; kind: RequestKind; name: string; host: string },
  extra: { eventId: string; eventTime: Date; reason: string | null },
): Promise<CreateResult> {
  // One pending request per (namespace, kind, name, host): serialized on that key.
  await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [
    `policy-request:${target.namespace}/${target.kind}/${target.name}/${target.host}`,
  ]);
  const existing = await tx.query<PolicyRequestRow>(
    `SELECT ${COLUMNS} FROM policy_request
     WHERE namespace = $1 AND kind = $2 AND name = $3 AND host = $4 AND status = 'pending'
     ORDER BY "createdAt" LIMIT 1`,
    [target.namespace, target.kind, target.name, target.host],
  );
  if (existing.rows[0]) return { request: existing.rows[0], duplicate: true };
  const { rows } = await tx.query<PolicyRequestRow>(
    `INSERT INTO policy_request (id, namespace, kind, name, host, "eventId", "eventTime", reason,
       status, "requestedById", "requestedByEmail")
     VALUES (gen_random_uuid(), $1, $2, $3, $4, $5::uuid, $6, $7, 'pending', $8, $9)
     RETURNING ${COLUMNS}`,
    [
      target.namespace,
      target.kind,
      target.name,
      target.host,
      extra.eventId,
      extra.eventTime,
      extra.reason,
      actor.id,
      actor.email,
    ],
  );
  const request = rows[0];
  if (!request) throw new Error("policy_request insert returned no row");
  return { request, duplicate: false };
}

/** A request to allow a host, from an egress event the actor can see. */
export async function createRequest(
  db: Database,
  actor: Actor,
  input: CreateInput,
): Promise<CreateResult> {
  const { event, host, kind, name } = await requestTarget(db, actor, input);
  return inTransaction(db, (tx) =>
    insertOrFindPending(
      tx,
      actor,
      { namespace: event.namespace, kind, name, host },
      { eventId: event.id, eventTime: new Date(event.time), reason: input.reason || null },
    ),
  );
}

async function lockedRequest(tx: Queryable, id: string): Promise<PolicyRequestRow | null> {
  const { rows } = await tx.query<PolicyRequestRow>(
    `SELECT ${COLUMNS} FROM policy_request WHERE id = $1::uuid FOR UPDATE`,
    [id],
  );
  return rows[0] ?? null;
}

/** Whether the actor may see this request at all: admins, its team's members. */
function visibleTo(teams: TeamDirectory, actor: Actor, request: PolicyRequestRow): boolean {
  if (actor.isAdmin || request.requestedById === actor.id) return true;
  const team = teams.teamOf(request.namespace);
  return team !== null && actor.teams.includes(team);
}

function alreadyDecided(request: PolicyRequestRow): TRPCError {
  return new TRPCError({
    code: "CONFLICT",
    message: `This request was already ${request.status} by ${request.decidedByEmail ?? "someone"}${
      request.decidedAt ? ` at ${request.decidedAt.toISOString()}` : ""
    }.`,
  });
}

async function approveLocked(
  tx: Queryable,
  actor: Actor,
  request: PolicyRequestRow,
  decisionNote: string | null,
  apply: AllowHostApplier,
): Promise<PolicyRequestRow> {
  // As the approver: Kubernetes RBAC decides (a member without patch rights gets FORBIDDEN).
  const change = await apply(actor, {
    namespace: request.namespace,
    kind: request.kind,
    name: request.name,
    host: request.host,
    reason: request.reason ?? undefined,
    requestId: request.id,
    eventId: request.eventId ?? undefined,
  });
  const { rows } = await tx.query<PolicyRequestRow>(
    `UPDATE policy_request SET status = 'approved', "decidedById" = $2, "decidedByEmail" = $3,
       "decidedAt" = now(), "decisionNote" = $4, "changeId" = $5::uuid
     WHERE id = $1::uuid RETURNING ${COLUMNS}`,
    [request.id, actor.id, actor.email, decisionNote, change.id],
  );
  const updated = rows[0];
  if (!updated) throw new Error("policy_request update returned no row");
  return updated;
}

/** The request to decide, locked: NOT_FOUND when the actor may not see it, CONFLICT once decided. */
async function pendingRequest(
  tx: Queryable,
  teams: TeamDirectory,
  actor: Actor,
  id: string,
): Promise<PolicyRequestRow> {
  const request = await lockedRequest(tx, id);
  if (!request || !visibleTo(teams, actor, request))
    throw new TRPCError({ code: "NOT_FOUND", message: "No such request." });
  if (request.status !== "pending") throw alreadyDecided(request);
  return request;
}

/** Approves a pending request: applies it as the actor, then marks it approved with the change. */
export async function approveRequest(
  db: Database,
  teams: TeamDirectory,
  actor: Actor,
  input: { id: string; note?: string | undefined },
  apply: AllowHostApplier,
): Promise<PolicyRequestRow> {
  return inTransaction(db, async (tx) => {
    const request = await pendingRequest(tx, teams, actor, input.id);
    return approveLocked(tx, actor, request, input.note || null, apply);
  });
}

/** Rejects a pending request (admins and the team's owners/admins). */
export async function rejectRequest(
  db: Database,
  teams: TeamDirectory,
  actor: Actor,
  input: { id: string; note?: string | undefined },
): Promise<PolicyRequestRow> {
  return inTransaction(db, async (tx) => {
    const request = await pendingRequest(tx, teams, actor, input.id);
    if (!(await canDecide(tx, teams, actor, request.namespace)))
      throw new TRPCError({
        code: "FORBIDDEN",
        message: "Only an admin or the team's owner may reject requests.",
      });
    const { rows } = await tx.query<PolicyRequestRow>(
      `UPDATE policy_request SET status = 'rejected', "decidedById" = $2, "decidedByEmail" = $3,
         "decidedAt" = now(), "decisionNote" = $4
       WHERE id = $1::uuid RETURNING ${COLUMNS}`,
      [request.id, actor.id, actor.email, input.note || null],
    );
    const updated = rows[0];
    if (!updated) throw new Error("policy_request update returned no row");
    return updated;
  });
}

/**
 * "Allow now" from an audit row, for admins and owners: a request made and
 * approved in one transaction (a pending one for the same host is approved
 * instead). Refused by RBAC, nothing is recorded.
 */
export async function allowNow(
  db: Database,
  teams: TeamDirectory,
  actor: Actor,
  input: CreateInput & { note?: string | undefined },
  apply: AllowHostApplier,
): Promise<PolicyRequestRow> {
  const { event, host, kind, name } = await requestTarget(db, actor, input);
  if (!(await canDecide(db, teams, actor, event.namespace)))
    throw new TRPCError({
      code: "FORBIDDEN",
      message: "Only an admin or the team's owner may allow a host directly; send a request.",
    });
  return inTransaction(db, async (tx) => {
    const { request } = await insertOrFindPending(
      tx,
      actor,
      { namespace: event.namespace, kind, name, host },
      { eventId: event.id, eventTime: new Date(event.time), reason: input.reason || null },
    );
    const locked = await lockedRequest(tx, request.id);
    if (locked?.status !== "pending") throw alreadyDecided(locked ?? request);
    return approveLocked(tx, actor, locked, input.note || null, apply);
  });
}

export interface RequestListItem extends PolicyRequestRow {
  /** Whether this actor may approve or reject it. */
  canDecide: boolean;
  /** The sandbox of the event it came from (null once the event's day is past retention). */
  eventSandbox: string | null;
}

/**
 * Requests the actor may see: everything for admins, every request in the
 * namespaces of teams they own or administer, and their own. Pending first,
 * newest first.
 */
export async function listRequests(
  db: Queryable,
  teams: TeamDirectory,
  actor: Actor,
  input: ListInput,
): Promise<RequestListItem[]> {
  const { status, namespace, limit } = ListInput.parse(input);
  const values: unknown[] = [];
  const where: string[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  let managedNamespaces: string[] = [];
  if (!actor.isAdmin) {
    managedNamespaces = teams.namespacesOf(await managedTeams(db, actor));
    where.push(
      `(namespace = ANY(${param(managedNamespaces)}::text[]) OR "requestedById" = ${param(actor.id)})`,
    );
  }
  if (status !== "all") where.push(`status = ${param(status)}`);
  if (namespace) where.push(`namespace = ${param(namespace)}`);
  // The event's sandbox, for the link to it: a keyed lookup per listed request.
  const { rows } = await db.query<PolicyRequestRow & { eventSandbox: string | null }>(
    `SELECT r.*, (SELECT e.sandbox FROM egress_event e
                  WHERE e."time" = r."eventTime" AND e.id = r."eventId"::uuid) AS "eventSandbox"
     FROM (SELECT ${COLUMNS} FROM policy_request
           ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY (status = 'pending') DESC, "createdAt" DESC LIMIT ${param(limit)}) r
     ORDER BY (r.status = 'pending') DESC, r."createdAt" DESC`,
    values,
  );
  const managed = new Set(managedNamespaces);
  return rows.map((row) => ({ ...row, canDecide: actor.isAdmin || managed.has(row.namespace) }));
}

/** The egress event a request is about, if the actor may see it; NOT_FOUND when not. */
async function visibleEvent(
  db: Queryable,
  actor: Actor,
  key: { eventId: string; eventTime: string },
) {
  const event = await getEgress(db, accessOf(actor), {
    time: new Date(key.eventTime),
    id: key.eventId,
  });
  if (!event) throw new TRPCError({ code: "NOT_FOUND", message: "No such audit event." });
  return event;
}

/** The requests made from one egress event (for the audit row's details). */
export async function requestsForEvent(
  db: Queryable,
  actor: Actor,
  key: { eventId: string; eventTime: string },
): Promise<PolicyRequestRow[]> {
  const event = await visibleEvent(db, actor, key);
  const { rows } = await db.query<PolicyRequestRow>(
    `SELECT ${COLUMNS} FROM policy_request WHERE "eventId" = $1::uuid ORDER BY "createdAt" DESC LIMIT 20`,
    [event.id],
  );
  return rows;
}

export interface AllowedByRow {
  id: string;
  kind: string;
  name: string;
  action: string;
  addedHosts: string[];
  userEmail: string;
  createdAt: Date;
  requestId: string | null;
  reason: string | null;
}

/**
 * "Who allowed this host, and when": the saved changes in the event's
 * namespace that added the host or a wildcard covering it, newest first.
 */
export async function allowedBy(
  db: Queryable,
  actor: Actor,
  key: { eventId: string; eventTime: string },
): Promise<AllowedByRow[]> {
  const event = await visibleEvent(db, actor, key);
  const { rows } = await db.query<AllowedByRow>(
    `SELECT id::text AS id, kind, name, action, "addedHosts", "userEmail", "createdAt",
       "requestId"::text AS "requestId", reason
     FROM policy_change WHERE namespace = $1 AND "addedHosts" && $2::text[]
     ORDER BY "createdAt" DESC LIMIT 20`,
    [event.namespace, coveringPatterns(event.host)],
  );
  return rows;
}

export const RolloutInput = z.object({
  namespace: z.string().min(1).max(63),
  policy: z.string().min(1).max(253),
  range: z.enum(["1h", "6h", "24h", "7d", "30d"]).default("7d"),
});
export type RolloutInput = z.input<typeof RolloutInput>;

export interface RolloutHost {
  host: string;
  count: number;
  sandboxes: number;
  firstSeen: Date;
  lastSeen: Date;
  /** One event of it (the latest), for requests made from it. */
  eventId: string;
  eventTime: Date;
}

/**
 * Report-mode rollout: the hosts that would have been denied under a
 * policy over the range (the actor's rows only), most frequent first.
 */
export async function wouldDenyHosts(
  db: Queryable,
  actor: Actor,
  input: RolloutInput,
  now = new Date(),
): Promise<RolloutHost[]> {
  const { namespace, policy, range } = RolloutInput.parse(input);
  const values: unknown[] = [namespace, policy, new Date(now.getTime() - PRESET_MS[range])];
  let access = "";
  if (!actor.isAdmin) {
    values.push([...actor.teams]);
    access = `AND team = ANY($${values.length}::text[])`;
  }
  const { rows } = await db.query<RolloutHost>(
    `SELECT host, count(*)::int AS count, count(DISTINCT sandbox)::int AS sandboxes,
       min("time") AS "firstSeen", max("time") AS "lastSeen",
       (array_agg(id::text ORDER BY "time" DESC))[1] AS "eventId",
       (array_agg("time" ORDER BY "time" DESC))[1] AS "eventTime"
     FROM egress_event
     WHERE namespace = $1 AND policy = $2 AND decision = 'would-deny'::"EgressDecision"
       AND "time" >= $3 ${access}
     GROUP BY host ORDER BY count(*) DESC, host LIMIT 500`,
    values,
  );
  return rows;
}

/**
 * The history of rule changes (PolicyChange rows in Postgres): one row per
 * saved version, with who made it, the diff against the version before,
 * the hosts it added and removed, and an optional reason.
 */
import type { PolicyChange, PrismaClient } from "@turgon/prisma";
import { hostChanges, specDiff } from "./diff.ts";

export type PolicyKind = "SandboxPolicy" | "Sandbox";
export type PolicyAction = "create" | "update" | "restore" | "approve" | "delete";

/** Who acts: their Kubernetes identity and their dashboard user id (for history). */
export interface Actor {
  userId: string;
  email: string;
}

export interface RecordChange {
  namespace: string;
  kind: PolicyKind;
  name: string;
  action: PolicyAction;
  /** The object's resourceVersion after the save. */
  resourceVersion: string;
  /** The rules before (undefined for a create) and after (undefined for a delete). */
  before: unknown;
  after: unknown;
  reason?: string | null | undefined;
  restoredFrom?: string | null | undefined;
  requestId?: string | null | undefined;
  actor: Actor;
}

/** Writes the history row of a saved change. */
export async function recordChange(db: PrismaClient, change: RecordChange): Promise<PolicyChange> {
  const { added, removed } = hostChanges(change.before, change.after);
  const reason = change.reason?.trim();
  return db.policyChange.create({
    data: {
      namespace: change.namespace,
      kind: change.kind,
      name: change.name,
      action: change.action,
      resourceVersion: change.resourceVersion,
      ...(change.after === undefined ? {} : { spec: change.after as object }),
      diff: specDiff(change.name, change.before, change.after),
      addedHosts: added,
      removedHosts: removed,
      reason: reason ? reason : null,
      restoredFrom: change.restoredFrom ?? null,
      requestId: change.requestId ?? null,
      userId: change.actor.userId,
      userEmail: change.actor.email,
    },
  });
}

/** The request a version approved: who asked, why, and the denied event it came from. */
export interface VersionRequest {
  id: string;
  namespace: string;
  kind: string;
  name: string;
  host: string;
  requestedByEmail: string;
  reason: string | null;
  eventId: string | null;
  eventTime: Date | null;
  /** The sandbox of the event (null once the event's day is past retention). */
  eventSandbox: string | null;
}

/** One saved version as the history pages show it (the rules themselves stay on the server). */
export interface HistoryVersion {
  id: string;
  action: string;
  resourceVersion: string;
  diff: string;
  addedHosts: string[];
  removedHosts: string[];
  reason: string | null;
  restoredFrom: string | null;
  userEmail: string;
  createdAt: Date;
  restorable: boolean;
  request: VersionRequest | null;
}

/** The object's saved versions, newest first, each with the request it approved. */
export async function historyOf(
  db: PrismaClient,
  target: { namespace: string; kind: PolicyKind; name: string },
  limit = 200,
): Promise<HistoryVersion[]> {
  const rows = await db.policyChange.findMany({
    where: target,
    orderBy: { createdAt: "desc" },
    take: limit,
  });
  const requests = await requestsOf(
    db,
    rows.flatMap((row) => (row.requestId ? [row.requestId] : [])),
  );
  return rows.map((row) => ({
    id: row.id,
    action: row.action,
    resourceVersion: row.resourceVersion,
    diff: row.diff,
    addedHosts: row.addedHosts,
    removedHosts: row.removedHosts,
    reason: row.reason,
    restoredFrom: row.restoredFrom,
    userEmail: row.userEmail,
    createdAt: row.createdAt,
    restorable: row.spec !== null,
    request: (row.requestId && requests.get(row.requestId)) || null,
  }));
}

async function requestsOf(db: PrismaClient, ids: string[]): Promise<Map<string, VersionRequest>> {
  if (ids.length === 0) return new Map();
  const requests = await db.policyRequest.findMany({ where: { id: { in: ids } } });
  // One query for the events' sandboxes, not one per request.
  const keyed = requests.flatMap((r) =>
    r.eventId && r.eventTime ? [{ time: r.eventTime, id: r.eventId }] : [],
  );
  const events = keyed.length
    ? await db.egressEvent.findMany({
        where: { OR: keyed },
        select: { id: true, time: true, sandbox: true },
      })
    : [];
  const sandboxOf = new Map(events.map((e) => [`${e.time.getTime()}/${e.id}`, e.sandbox]));
  const found = new Map<string, VersionRequest>();
  for (const request of requests) {
    const key = request.eventTime ? `${request.eventTime.getTime()}/${request.eventId}` : "";
    found.set(request.id, {
      id: request.id,
      namespace: request.namespace,
      kind: request.kind,
      name: request.name,
      host: request.host,
      requestedByEmail: request.requestedByEmail,
      reason: request.reason,
      eventId: request.eventId,
      eventTime: request.eventTime,
      eventSandbox: sandboxOf.get(key) ?? null,
    });
  }
  return found;
}

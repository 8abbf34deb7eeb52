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

/** The object's saved versions, newest first. */
export function historyOf(
  db: PrismaClient,
  target: { namespace: string; kind: PolicyKind; name: string },
  limit = 200,
): Promise<PolicyChange[]> {
  return db.policyChange.findMany({
    where: target,
    orderBy: { createdAt: "desc" },
    take: limit,
  });
}

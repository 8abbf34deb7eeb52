/**
 * Editing a SandboxPolicy: validate (zod, then a dry-run at the API server
 * as the user), preview (the diff against the current version and the
 * sandboxes it reaches live), save (a replace carrying the resourceVersion
 * the user loaded; a newer version is a CONFLICT that carries it), create,
 * delete and restore. Every write is made as the user, so Kubernetes RBAC
 * decides, and each saved version is recorded in the history.
 */

import { TRPCError } from "@trpc/server";
import type { Sandbox, SandboxPolicy } from "@turgon/api/crd";
import type { PolicyChange } from "@turgon/prisma";
import { statusOf } from "../kube/errors.ts";
import { type PolicyAction, recordChange } from "./changes.ts";
import { conflictError } from "./conflicts.ts";
import type { ActingPrincipal, PolicyDeps } from "./deps.ts";
import { hostChanges, specDiff } from "./diff.ts";
import { apiServerIssues, type FieldIssue, invalid, mergeIssues, schemaIssues } from "./issues.ts";
import { createPolicy, deletePolicy, readPolicy, replacePolicy } from "./kube.ts";
import { type ReachedSandbox, sandboxesUsing, templateNetworks } from "./reach.ts";

type Spec = SandboxPolicy["spec"];

export interface PolicyRef {
  namespace: string;
  name: string;
}

/**
 * The rules' issues: the zod schema's, and the API server's own from a
 * dry-run (replace, or create when `create`) as the user, which persists
 * nothing. The dry-run runs even when the schema already objects, so CEL
 * rules speak for themselves. A refusal other than 422 (403, 404) is thrown.
 */
export async function validateSpec(
  deps: Pick<PolicyDeps, "apis">,
  ref: PolicyRef & { spec: unknown; create?: boolean },
): Promise<FieldIssue[]> {
  const schema = schemaIssues(ref.spec);
  let server: FieldIssue[] = [];
  try {
    const write = { namespace: ref.namespace, name: ref.name, spec: ref.spec as Spec };
    if (ref.create) await createPolicy(deps.apis, write, { dryRun: true });
    else {
      const base = await readPolicy(deps.apis, ref.namespace, ref.name);
      await replacePolicy(deps.apis, write, { dryRun: true, base });
    }
  } catch (error) {
    const issues = apiServerIssues(error);
    if (!issues) throw error;
    server = issues;
  }
  return mergeIssues(schema, server);
}

async function conflictWith(
  deps: PolicyDeps,
  ref: PolicyRef,
  current: SandboxPolicy,
  /** The version the user loaded, and its rules when they sent them. */
  loaded: { resourceVersion: string; loadedSpec?: unknown },
): Promise<TRPCError> {
  const rv = current.metadata.resourceVersion ?? "";
  const savedAt = (resourceVersion: string) =>
    deps.db.policyChange.findFirst({
      where: { ...ref, kind: "SandboxPolicy", resourceVersion },
      orderBy: { createdAt: "desc" },
    });
  const [loadedRow, theirRow] = await Promise.all([savedAt(loaded.resourceVersion), savedAt(rv)]);
  return conflictError({
    resourceVersion: rv,
    name: ref.name,
    current: current.spec,
    loaded: loadedRow?.spec ?? loaded.loadedSpec,
    theirs: theirRow,
    subject: "this policy",
    it: "it",
  });
}

export interface SaveInput extends PolicyRef {
  spec: unknown;
  /** The resourceVersion the user loaded. */
  resourceVersion: string;
  /** The rules the user loaded (for the conflict's diff when history does not have them). */
  loadedSpec?: unknown;
  reason?: string | null | undefined;
}

/**
 * Saves the rules over the version the user loaded. Invalid rules are
 * BAD_REQUEST with field errors (nothing written); a newer version on the
 * server is CONFLICT (nothing written); RBAC's refusal is its KubeApiError.
 */
export async function savePolicy(
  deps: PolicyDeps,
  actor: ActingPrincipal,
  input: SaveInput,
  options: { action?: PolicyAction; restoredFrom?: string } = {},
): Promise<PolicyChange> {
  const issues = schemaIssues(input.spec);
  if (issues.length > 0) throw invalid(issues);
  const ref = { namespace: input.namespace, name: input.name };
  const current = await readPolicy(deps.apis, ref.namespace, ref.name);
  if (current.metadata.resourceVersion !== input.resourceVersion)
    throw await conflictWith(deps, ref, current, input);
  let saved: SandboxPolicy;
  try {
    saved = await replacePolicy(
      deps.apis,
      { ...ref, spec: input.spec as Spec, resourceVersion: input.resourceVersion },
      { base: current },
    );
  } catch (error) {
    if (statusOf(error) === 409)
      throw await conflictWith(
        deps,
        ref,
        await readPolicy(deps.apis, ref.namespace, ref.name),
        input,
      );
    const server = apiServerIssues(error);
    if (server) throw invalid(server);
    throw error;
  }
  return recordChange(deps.db, {
    ...ref,
    kind: "SandboxPolicy",
    action: options.action ?? "update",
    resourceVersion: saved.metadata.resourceVersion ?? "",
    before: current.spec,
    after: saved.spec,
    reason: input.reason,
    restoredFrom: options.restoredFrom,
    actor: { userId: actor.userId, email: actor.email },
  });
}

/** Creates a policy as the user and records it. */
export async function createNewPolicy(
  deps: PolicyDeps,
  actor: ActingPrincipal,
  input: PolicyRef & { spec: unknown; reason?: string | null | undefined },
): Promise<PolicyChange> {
  const issues = schemaIssues(input.spec);
  if (issues.length > 0) throw invalid(issues);
  let created: SandboxPolicy;
  try {
    created = await createPolicy(deps.apis, {
      namespace: input.namespace,
      name: input.name,
      spec: input.spec as Spec,
    });
  } catch (error) {
    const server = apiServerIssues(error);
    if (server) throw invalid(server);
    throw error;
  }
  return recordChange(deps.db, {
    namespace: input.namespace,
    name: input.name,
    kind: "SandboxPolicy",
    action: "create",
    resourceVersion: created.metadata.resourceVersion ?? "",
    before: undefined,
    after: created.spec,
    reason: input.reason,
    actor: { userId: actor.userId, email: actor.email },
  });
}

/** Deletes a policy if it is still the version the user loaded, and records it. */
export async function removePolicy(
  deps: PolicyDeps,
  actor: ActingPrincipal,
  input: PolicyRef & { resourceVersion: string; reason?: string | null | undefined },
): Promise<PolicyChange> {
  const current = await readPolicy(deps.apis, input.namespace, input.name);
  if (current.metadata.resourceVersion !== input.resourceVersion)
    throw await conflictWith(deps, input, current, input);
  try {
    await deletePolicy(deps.apis, input.namespace, input.name, input.resourceVersion);
  } catch (error) {
    if (statusOf(error) === 409)
      throw await conflictWith(
        deps,
        input,
        await readPolicy(deps.apis, input.namespace, input.name),
        input,
      );
    throw error;
  }
  return recordChange(deps.db, {
    namespace: input.namespace,
    name: input.name,
    kind: "SandboxPolicy",
    action: "delete",
    resourceVersion: input.resourceVersion,
    before: current.spec,
    after: undefined,
    reason: input.reason,
    actor: { userId: actor.userId, email: actor.email },
  });
}

/**
 * Restores the rules of an earlier version: a new version (action
 * restore, restoredFrom the change) written over the current one, as the user.
 */
export async function restoreVersion(
  deps: PolicyDeps,
  actor: ActingPrincipal,
  input: { changeId: string; reason?: string | null | undefined },
): Promise<PolicyChange> {
  const change = await deps.db.policyChange.findUnique({ where: { id: input.changeId } });
  if (change?.kind !== "SandboxPolicy" || change.spec === null)
    throw new TRPCError({ code: "NOT_FOUND", message: "No such version to restore." });
  // Read as the user: RBAC refuses (403) a policy they may not read before anything is written.
  const current = await readPolicy(deps.apis, change.namespace, change.name);
  return savePolicy(
    deps,
    actor,
    {
      namespace: change.namespace,
      name: change.name,
      spec: change.spec,
      resourceVersion: current.metadata.resourceVersion ?? "",
      reason: input.reason ?? `restore of the version of ${change.createdAt.toISOString()}`,
    },
    { action: "restore", restoredFrom: change.id },
  );
}

export interface Preview {
  /** The version the diff is against. */
  resourceVersion: string;
  /** Whether the server has a newer version than the one the user loaded. */
  stale: boolean;
  diff: string;
  addedHosts: string[];
  removedHosts: string[];
  /** Sandboxes using the policy; those Running get the change live. */
  reaches: ReachedSandbox[];
}

/** The diff of `spec` against the current version, and the sandboxes the change reaches. */
export async function previewChange(
  deps: Pick<PolicyDeps, "apis">,
  sandboxes: readonly Sandbox[],
  input: PolicyRef & { spec: unknown; resourceVersion?: string | undefined },
): Promise<Preview> {
  const current = await readPolicy(deps.apis, input.namespace, input.name);
  const templates = await templateNetworks(deps.apis, input.namespace);
  const { added, removed } = hostChanges(current.spec, input.spec);
  return {
    resourceVersion: current.metadata.resourceVersion ?? "",
    stale:
      input.resourceVersion !== undefined &&
      input.resourceVersion !== current.metadata.resourceVersion,
    diff: specDiff(input.name, current.spec, input.spec),
    addedHosts: added,
    removedHosts: removed,
    reaches: sandboxesUsing(sandboxes, templates, input.namespace, input.name),
  };
}

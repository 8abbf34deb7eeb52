/**
 * Editing a Sandbox's own spec.network the way a SandboxPolicy is edited
 * (../policies/edit.ts): validate (the zod schema, what the operator would
 * refuse, then a dry-run patch as the user so CEL and admission errors come
 * back per field as `spec.network.…`), preview (the diff and this one
 * sandbox, reached live when Running), save, and restore from history
 * (PolicyChange rows of kind "Sandbox").
 *
 * Conflicts: the operator writes the Sandbox's status often, which bumps
 * metadata.resourceVersion, so the object's resourceVersion cannot stand for
 * "what the user loaded". The user's token is the spec.network they loaded:
 * a save reads the Sandbox, refuses (CONFLICT, the other person's change
 * shown) when its spec.network is not the loaded one, and otherwise patches
 * spec.network alone with the just-read resourceVersion as precondition.
 * When that precondition fails (a status write, or an edit of another part
 * of the spec, in between), it reads again and decides again, so only a
 * concurrent edit of spec.network is a conflict. Every read and write is
 * made as the user (impersonation: RBAC decides).
 */

import { TRPCError } from "@trpc/server";
import type { Sandbox } from "@turgon/api/crd";
import type { PolicyChange } from "@turgon/prisma";
import { statusOf } from "../kube/errors.ts";
import { type PolicyAction, recordChange } from "../policies/changes.ts";
import { conflictError } from "../policies/conflicts.ts";
import type { ActingPrincipal, PolicyDeps } from "../policies/deps.ts";
import { hostChanges, specDiff, specYaml } from "../policies/diff.ts";
import { apiServerIssues, type FieldIssue, invalid, mergeIssues } from "../policies/issues.ts";
import type { ReachedSandbox } from "../policies/reach.ts";
import { type Network, networkOf, patchNetwork, readSandbox } from "./kube.ts";
import { networkSchemaIssues, operatorIssues } from "./rules.ts";

export interface SandboxRef {
  namespace: string;
  name: string;
}

/** Attempts at a save when the object keeps changing elsewhere (status writes) in between. */
const ATTEMPTS = 5;

/** The label of the rules in diffs: the sandbox's name, as history (recordChange) labels them. */
const diffName = (name: string) => name;

const sameRules = (a: unknown, b: unknown) => specYaml(a ?? {}) === specYaml(b ?? {});

/**
 * The rules' issues: the schema's, the operator's (a policy that allows no
 * overrides, a missing policy or Secret), and the API server's from a
 * dry-run patch as the user, which persists nothing. A refusal other than
 * 422 (403, 404) is thrown.
 */
export async function validateNetwork(
  deps: Pick<PolicyDeps, "apis">,
  input: SandboxRef & { network: unknown },
): Promise<FieldIssue[]> {
  const sandbox = await readSandbox(deps.apis, input.namespace, input.name);
  const schema = networkSchemaIssues(input.network);
  const network = (input.network ?? {}) as Network;
  const operator =
    schema.length === 0
      ? await operatorIssues(
          deps.apis,
          { namespace: input.namespace, templateName: sandbox.spec.templateRef?.name },
          network,
        )
      : [];
  let server: FieldIssue[] = [];
  let target = targetOf(sandbox);
  for (let attempt = 1; ; attempt++) {
    try {
      await patchNetwork(deps.apis, target, network, { dryRun: true });
      break;
    } catch (error) {
      // A status write since the read: the dry-run's precondition is moot, read again.
      if (statusOf(error) === 409 && attempt < ATTEMPTS) {
        target = targetOf(await readSandbox(deps.apis, input.namespace, input.name));
        continue;
      }
      const issues = apiServerIssues(error);
      if (!issues) throw error;
      server = issues;
      break;
    }
  }
  return mergeIssues(schema, operator, server);
}

function targetOf(sandbox: Sandbox) {
  return {
    namespace: sandbox.metadata.namespace as string,
    name: sandbox.metadata.name as string,
    resourceVersion: sandbox.metadata.resourceVersion ?? "",
    hadNetwork: sandbox.spec.network !== undefined,
  };
}

async function conflictWith(
  deps: PolicyDeps,
  ref: SandboxRef,
  current: Sandbox,
  loaded: unknown,
): Promise<TRPCError> {
  const network = networkOf(current);
  // Who saved what is there now: the newest history row with these rules.
  const rows = await deps.db.policyChange.findMany({
    where: { ...ref, kind: "Sandbox" },
    orderBy: { createdAt: "desc" },
    take: 20,
  });
  return conflictError({
    resourceVersion: String(current.metadata.generation ?? ""),
    name: diffName(ref.name),
    current: network,
    loaded: loaded ?? {},
    theirs: rows.find((row) => row.spec !== null && sameRules(row.spec, network)),
    subject: "this sandbox's network rules",
    it: "them",
  });
}

export interface SaveNetworkInput extends SandboxRef {
  network: unknown;
  /** The spec.network the user loaded (their token: a different one on the server is a CONFLICT). */
  loadedNetwork: unknown;
  reason?: string | null | undefined;
}

/**
 * Saves the rules over the ones the user loaded, writing spec.network only.
 * Invalid rules (schema, operator, API server) are BAD_REQUEST with field
 * errors and nothing is written; someone else's newer spec.network is
 * CONFLICT carrying their change; RBAC's refusal is its KubeApiError (403).
 */
export async function saveNetwork(
  deps: PolicyDeps,
  actor: ActingPrincipal,
  input: SaveNetworkInput,
  options: { action?: PolicyAction; restoredFrom?: string; requestId?: string | null } = {},
): Promise<PolicyChange> {
  const schema = networkSchemaIssues(input.network);
  if (schema.length > 0) throw invalid(schema);
  const network = (input.network ?? {}) as Network;
  const ref = { namespace: input.namespace, name: input.name };
  for (let attempt = 1; ; attempt++) {
    const current = await readSandbox(deps.apis, ref.namespace, ref.name);
    const before = networkOf(current);
    if (!sameRules(before, input.loadedNetwork))
      throw await conflictWith(deps, ref, current, input.loadedNetwork);
    if (attempt === 1) {
      const refused = await operatorIssues(
        deps.apis,
        { namespace: ref.namespace, templateName: current.spec.templateRef?.name },
        network,
      );
      if (refused.length > 0) throw invalid(refused);
    }
    let saved: Sandbox | undefined;
    try {
      saved = await patchNetwork(deps.apis, targetOf(current), network);
    } catch (error) {
      // The object changed since it was read: read again and judge spec.network again.
      if (statusOf(error) === 409 && attempt < ATTEMPTS) continue;
      if (statusOf(error) === 409)
        throw await conflictWith(deps, ref, current, input.loadedNetwork);
      const server = apiServerIssues(error);
      if (server) throw invalid(server);
      throw error;
    }
    return recordChange(deps.db, {
      ...ref,
      kind: "Sandbox",
      action: options.action ?? "update",
      resourceVersion: (saved ?? current).metadata.resourceVersion ?? "",
      before,
      after: saved ? networkOf(saved) : network,
      reason: input.reason,
      restoredFrom: options.restoredFrom,
      requestId: options.requestId ?? null,
      actor: { userId: actor.userId, email: actor.email },
    });
  }
}

/** Writes an earlier version's rules as a new version (action restore), as the user. */
export async function restoreNetworkVersion(
  deps: PolicyDeps,
  actor: ActingPrincipal,
  input: SandboxRef & { changeId: string; reason?: string | null | undefined },
): Promise<PolicyChange> {
  const change = await deps.db.policyChange.findUnique({ where: { id: input.changeId } });
  if (
    change?.kind !== "Sandbox" ||
    change.namespace !== input.namespace ||
    change.name !== input.name ||
    change.spec === null
  )
    throw new TRPCError({ code: "NOT_FOUND", message: "No such version to restore." });
  // Read as the user: RBAC refuses (403) a sandbox they may not read before anything is written.
  const current = await readSandbox(deps.apis, change.namespace, change.name);
  return saveNetwork(
    deps,
    actor,
    {
      namespace: change.namespace,
      name: change.name,
      network: change.spec,
      loadedNetwork: networkOf(current),
      reason: input.reason ?? `restore of the version of ${change.createdAt.toISOString()}`,
    },
    { action: "restore", restoredFrom: change.id },
  );
}

export interface NetworkPreview {
  /** Whether spec.network on the server is no longer what the user loaded. */
  stale: boolean;
  diff: string;
  addedHosts: string[];
  removedHosts: string[];
  /** This sandbox: Running gets the change live, otherwise on its next start. */
  reaches: ReachedSandbox[];
}

/** The diff of `network` against the sandbox's current spec.network, and whom it reaches. */
export async function previewNetwork(
  deps: Pick<PolicyDeps, "apis">,
  input: SandboxRef & { network: unknown; loadedNetwork?: unknown },
): Promise<NetworkPreview> {
  const current = await readSandbox(deps.apis, input.namespace, input.name);
  const before = networkOf(current);
  const { added, removed } = hostChanges(before, input.network);
  return {
    stale: input.loadedNetwork !== undefined && !sameRules(before, input.loadedNetwork),
    diff: specDiff(diffName(input.name), before, input.network ?? {}),
    addedHosts: added,
    removedHosts: removed,
    reaches: [
      {
        namespace: input.namespace,
        name: input.name,
        phase: current.metadata.deletionTimestamp
          ? "Terminating"
          : (current.status?.phase ?? "Pending"),
        via: "sandbox",
      },
    ],
  };
}

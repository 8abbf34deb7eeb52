/**
 * SandboxPolicies: the policies page, the editor (validate, preview, save
 * with the loaded resourceVersion), history and restore, and the Secret
 * picker. Every Kubernetes read and write is made as the user through
 * impersonation, so RBAC decides (members read; owners and admins write);
 * history, which lives in Postgres, is shown only to those Kubernetes lets
 * read the namespace's policies. See ~/server/policies.
 */
import { z } from "zod";
import { filterFor } from "~/server/kube/index.ts";
import { toTRPCError } from "~/server/kube-errors.ts";
import { mayEditPolicies, mustReadPolicies } from "~/server/policies/access.ts";
import { historyOf } from "~/server/policies/changes.ts";
import { specYaml } from "~/server/policies/diff.ts";
import {
  createNewPolicy,
  previewChange,
  removePolicy,
  restoreVersion,
  savePolicy,
  validateSpec,
} from "~/server/policies/edit.ts";
import { readPolicy } from "~/server/policies/kube.ts";
import { policiesByNamespace } from "~/server/policies/list.ts";
import { sandboxesUsing, templateNetworks } from "~/server/policies/reach.ts";
import { injectableSecrets } from "~/server/policies/secrets.ts";
import { actingPrincipalOf, policyDeps } from "~/server/policies/session.ts";
import { namespaceName, ObjectRef } from "../object-ref.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";
import { kubeCache } from "./sandboxes.ts";

const resourceVersion = z.string().min(1).max(64);
const PolicyRef = ObjectRef;
/** The rules: only an object here; the zod schema and the API server judge them (field errors). */
const spec = z.record(z.string(), z.unknown());
const reason = z.string().max(1000).nullish();
const uuid = z.uuid();

/** Runs a call, mapping what the API server answered to tRPC errors. */
async function kube<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toTRPCError(error);
  }
}

export const policiesRouter = createTRPCRouter({
  /** Policies per namespace the user may see, with sandbox counts and mode. */
  list: protectedProcedure.query(async ({ ctx }) => {
    const actor = actingPrincipalOf(ctx.session);
    const cache = await kubeCache();
    const snapshot = cache.snapshot(filterFor(actor));
    const namespaces = snapshot.namespaces
      .map((ns) => ns.metadata?.name as string)
      .filter(Boolean)
      .sort()
      .map((ns) => ({ name: ns, team: cache.teamOf(ns) }));
    const { apis } = policyDeps(actor);
    return {
      namespaces: await kube(() => policiesByNamespace(apis, namespaces, snapshot.sandboxes)),
    };
  }),

  /** One policy as the user reads it, its YAML, whether they may save it, and who uses it. */
  get: protectedProcedure.input(PolicyRef).query(async ({ ctx, input }) => {
    const actor = actingPrincipalOf(ctx.session);
    const { apis } = policyDeps(actor);
    return kube(async () => {
      const policy = await readPolicy(apis, input.namespace, input.name);
      const cache = await kubeCache();
      const [canEdit, templates] = await Promise.all([
        mayEditPolicies(apis, input.namespace),
        templateNetworks(apis, input.namespace),
      ]);
      return {
        namespace: input.namespace,
        name: input.name,
        resourceVersion: policy.metadata.resourceVersion ?? "",
        spec: policy.spec,
        yaml: specYaml(policy.spec),
        canEdit,
        reaches: sandboxesUsing(
          cache.snapshot(filterFor(actor)).sandboxes,
          templates,
          input.namespace,
          input.name,
        ),
      };
    });
  }),

  /** Field issues of the rules: the zod schema's and the API server's dry-run (nothing persisted). */
  validate: protectedProcedure
    .input(PolicyRef.extend({ spec: z.unknown(), create: z.boolean().optional() }))
    .mutation(async ({ ctx, input }) => {
      const { apis } = policyDeps(actingPrincipalOf(ctx.session));
      const issues = await kube(() => validateSpec({ apis }, input));
      return { ok: issues.length === 0, issues };
    }),

  /** The diff against the current version and the sandboxes it reaches. */
  preview: protectedProcedure
    .input(PolicyRef.extend({ spec, resourceVersion: resourceVersion.optional() }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const { apis } = policyDeps(actor);
      const cache = await kubeCache();
      return kube(() => previewChange({ apis }, cache.snapshot(filterFor(actor)).sandboxes, input));
    }),

  /** Saves over the loaded version; CONFLICT (data.conflict) when someone saved meanwhile. */
  save: protectedProcedure
    .input(PolicyRef.extend({ spec, resourceVersion, loadedSpec: spec.optional(), reason }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const change = await kube(() => savePolicy(policyDeps(actor), actor, input));
      return { id: change.id, resourceVersion: change.resourceVersion };
    }),

  create: protectedProcedure
    .input(PolicyRef.extend({ spec, reason }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const change = await kube(() => createNewPolicy(policyDeps(actor), actor, input));
      return { id: change.id, resourceVersion: change.resourceVersion };
    }),

  delete: protectedProcedure
    .input(PolicyRef.extend({ resourceVersion, reason }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const change = await kube(() => removePolicy(policyDeps(actor), actor, input));
      return { id: change.id };
    }),

  /** Saved versions, newest first (only for users Kubernetes lets read the namespace's policies). */
  history: protectedProcedure.input(PolicyRef).query(async ({ ctx, input }) => {
    const actor = actingPrincipalOf(ctx.session);
    const deps = policyDeps(actor);
    await kube(() => mustReadPolicies(deps.apis, input.namespace));
    const versions = await historyOf(deps.db, { ...input, kind: "SandboxPolicy" });
    const canEdit = await kube(() => mayEditPolicies(deps.apis, input.namespace));
    return { canEdit, versions };
  }),

  /** Writes an earlier version's rules as a new version (action restore). */
  restore: protectedProcedure
    .input(z.object({ changeId: uuid, reason }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const change = await kube(() => restoreVersion(policyDeps(actor), actor, input));
      return { id: change.id, resourceVersion: change.resourceVersion };
    }),

  /** Injectable Secrets' names and key names (never values), listed as the user. */
  injectableSecrets: protectedProcedure
    .input(z.object({ namespace: namespaceName }))
    .query(async ({ ctx, input }) => {
      const { apis } = policyDeps(actingPrincipalOf(ctx.session));
      return { secrets: await kube(() => injectableSecrets(apis, input.namespace)) };
    }),
});

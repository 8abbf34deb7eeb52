/**
 * A sandbox's network: its effective egress policy, as the operator
 * computes it (`mergeNetworkLayers` of @turgon/api/policy): its
 * SandboxPolicy, under its template's network rules, under its own inline
 * rules, each rule with its origin; and the editor of its own
 * spec.network (validate, preview, save, history, restore; see
 * ~/server/sandbox-network). Every object is read and written as the user
 * (impersonation: RBAC decides). Secrets are shown by name and hosts only,
 * never their value.
 */
import {
  GROUP,
  type Sandbox,
  type SandboxPolicy,
  type SandboxTemplate,
  VERSION,
} from "@turgon/api/crd";
import { mergeNetworkLayers, policyRefOf } from "@turgon/api/policy";
import { z } from "zod";
import { asTRPC, toTRPCError } from "~/server/kube-errors.ts";
import { historyOf } from "~/server/policies/changes.ts";
import { specYaml } from "~/server/policies/diff.ts";
import { listPolicies } from "~/server/policies/kube.ts";
import { actingPrincipalOf, policyDeps } from "~/server/policies/session.ts";
import { mayEditSandbox, mustReadSandbox } from "~/server/sandbox-network/access.ts";
import {
  previewNetwork,
  restoreNetworkVersion,
  saveNetwork,
  validateNetwork,
} from "~/server/sandbox-network/edit.ts";
import { networkOf, readSandbox } from "~/server/sandbox-network/kube.ts";
import { ObjectRef } from "../object-ref.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";
import { apisFor } from "./sandboxes.ts";

const SandboxRef = ObjectRef;
/** The rules: only an object here; the zod schema, the operator's rules and the API server judge them. */
const network = z.record(z.string(), z.unknown());
const reason = z.string().max(1000).nullish();

/** Runs a call, mapping what the API server answered to tRPC errors. */
async function kube<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toTRPCError(error);
  }
}

const plural = (name: string) => ({ group: GROUP, version: VERSION, plural: name }) as const;

export const sandboxNetworkRouter = createTRPCRouter({
  effective: protectedProcedure.input(SandboxRef).query(async ({ ctx, input }) => {
    const apis = apisFor(ctx.session);
    const sandbox = (await asTRPC(() =>
      apis.customObjects.getNamespacedCustomObject({ ...plural("sandboxes"), ...input }),
    )) as Sandbox;
    const problems: string[] = [];
    const read = async <T>(kind: string, name: string): Promise<T | undefined> => {
      try {
        return (await apis.customObjects.getNamespacedCustomObject({
          ...plural(kind),
          namespace: input.namespace,
          name,
        })) as T;
      } catch (error) {
        const mapped = toTRPCError(error);
        problems.push(
          `${kind} ${name}: ${mapped instanceof Error ? mapped.message : String(mapped)}`,
        );
        return undefined;
      }
    };
    const templateName = sandbox.spec.templateRef?.name;
    const template = templateName
      ? await read<SandboxTemplate>("sandboxtemplates", templateName)
      : undefined;
    const inline = sandbox.spec.network;
    const policyName = policyRefOf({ template: template?.spec.network, inline });
    const policy = policyName
      ? await read<SandboxPolicy>("sandboxpolicies", policyName)
      : undefined;
    const effective = mergeNetworkLayers({ policy, template: template?.spec.network, inline });
    return {
      policyName: policyName ?? null,
      templateName: templateName ?? null,
      allowSandboxOverrides: policy?.spec.allowSandboxOverrides ?? false,
      rules: {
        ...effective.rules,
        // By name and hosts only.
        secrets: effective.rules.secrets.map(({ name, hosts }) => ({ name, hosts })),
      },
      origins: effective.origins,
      secretOrigins: effective.secretOrigins,
      problems,
    };
  }),

  /**
   * The sandbox's own spec.network as the user reads it (the editor's
   * starting point and its save token), whether they may save it, and the
   * namespace's SandboxPolicies for the policyRef picker.
   */
  get: protectedProcedure.input(SandboxRef).query(async ({ ctx, input }) => {
    const actor = actingPrincipalOf(ctx.session);
    const { apis } = policyDeps(actor);
    return kube(async () => {
      const sandbox = await readSandbox(apis, input.namespace, input.name);
      const [canEdit, policies] = await Promise.all([
        mayEditSandbox(apis, input.namespace, input.name),
        listPolicies(apis, input.namespace).catch(() => []),
      ]);
      const network = networkOf(sandbox);
      return {
        ...input,
        generation: sandbox.metadata.generation ?? 0,
        phase: sandbox.status?.phase ?? "Pending",
        templateName: sandbox.spec.templateRef?.name ?? null,
        network,
        yaml: specYaml(network),
        canEdit,
        policies: policies.map((p) => ({
          name: p.metadata.name as string,
          mode: p.spec.mode ?? "enforce",
          allowSandboxOverrides: p.spec.allowSandboxOverrides ?? false,
        })),
      };
    });
  }),

  /** Field issues of the rules: schema, operator, and the API server's dry-run (nothing persisted). */
  validate: protectedProcedure
    .input(SandboxRef.extend({ network: z.unknown() }))
    .mutation(async ({ ctx, input }) => {
      const { apis } = policyDeps(actingPrincipalOf(ctx.session));
      const issues = await kube(() => validateNetwork({ apis }, input));
      return { ok: issues.length === 0, issues };
    }),

  /** The diff against the current spec.network, and this sandbox (live when Running). */
  preview: protectedProcedure
    .input(SandboxRef.extend({ network, loadedNetwork: network.optional() }))
    .mutation(async ({ ctx, input }) => {
      const { apis } = policyDeps(actingPrincipalOf(ctx.session));
      return kube(() => previewNetwork({ apis }, input));
    }),

  /** Saves spec.network over the loaded one; CONFLICT (data.conflict) when someone else changed it. */
  save: protectedProcedure
    .input(SandboxRef.extend({ network, loadedNetwork: network, reason }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const deps = policyDeps(actor);
      const change = await kube(() => saveNetwork(deps, actor, input));
      const sandbox = await kube(() => readSandbox(deps.apis, input.namespace, input.name));
      return {
        id: change.id,
        generation: sandbox.metadata.generation ?? 0,
        network: networkOf(sandbox),
      };
    }),

  /** Saved versions of spec.network, newest first (only for users Kubernetes lets read the sandbox). */
  history: protectedProcedure.input(SandboxRef).query(async ({ ctx, input }) => {
    const actor = actingPrincipalOf(ctx.session);
    const deps = policyDeps(actor);
    await kube(() => mustReadSandbox(deps.apis, input.namespace, input.name));
    const [versions, canEdit] = await Promise.all([
      historyOf(deps.db, { ...input, kind: "Sandbox" }),
      kube(() => mayEditSandbox(deps.apis, input.namespace, input.name)),
    ]);
    return { canEdit, versions };
  }),

  /** Writes an earlier version's spec.network as a new version (action restore). */
  restore: protectedProcedure
    .input(SandboxRef.extend({ changeId: z.uuid(), reason }))
    .mutation(async ({ ctx, input }) => {
      const actor = actingPrincipalOf(ctx.session);
      const change = await kube(() => restoreNetworkVersion(policyDeps(actor), actor, input));
      return { id: change.id };
    }),
});

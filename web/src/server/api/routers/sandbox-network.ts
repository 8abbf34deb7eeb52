/**
 * A sandbox's effective egress policy, as the operator computes it
 * (`mergeNetworkLayers` of @turgon/api/policy): its SandboxPolicy, under its
 * template's network rules, under its own inline rules, each rule with its
 * origin. Every object is read as the user (impersonation: RBAC decides).
 * Secrets are shown by name and hosts only, never their Secret or value.
 */
import {
  dnsLabel,
  GROUP,
  type Sandbox,
  type SandboxPolicy,
  type SandboxTemplate,
  VERSION,
} from "@turgon/api/crd";
import { mergeNetworkLayers, policyRefOf } from "@turgon/api/policy";
import { z } from "zod";
import { asTRPC, toTRPCError } from "~/server/kube-errors.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";
import { apisFor } from "./sandboxes.ts";

const plural = (name: string) => ({ group: GROUP, version: VERSION, plural: name }) as const;

export const sandboxNetworkRouter = createTRPCRouter({
  effective: protectedProcedure
    .input(z.object({ namespace: dnsLabel, name: z.string().min(1).max(253) }))
    .query(async ({ ctx, input }) => {
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
});

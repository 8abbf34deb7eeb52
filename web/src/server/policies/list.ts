/**
 * The policies page: per namespace the user may see (their teams'; every
 * namespace for admins), the SandboxPolicies listed as the user, with the
 * number of sandboxes that use each and its mode.
 */
import type { Sandbox } from "@turgon/api/crd";
import { statusOf } from "../kube/errors.ts";
import type { ImpersonatedApis } from "../kube/impersonation.ts";
import { listPolicies } from "./kube.ts";
import { policyOfSandbox, templateNetworks } from "./reach.ts";

export interface PolicyRow {
  namespace: string;
  name: string;
  mode: "enforce" | "report";
  allowedHosts: number;
  sandboxes: number;
  resourceVersion: string;
}

export interface NamespacePolicies {
  namespace: string;
  team: string;
  policies: PolicyRow[];
  /** Set when the user may not list policies there (RBAC). */
  error?: string;
}

export async function policiesByNamespace(
  apis: ImpersonatedApis,
  namespaces: readonly { name: string; team: string }[],
  sandboxes: readonly Sandbox[],
): Promise<NamespacePolicies[]> {
  return Promise.all(
    namespaces.map(async ({ name: namespace, team }): Promise<NamespacePolicies> => {
      try {
        const [policies, templates] = await Promise.all([
          listPolicies(apis, namespace),
          templateNetworks(apis, namespace),
        ]);
        const counts = new Map<string, number>();
        for (const sandbox of sandboxes) {
          if (sandbox.metadata.namespace !== namespace) continue;
          const { policy } = policyOfSandbox(sandbox, templates);
          if (policy) counts.set(policy, (counts.get(policy) ?? 0) + 1);
        }
        return {
          namespace,
          team,
          policies: policies
            .map((p) => ({
              namespace,
              name: p.metadata.name as string,
              mode: p.spec.mode ?? "enforce",
              allowedHosts: p.spec.allowedHosts?.length ?? 0,
              sandboxes: counts.get(p.metadata.name as string) ?? 0,
              resourceVersion: p.metadata.resourceVersion ?? "",
            }))
            .sort((a, b) => a.name.localeCompare(b.name)),
        };
      } catch (error) {
        const status = statusOf(error);
        if (status === 403 || status === 404)
          return { namespace, team, policies: [], error: (error as Error).message };
        throw error;
      }
    }),
  );
}

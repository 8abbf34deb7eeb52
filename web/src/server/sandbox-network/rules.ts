/**
 * What is wrong with a sandbox's own network rules before the API server is
 * asked: the zod schema of Sandbox.spec.network, and what the operator
 * would refuse when it merges them (api/src/policy: `relaxations`), checked
 * here as the user so the editor shows it next to the field, keyed as the
 * operator names it (`spec.network.allowedHosts[0]`):
 * - a referenced SandboxPolicy that does not exist;
 * - an inline rule that relaxes a policy without allowSandboxOverrides;
 * - a secret whose Secret is not injectable or has no such key (only when
 *   the user may list Secrets; members may not, and the operator still checks).
 */
import { INJECTABLE_LABEL, SandboxNetwork, type SandboxPolicy } from "@turgon/api/crd";
import { policyRefOf, relaxations } from "@turgon/api/policy";
import { statusOf } from "../kube/errors.ts";
import type { ImpersonatedApis } from "../kube/impersonation.ts";
import { type FieldIssue, fieldPath } from "../policies/issues.ts";
import { readPolicy } from "../policies/kube.ts";
import { templateNetworks } from "../policies/reach.ts";
import type { Network } from "./kube.ts";

export const FIELD_PREFIX = "spec.network";

/** The rules' issues under the SandboxNetwork schema (empty when valid). */
export function networkSchemaIssues(network: unknown): FieldIssue[] {
  const parsed = SandboxNetwork.safeParse(network);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => ({
    field: fieldPath(issue.path, FIELD_PREFIX),
    message: issue.message,
    source: "schema" as const,
  }));
}

/** The policy a sandbox with these rules would use (its own policyRef, else its template's). */
export async function referencedPolicy(
  apis: ImpersonatedApis,
  namespace: string,
  templateName: string | undefined,
  network: Network,
): Promise<{ name: string | undefined; via: "sandbox" | "template"; template?: Network }> {
  const template = templateName
    ? (await templateNetworks(apis, namespace)).get(templateName)
    : undefined;
  return {
    name: policyRefOf({ inline: network, template }),
    via: network.policyRef?.name ? "sandbox" : "template",
    ...(template ? { template } : {}),
  };
}

/** What the operator would refuse in these (schema-valid) rules; see the module's comment. */
export async function operatorIssues(
  apis: ImpersonatedApis,
  target: { namespace: string; templateName?: string | undefined },
  network: Network,
): Promise<FieldIssue[]> {
  const issues: FieldIssue[] = [];
  const ref = await referencedPolicy(apis, target.namespace, target.templateName, network);
  if (ref.name) {
    let policy: SandboxPolicy | undefined;
    try {
      policy = await readPolicy(apis, target.namespace, ref.name);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      issues.push({
        field: ref.via === "sandbox" ? `${FIELD_PREFIX}.policyRef.name` : "spec.templateRef.name",
        message: `SandboxPolicy "${ref.name}" does not exist`,
        source: "policy",
      });
    }
    if (policy && !policy.spec.allowSandboxOverrides) {
      // The operator checks the template's rules and the sandbox's together (inline wins).
      const { policyRef: _t, ...templateRules } = ref.template ?? {};
      const { policyRef: _i, ...inlineRules } = network;
      for (const relaxation of relaxations(policy.spec, { ...templateRules, ...inlineRules }))
        issues.push({
          field: `${FIELD_PREFIX}.${relaxation.field}`,
          message: `${relaxation.message}, which relaxes SandboxPolicy "${ref.name}"; only a policy with allowSandboxOverrides: true lets sandboxes do that`,
          source: "policy",
        });
    }
  }
  issues.push(...(await secretIssues(apis, target.namespace, network)));
  return issues;
}

async function secretIssues(
  apis: ImpersonatedApis,
  namespace: string,
  network: Network,
): Promise<FieldIssue[]> {
  const secrets = network.secrets ?? [];
  if (secrets.length === 0) return [];
  let list: Awaited<ReturnType<typeof apis.core.listNamespacedSecret>>;
  try {
    list = await apis.core.listNamespacedSecret({
      namespace,
      labelSelector: `${INJECTABLE_LABEL}=true`,
    });
  } catch (error) {
    // Members may not list Secrets: the operator still refuses a bad reference.
    if (statusOf(error) === 403) return [];
    throw error;
  }
  // Names and key names only; the values are dropped here.
  const keys = new Map(
    list.items.map((s) => [
      s.metadata?.name ?? "",
      new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})]),
    ]),
  );
  list.items.length = 0;
  const issues: FieldIssue[] = [];
  for (const [index, secret] of secrets.entries()) {
    const field = `${FIELD_PREFIX}.secrets[${index}].secretKeyRef`;
    const found = keys.get(secret.secretKeyRef.name);
    if (!found)
      issues.push({
        field: `${field}.name`,
        message: `Secret "${secret.secretKeyRef.name}" does not exist or is not labelled ${INJECTABLE_LABEL}=true (only such Secrets can be injected)`,
        source: "policy",
      });
    else if (!found.has(secret.secretKeyRef.key))
      issues.push({
        field: `${field}.key`,
        message: `Secret "${secret.secretKeyRef.name}" has no key "${secret.secretKeyRef.key}"`,
        source: "policy",
      });
  }
  return issues;
}

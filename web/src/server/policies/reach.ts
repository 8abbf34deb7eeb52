/**
 * Which sandboxes a policy reaches: those whose own spec.network.policyRef
 * names it, or whose template's does (the operator's rule: policyRefOf).
 * Sandboxes come from the dashboard's cache; templates are read as the user.
 */
import { GROUP, type Sandbox, type SandboxTemplate, VERSION } from "@turgon/api/crd";
import { policyRefOf } from "@turgon/api/policy";
import type { ImpersonatedApis } from "../kube/impersonation.ts";

const TEMPLATES = { group: GROUP, version: VERSION, plural: "sandboxtemplates" } as const;

export interface ReachedSandbox {
  namespace: string;
  name: string;
  phase: string;
  /** Whether the policy comes through the sandbox itself or its template. */
  via: "sandbox" | "template";
}

/** The templates' spec.network of a namespace by name, read as the user ({} if they may not). */
export async function templateNetworks(
  apis: ImpersonatedApis,
  namespace: string,
): Promise<Map<string, SandboxTemplate["spec"]["network"]>> {
  try {
    const list = (await apis.customObjects.listNamespacedCustomObject({
      ...TEMPLATES,
      namespace,
    })) as { items: SandboxTemplate[] };
    return new Map(list.items.map((t) => [t.metadata.name as string, t.spec.network]));
  } catch {
    return new Map();
  }
}

/** The policy each sandbox uses (or undefined), by the operator's rule. */
export function policyOfSandbox(
  sandbox: Sandbox,
  templates: Map<string, SandboxTemplate["spec"]["network"]>,
): { policy: string | undefined; via: "sandbox" | "template" } {
  const inline = sandbox.spec.network;
  const templateName = sandbox.spec.templateRef?.name;
  const template = templateName ? templates.get(templateName) : undefined;
  const policy = policyRefOf({ inline, template });
  return { policy, via: inline?.policyRef?.name ? "sandbox" : "template" };
}

/** The sandboxes of `namespace` that use policy `name`. */
export function sandboxesUsing(
  sandboxes: readonly Sandbox[],
  templates: Map<string, SandboxTemplate["spec"]["network"]>,
  namespace: string,
  name: string,
): ReachedSandbox[] {
  const out: ReachedSandbox[] = [];
  for (const sandbox of sandboxes) {
    if (sandbox.metadata.namespace !== namespace) continue;
    const { policy, via } = policyOfSandbox(sandbox, templates);
    if (policy !== name) continue;
    out.push({
      namespace,
      name: sandbox.metadata.name as string,
      phase: sandbox.metadata.deletionTimestamp
        ? "Terminating"
        : (sandbox.status?.phase ?? "Pending"),
      via,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

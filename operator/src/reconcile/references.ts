import type { Sandbox, SandboxPolicy, SandboxTemplate } from "@turgon/api/crd";

export interface References {
  template?: string;
  policy?: string;
  secrets: Set<string>;
}

/**
 * The objects in its namespace a sandbox's effective spec depends on, so a
 * change to any of them reconciles the sandbox (a policy edit reaches the
 * VM live). The sandbox's network wins over its template's, as in applyTemplate.
 */
export function referencesOf(
  sandbox: Sandbox,
  lookup: {
    template(name: string): SandboxTemplate | undefined;
    policy(name: string): SandboxPolicy | undefined;
  },
): References {
  const templateName = sandbox.spec.templateRef?.name;
  const template = templateName ? lookup.template(templateName) : undefined;
  const network = { ...template?.spec.network, ...sandbox.spec.network };
  const policyName = network.policyRef?.name;
  const policy = policyName ? lookup.policy(policyName) : undefined;
  const secrets = new Set(
    [...(policy?.spec.secrets ?? []), ...(network.secrets ?? [])].map((s) => s.secretKeyRef.name),
  );
  return {
    ...(templateName ? { template: templateName } : {}),
    ...(policyName ? { policy: policyName } : {}),
    secrets,
  };
}

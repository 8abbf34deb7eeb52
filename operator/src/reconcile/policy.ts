import type { EffectivePolicy } from "@turgon/api/agent";
import type { SandboxPolicy, SandboxSpec } from "@turgon/api/crd";

/** Why a sandbox's policy cannot be resolved; `field` is the spec path at fault. */
export class PolicyResolutionError extends Error {
  readonly reason: "PolicyNotFound" | "SecretNotFound" | "SecretKeyNotFound";
  readonly field: string;

  constructor(reason: PolicyResolutionError["reason"], field: string, message: string) {
    super(`${field}: ${message}`);
    this.reason = reason;
    this.field = field;
  }
}

export interface PolicySources {
  /** A SandboxPolicy in the sandbox's namespace, or undefined. */
  policy(name: string): Promise<SandboxPolicy | undefined>;
  /** The decoded data of a Secret in the sandbox's namespace, or undefined. */
  secret(name: string): Promise<Record<string, string> | undefined>;
}

/**
 * Merges the referenced SandboxPolicy and the sandbox's inline rules into
 * the one policy the agent enforces: inline fields win field by field,
 * secrets merge by name (inline wins), and everything unset falls back to
 * Turgon's default-deny. Secret values are read here, by the operator only.
 */
export async function resolveEffectivePolicy(
  network: SandboxSpec["network"],
  sources: PolicySources,
): Promise<EffectivePolicy> {
  let base: SandboxPolicy["spec"] = {};
  if (network?.policyRef) {
    const policy = await sources.policy(network.policyRef.name);
    if (!policy) {
      throw new PolicyResolutionError(
        "PolicyNotFound",
        "spec.network.policyRef.name",
        `SandboxPolicy "${network.policyRef.name}" does not exist`,
      );
    }
    base = policy.spec;
  }
  const { policyRef: _ref, ...inline } = network ?? {};
  const merged = {
    ...base,
    ...Object.fromEntries(Object.entries(inline).filter(([, v]) => v !== undefined)),
  };
  const secretsByName = new Map(
    [...(base.secrets ?? []), ...(inline.secrets ?? [])].map((s) => [s.name, s]),
  );

  const secrets = [];
  for (const [index, secret] of [...secretsByName.values()].entries()) {
    const field = `spec.network.secrets[${index}].secretKeyRef`;
    const data = await sources.secret(secret.secretKeyRef.name);
    if (!data)
      throw new PolicyResolutionError(
        "SecretNotFound",
        `${field}.name`,
        `Secret "${secret.secretKeyRef.name}" does not exist`,
      );
    const value = data[secret.secretKeyRef.key];
    if (value === undefined) {
      throw new PolicyResolutionError(
        "SecretKeyNotFound",
        `${field}.key`,
        `Secret "${secret.secretKeyRef.name}" has no key "${secret.secretKeyRef.key}"`,
      );
    }
    secrets.push({ name: secret.name, hosts: secret.hosts, value });
  }
  return {
    allowedHosts: merged.allowedHosts ?? [],
    ...(merged.blockInternalRanges !== undefined
      ? { blockInternalRanges: merged.blockInternalRanges }
      : {}),
    ...(merged.deniedMethods ? { deniedMethods: merged.deniedMethods } : {}),
    ...(merged.deniedCIDRs ? { deniedCIDRs: merged.deniedCIDRs } : {}),
    ...(merged.dns ? { dns: merged.dns } : {}),
    ...(merged.websockets !== undefined ? { websockets: merged.websockets } : {}),
    secrets,
    mode: merged.mode ?? "enforce",
  };
}

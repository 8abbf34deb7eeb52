import type { EffectivePolicy } from "@turgon/api/agent";
import { INJECTABLE_LABEL, type SandboxPolicy, type SandboxSpec } from "@turgon/api/crd";
import { mergeNetworkLayers, relaxations } from "@turgon/api/policy";
import type { Caches } from "../controller/caches.ts";

/** Why a sandbox's policy cannot be resolved; `field` is the spec path at fault. */
export class PolicyResolutionError extends Error {
  readonly reason: "PolicyNotFound" | "SecretNotFound" | "SecretKeyNotFound" | "OverrideNotAllowed";
  readonly field: string;

  constructor(reason: PolicyResolutionError["reason"], field: string, message: string) {
    super(`${field}: ${message}`);
    this.reason = reason;
    this.field = field;
  }
}

/** A Secret as policy resolution needs it: its labels and decoded data. */
export interface SecretData {
  labels: Record<string, string>;
  data: Record<string, string>;
}

export interface PolicySources {
  /** A SandboxPolicy in the sandbox's namespace, or undefined. */
  policy(name: string): Promise<SandboxPolicy | undefined>;
  /** A Secret in the sandbox's namespace, or undefined. */
  secret(name: string): Promise<SecretData | undefined>;
}

type Network = NonNullable<SandboxSpec["network"]>;

/**
 * Merges the referenced SandboxPolicy and the sandbox's inline rules into
 * the one policy the agent enforces: inline fields win field by field,
 * secrets merge by name (inline wins), and everything unset falls back to
 * Turgon's default-deny. Inline rules may only tighten a referenced policy
 * unless it sets `allowSandboxOverrides`. Secret values are read here, by
 * the operator only, and only from Secrets labelled injectable.
 */
export async function resolveEffectivePolicy(
  network: SandboxSpec["network"],
  sources: PolicySources,
): Promise<EffectivePolicy> {
  const { policyRef, ...inline } = network ?? {};
  let policy: SandboxPolicy | undefined;
  if (policyRef) {
    policy = await sources.policy(policyRef.name);
    if (!policy) {
      throw new PolicyResolutionError(
        "PolicyNotFound",
        "spec.network.policyRef.name",
        `SandboxPolicy "${policyRef.name}" does not exist`,
      );
    }
    refuseRelaxations(policyRef.name, policy.spec, inline);
  }
  // The template's rules are already in `network` (applyTemplate), so two layers here.
  const { rules, policyName } = mergeNetworkLayers({ policy, inline });
  const secrets = [];
  for (const [index, secret] of rules.secrets.entries())
    secrets.push(
      await resolveSecret(secret, `spec.network.secrets[${index}].secretKeyRef`, sources),
    );
  return { ...rules, secrets, ...(policyName ? { policyName } : {}) };
}

function refuseRelaxations(
  name: string,
  policy: SandboxPolicy["spec"],
  inline: Omit<Network, "policyRef">,
): void {
  if (policy.allowSandboxOverrides) return;
  const [first] = relaxations(policy, inline);
  if (first)
    throw new PolicyResolutionError(
      "OverrideNotAllowed",
      `spec.network.${first.field}`,
      `${first.message}, which relaxes SandboxPolicy "${name}"; only a policy with allowSandboxOverrides: true lets sandboxes do that`,
    );
}

async function resolveSecret(
  secret: NonNullable<Network["secrets"]>[number],
  field: string,
  sources: PolicySources,
): Promise<EffectivePolicy["secrets"][number]> {
  const ref = secret.secretKeyRef;
  const found = await sources.secret(ref.name);
  if (found?.labels[INJECTABLE_LABEL] !== "true")
    throw new PolicyResolutionError(
      "SecretNotFound",
      `${field}.name`,
      `Secret "${ref.name}" does not exist or is not labelled ${INJECTABLE_LABEL}=true (only such Secrets can be injected)`,
    );
  const value = found.data[ref.key];
  if (value === undefined)
    throw new PolicyResolutionError(
      "SecretKeyNotFound",
      `${field}.key`,
      `Secret "${ref.name}" has no key "${ref.key}"`,
    );
  return { name: secret.name, hosts: secret.hosts, value };
}

/** Policies and Secrets of one namespace from the operator's informer caches. */
export function cachedPolicySources(
  caches: Pick<Caches, "policies" | "secrets">,
  namespace: string,
): PolicySources {
  return {
    policy: async (name) => caches.policies.get(name, namespace) as SandboxPolicy | undefined,
    secret: async (name) => {
      const secret = caches.secrets.get(name, namespace);
      if (!secret) return undefined;
      return {
        labels: secret.metadata?.labels ?? {},
        data: Object.fromEntries(
          Object.entries(secret.data ?? {}).map(([k, v]) => [
            k,
            Buffer.from(v, "base64").toString("utf8"),
          ]),
        ),
      };
    },
  };
}

/**
 * The effective egress rules of a sandbox, as the operator computes them
 * and the dashboard shows them: the referenced SandboxPolicy, under the
 * sandbox template's network rules, under the sandbox's own inline rules.
 * Fields win whole, field by field; secrets merge by name. Each rule keeps
 * its origin, so a reader sees where it came from. No secret values here:
 * secrets are references until the operator resolves them for the agent.
 */
import type { z } from "zod";
import type {
  SandboxPolicy,
  SandboxSpec,
  SecretInjection as SecretInjectionSchema,
} from "../crd/index.ts";

type SecretInjection = z.infer<typeof SecretInjectionSchema>;

export type RuleOrigin = "policy" | "template" | "inline" | "default";

type Network = NonNullable<SandboxSpec["network"]>;
type InlineRules = Omit<Network, "policyRef">;

/** The egress rule fields that merge whole (secrets merge by name). */
export const RULE_FIELDS = [
  "allowedHosts",
  "blockInternalRanges",
  "deniedMethods",
  "deniedCIDRs",
  "dns",
  "websockets",
  "mode",
] as const;
export type RuleField = (typeof RULE_FIELDS)[number];

export interface NetworkLayers {
  /** The SandboxPolicy that spec.network.policyRef names, if any. */
  policy?: Pick<SandboxPolicy, "metadata" | "spec"> | undefined;
  /** The sandbox template's spec.network, if the sandbox has a template. */
  template?: Network | undefined;
  /** The sandbox's own spec.network. */
  inline?: Network | undefined;
}

export interface EffectiveRules {
  /** The referenced SandboxPolicy's name, if any. */
  policyName?: string;
  rules: Omit<InlineRules, "allowedHosts" | "secrets" | "mode"> & {
    allowedHosts: string[];
    secrets: SecretInjection[];
    mode: "enforce" | "report";
  };
  origins: Record<RuleField, RuleOrigin>;
  /** Each secret's origin, by its name. */
  secretOrigins: Record<string, RuleOrigin>;
}

function ruleLayers(layers: NetworkLayers): [Exclude<RuleOrigin, "default">, InlineRules][] {
  const { policyRef: _t, ...template } = layers.template ?? {};
  const { policyRef: _i, ...inline } = layers.inline ?? {};
  const { allowSandboxOverrides: _o, ...policy } = layers.policy?.spec ?? {};
  return [
    ["policy", policy],
    ["template", template],
    ["inline", inline],
  ];
}

/** The policy a sandbox refers to: its own policyRef, else its template's. */
export function policyRefOf(
  layers: Pick<NetworkLayers, "template" | "inline">,
): string | undefined {
  return layers.inline?.policyRef?.name ?? layers.template?.policyRef?.name;
}

/** Merges the layers, later ones winning; unset fields fall back to default-deny. */
export function mergeNetworkLayers(layers: NetworkLayers): EffectiveRules {
  const origins = Object.fromEntries(RULE_FIELDS.map((f) => [f, "default"])) as Record<
    RuleField,
    RuleOrigin
  >;
  const merged: Record<string, unknown> = {};
  const secrets = new Map<string, { secret: SecretInjection; origin: RuleOrigin }>();
  for (const [origin, rules] of ruleLayers(layers)) {
    for (const field of RULE_FIELDS) {
      if (rules[field] === undefined) continue;
      merged[field] = rules[field];
      origins[field] = origin;
    }
    for (const secret of rules.secrets ?? []) secrets.set(secret.name, { secret, origin });
  }
  const policyName = layers.policy?.metadata?.name;
  return {
    ...(policyName ? { policyName } : {}),
    rules: {
      ...(merged as Omit<EffectiveRules["rules"], "allowedHosts" | "secrets" | "mode">),
      allowedHosts: (merged.allowedHosts as string[] | undefined) ?? [],
      mode: (merged.mode as "enforce" | "report" | undefined) ?? "enforce",
      secrets: [...secrets.values()].map((s) => s.secret),
    },
    origins,
    secretOrigins: Object.fromEntries([...secrets].map(([name, s]) => [name, s.origin])),
  };
}

import type { DesiredSandbox, EffectivePolicy } from "@turgon/api/agent";
import type { Sandbox } from "@turgon/api/crd";
import { mebibytes } from "../scheduling/scheduler.ts";
import type { EffectiveSpec } from "./template.ts";

/** What a sandbox asks of a node. */
export function requestOf(spec: Pick<EffectiveSpec, "resources">): {
  cpus: number;
  memoryMiB: number;
} {
  return {
    cpus: spec.resources?.cpus ?? 1,
    memoryMiB: mebibytes(spec.resources?.memory ?? "512Mi"),
  };
}

/** The desired state the agent is told, keyed by the Sandbox's UID. */
export function desiredSandbox(
  sandbox: Sandbox,
  spec: EffectiveSpec,
  policy: EffectivePolicy,
): DesiredSandbox {
  const { metadata } = sandbox;
  const { access: _access, ...stated } = spec.ingress ?? {};
  const ingress = {
    ...stated,
    enabled: stated.enabled ?? false,
    websockets: stated.websockets ?? true,
  };
  return {
    uid: metadata.uid as string,
    name: metadata.name as string,
    namespace: metadata.namespace as string,
    generation: metadata.generation ?? 0,
    image: spec.image,
    resources: requestOf(spec),
    env: Object.fromEntries((spec.env ?? []).map((e) => [e.name, e.value])),
    ...(spec.command ? { command: spec.command } : {}),
    ingress,
    policy,
    ...(spec.rootfsMode ? { rootfsMode: spec.rootfsMode } : {}),
    operatingMode: spec.operatingMode ?? "Running",
    ssh: { enabled: spec.ssh?.enabled ?? false },
  };
}

/** Where a field of the desired state comes from in the Sandbox, for messages users can act on. */
const SPEC_FIELDS: [agent: RegExp, spec: string][] = [
  [/^policy\./, "spec.network."],
  [/^resources\.memoryMiB/, "spec.resources.memory"],
  [/^env\.(.+)$/, 'spec.env (name "$1")'],
];

/** `policy.deniedCIDRs[0]` → `spec.network.deniedCIDRs[0]`; other fields keep their name under spec. */
export function specField(agentPath: string): string {
  for (const [pattern, replacement] of SPEC_FIELDS)
    if (pattern.test(agentPath)) return agentPath.replace(pattern, replacement);
  return agentPath.startsWith("spec.") ? agentPath : `spec.${agentPath}`;
}

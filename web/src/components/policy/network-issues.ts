/**
 * A sandbox's own network rules in the editor: client-side issues from the
 * zod schema of Sandbox.spec.network, keyed as the API server keys them
 * (`spec.network.allowedHosts[1]`).
 */
import { SandboxNetwork } from "@turgon/api/crd";
import type { FieldErrors, Spec } from "~/lib/policy-form";

export const NETWORK_PREFIX = "spec.network";

export function networkFieldKey(path: readonly PropertyKey[]): string {
  let key = NETWORK_PREFIX;
  for (const segment of path)
    key += typeof segment === "number" ? `[${segment}]` : `.${String(segment)}`;
  return key;
}

/** The schema's issues by field (empty when the rules are valid). */
export function networkClientIssues(network: Spec): FieldErrors {
  const parsed = SandboxNetwork.safeParse(network);
  if (parsed.success) return {};
  const out: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const key = networkFieldKey(issue.path);
    out[key] = [...(out[key] ?? []), issue.message];
  }
  return out;
}

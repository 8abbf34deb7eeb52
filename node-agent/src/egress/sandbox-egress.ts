/**
 * A sandbox's egress mediation, assembled: the auditor (which enforces the
 * guard's live policy and emits one audit event per request) under the live
 * secret hooks (placeholders in, values out, names added and removed live).
 */
import type { EgressAuditEvent } from "@turgon/api/audit";
import { EgressAuditor } from "./auditor.ts";
import type { EgressGuard } from "./guard.ts";
import { type LiveSecret, LiveSecretHooks } from "./live-secrets.ts";

export interface SandboxEgress {
  secrets: LiveSecretHooks;
  auditor: EgressAuditor;
}

export function createSandboxEgress(options: {
  guard: EgressGuard;
  node: string;
  sandbox: { uid: string; name: string; namespace: string };
  secrets: LiveSecret[];
  emit: (event: EgressAuditEvent) => void;
}): SandboxEgress {
  // The auditor reads the secrets' placeholders, which exist once the hooks do.
  let secrets: LiveSecretHooks | undefined;
  const auditor = new EgressAuditor(options.guard, {
    node: options.node,
    sandbox: options.sandbox,
    placeholders: () => secrets?.placeholders() ?? new Map(),
    emit: options.emit,
  });
  secrets = new LiveSecretHooks(auditor.hooks(), options.secrets);
  return { secrets, auditor };
}

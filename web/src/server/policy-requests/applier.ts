/**
 * The seam with the policy editor core: approval applies a host through
 * `applyAllowHost` (web/src/server/policies/apply.ts) as the approver, so
 * Kubernetes RBAC decides, and returns the PolicyChange it recorded.
 *
 * applyAllowHost edits SandboxPolicies only; a request whose target is a
 * sandbox's inline rules (the event had no policy) is refused here with
 * PRECONDITION_FAILED until inline editing lands, and stays pending.
 */
import "server-only";
import { TRPCError } from "@trpc/server";
import type { TurgonSession } from "~/server/auth/index.ts";
import { toTRPCError } from "~/server/kube-errors.ts";
import { applyAllowHost } from "~/server/policies/apply.ts";
import { actingPrincipalOf, policyDeps } from "~/server/policies/session.ts";
import type { AllowHostApplier } from "./service.ts";

/** Applies as the session's user (the approver). */
export function allowHostApplierFor(session: TurgonSession): AllowHostApplier {
  return async (_actor, input) => {
    if (input.kind !== "SandboxPolicy")
      throw new TRPCError({
        code: "PRECONDITION_FAILED",
        message: `Allowing a host in sandbox ${input.namespace}/${input.name}'s own rules is not available yet; add it to spec.network.allowedHosts, or give the sandbox a SandboxPolicy.`,
      });
    const principal = actingPrincipalOf(session);
    try {
      const change = await applyAllowHost(
        {
          principal,
          namespace: input.namespace,
          kind: "SandboxPolicy",
          name: input.name,
          host: input.host,
          reason: input.reason ?? null,
          requestId: input.requestId,
          eventId: input.eventId ?? null,
        },
        policyDeps(principal),
      );
      return { id: change.id };
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      throw toTRPCError(error);
    }
  };
}

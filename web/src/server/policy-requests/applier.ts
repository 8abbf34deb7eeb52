/**
 * The seam with the policy editor core: approval applies a host as the
 * approver, so Kubernetes RBAC decides, and returns the PolicyChange it
 * recorded (action "approve", linked to the request, which keeps the
 * denied event):
 * - a SandboxPolicy target through `applyAllowHost` (~/server/policies/apply.ts);
 * - a Sandbox target (the event had no policy) through `allowHostInSandbox`
 *   (~/server/sandbox-network/allow-host.ts): the host joins the sandbox's
 *   spec.network.allowedHosts, refused with PRECONDITION_FAILED, naming the
 *   field, where its SandboxPolicy allows no overrides. Every member may
 *   patch their team's sandboxes, so RBAC alone would let a member approve
 *   their own request there; approving is what Kubernetes lets apply policy
 *   changes do (update SandboxPolicies in the namespace: owners and admins),
 *   so that is asked first, as the approver.
 */
import { TRPCError } from "@trpc/server";
import { mayEditPolicies } from "../policies/access.ts";
import { applyAllowHost } from "../policies/apply.ts";
import type { ActingPrincipal, PolicyDeps } from "../policies/deps.ts";
import { allowHostInSandbox } from "../sandbox-network/allow-host.ts";
import type { AllowHostApplier } from "./service.ts";

/**
 * Applies as `principal` (the approver) with `deps` made for them. What the
 * API server refuses comes back as its KubeApiError (the dashboard's
 * `allowHostApplierFor` in ./applier-session.ts maps it to a TRPCError).
 */
export function allowHostApplier(principal: ActingPrincipal, deps: PolicyDeps): AllowHostApplier {
  return async (_actor, input) => {
    const common = {
      principal,
      namespace: input.namespace,
      name: input.name,
      host: input.host,
      reason: input.reason ?? null,
      requestId: input.requestId,
    };
    const change =
      input.kind === "SandboxPolicy"
        ? await applyAllowHost(
            { ...common, kind: "SandboxPolicy", eventId: input.eventId ?? null },
            deps,
          )
        : await allowHostInSandboxAsApprover(common, deps);
    return { id: change.id };
  };
}

async function allowHostInSandboxAsApprover(
  input: Parameters<typeof allowHostInSandbox>[0],
  deps: PolicyDeps,
) {
  if (!(await mayEditPolicies(deps.apis, input.namespace)))
    throw new TRPCError({
      code: "FORBIDDEN",
      message: `Only an admin or the team's owner may approve a change to sandbox ${input.namespace}/${input.name}'s network rules.`,
    });
  return allowHostInSandbox(input, deps);
}

/**
 * The seam with the policy editor core: approval applies a host as the
 * approver, so Kubernetes RBAC decides, and returns the PolicyChange it
 * recorded (action "approve", linked to the request, which keeps the
 * denied event):
 * - a SandboxPolicy target through `applyAllowHost` (~/server/policies/apply.ts);
 * - a Sandbox target (the event had no policy) through `allowHostInSandbox`
 *   (~/server/sandbox-network/allow-host.ts): the host joins the sandbox's
 *   spec.network.allowedHosts, refused with PRECONDITION_FAILED, naming the
 *   field, where its SandboxPolicy allows no overrides.
 */
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
        : await allowHostInSandbox(common, deps);
    return { id: change.id };
  };
}

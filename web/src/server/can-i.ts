/**
 * "May the signed-in user do this?", asked of the API server as the user
 * (a SelfSubjectAccessReview through impersonation), as `kubectl auth
 * can-i` asks it: Kubernetes RBAC decides, never the dashboard.
 */
import type { V1ResourceAttributes } from "@kubernetes/client-node";
import type { ImpersonatedApis } from "./kube/impersonation.ts";

export interface AccessDecision {
  allowed: boolean;
  /** RBAC's explanation, when it gives one (often empty on a plain "no rule"). */
  reason?: string;
}

export async function canI(
  apis: ImpersonatedApis,
  attributes: V1ResourceAttributes,
): Promise<AccessDecision> {
  const review = await apis.authorization.createSelfSubjectAccessReview({
    body: { spec: { resourceAttributes: attributes } },
  });
  const reason = review.status?.reason;
  return { allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) };
}

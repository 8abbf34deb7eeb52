/**
 * History lives in Postgres, beyond Kubernetes RBAC: before any of it is
 * shown, the API server is asked (as the user, SelfSubjectAccessReview)
 * whether they may get SandboxPolicies in the namespace.
 */
import { TRPCError } from "@trpc/server";
import type { ImpersonatedApis } from "../kube/impersonation.ts";

export async function mayReadPolicies(apis: ImpersonatedApis, namespace: string): Promise<boolean> {
  const review = await apis.authorization.createSelfSubjectAccessReview({
    body: {
      spec: {
        resourceAttributes: {
          group: "turgon.dev",
          resource: "sandboxpolicies",
          verb: "get",
          namespace,
        },
      },
    },
  });
  return review.status?.allowed === true;
}

export async function mustReadPolicies(apis: ImpersonatedApis, namespace: string): Promise<void> {
  if (!(await mayReadPolicies(apis, namespace)))
    throw new TRPCError({
      code: "FORBIDDEN",
      message: `You may not read SandboxPolicies in namespace ${namespace}.`,
    });
}

/** Whether the user may save (update) SandboxPolicies in the namespace: owners and admins. */
export async function mayEditPolicies(apis: ImpersonatedApis, namespace: string): Promise<boolean> {
  const review = await apis.authorization.createSelfSubjectAccessReview({
    body: {
      spec: {
        resourceAttributes: {
          group: "turgon.dev",
          resource: "sandboxpolicies",
          verb: "update",
          namespace,
        },
      },
    },
  });
  return review.status?.allowed === true;
}

/**
 * Who may do what with a namespace's SandboxPolicies, asked of the API
 * server as the user (canI), so Kubernetes RBAC decides. History lives in
 * Postgres, beyond RBAC: before any of it is shown, the user must be one
 * who may get SandboxPolicies in the namespace.
 */
import { TRPCError } from "@trpc/server";
import { canI } from "../can-i.ts";
import type { ImpersonatedApis } from "../kube/impersonation.ts";

async function mayOnPolicies(
  apis: ImpersonatedApis,
  namespace: string,
  verb: "get" | "update" | "create",
): Promise<boolean> {
  const { allowed } = await canI(apis, {
    group: "turgon.dev",
    resource: "sandboxpolicies",
    verb,
    namespace,
  });
  return allowed;
}

export function mayReadPolicies(apis: ImpersonatedApis, namespace: string): Promise<boolean> {
  return mayOnPolicies(apis, namespace, "get");
}

export async function mustReadPolicies(apis: ImpersonatedApis, namespace: string): Promise<void> {
  if (!(await mayReadPolicies(apis, namespace)))
    throw new TRPCError({
      code: "FORBIDDEN",
      message: `You may not read SandboxPolicies in namespace ${namespace}.`,
    });
}

/** Whether the user may save (update) SandboxPolicies in the namespace: owners and admins. */
export function mayEditPolicies(apis: ImpersonatedApis, namespace: string): Promise<boolean> {
  return mayOnPolicies(apis, namespace, "update");
}

/** Whether the user may create SandboxPolicies in the namespace: owners and admins. */
export function mayCreatePolicies(apis: ImpersonatedApis, namespace: string): Promise<boolean> {
  return mayOnPolicies(apis, namespace, "create");
}

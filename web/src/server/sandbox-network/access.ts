/**
 * Who may do what with a sandbox's network rules, asked of the API server
 * as the user (canI), so Kubernetes RBAC decides. The
 * history lives in Postgres, beyond RBAC: it is shown only to those who may
 * get the sandbox.
 */
import { TRPCError } from "@trpc/server";
import { canI } from "../can-i.ts";
import type { ImpersonatedApis } from "../kube/impersonation.ts";

async function allowed(
  apis: ImpersonatedApis,
  namespace: string,
  name: string,
  verb: "get" | "patch",
): Promise<boolean> {
  const decision = await canI(apis, {
    group: "turgon.dev",
    resource: "sandboxes",
    verb,
    namespace,
    name,
  });
  return decision.allowed;
}

/** Whether the user may patch the sandbox (and so save its spec.network). */
export function mayEditSandbox(apis: ImpersonatedApis, namespace: string, name: string) {
  return allowed(apis, namespace, name, "patch");
}

export async function mustReadSandbox(
  apis: ImpersonatedApis,
  namespace: string,
  name: string,
): Promise<void> {
  if (!(await allowed(apis, namespace, name, "get")))
    throw new TRPCError({
      code: "FORBIDDEN",
      message: `You may not read sandbox ${namespace}/${name}.`,
    });
}

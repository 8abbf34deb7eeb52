/**
 * What the policy functions work with: the user's impersonated API clients
 * and the dashboard's database, passed in (tests pass their own; the
 * dashboard makes them with `policyDeps` in ./session.ts).
 */
import type { PrismaClient } from "@turgon/prisma";
import type { ImpersonatedApis } from "../kube/impersonation.ts";
import type { Principal } from "../kube/principal.ts";

/** The signed-in user as the policy functions need them: their Kubernetes identity and user id. */
export interface ActingPrincipal extends Principal {
  /** Their dashboard (better-auth) user id, for history. */
  userId: string;
}

export interface PolicyDeps {
  /** API clients impersonating the acting user: Kubernetes RBAC decides every read and write. */
  apis: ImpersonatedApis;
  db: PrismaClient;
}

/** The policy functions' dependencies for a signed-in user of the dashboard (server-only). */
import "server-only";
import type { TurgonSession } from "~/server/auth/index.ts";
import { getDb } from "~/server/db.ts";
import { impersonatedApis } from "~/server/kube/index.ts";
import { getKubeConfig } from "~/server/kube-cache.ts";
import { toTRPCError } from "~/server/kube-errors.ts";
import type { ActingPrincipal, PolicyDeps } from "./deps.ts";

/** The session's user as the policy functions take them. */
export function actingPrincipalOf(session: TurgonSession): ActingPrincipal {
  return {
    userId: session.user.id,
    email: session.user.email,
    teams: session.teams,
    owns: session.owns,
    admin: session.isAdmin,
  };
}

/** The user's impersonated API clients and the dashboard's database. */
export function policyDeps(principal: ActingPrincipal): PolicyDeps {
  try {
    return { apis: impersonatedApis(getKubeConfig(), principal), db: getDb() };
  } catch (error) {
    throw toTRPCError(error);
  }
}

/**
 * Who may open a routed sandbox: the router's rule, applied by the
 * dashboard before it hands a token over, so a user without access gets a
 * clear page instead of a sign-in loop. The router checks again; this is
 * the same decision, not a second authority. Pure (unit-tested).
 */

export type IngressAccess = "private" | "authenticated" | "public";

export interface IngressUser {
  teams: readonly string[];
  admin: boolean;
}

export type AccessDecision =
  /** `token`: whether the router wants one (not for public sandboxes). */
  { allowed: true; token: boolean } | { allowed: false; team: string };

/**
 * public: anyone, with no token; authenticated: anyone signed in; private:
 * members of the team holding the sandbox's namespace, and platform admins.
 */
export function decideAccess(
  access: IngressAccess,
  team: string,
  user: IngressUser,
): AccessDecision {
  if (access === "public") return { allowed: true, token: false };
  if (access === "authenticated" || user.admin || user.teams.includes(team))
    return { allowed: true, token: true };
  return { allowed: false, team };
}

/** A sandbox's access in force: as the router reads it (status first, then spec, else private). */
export function accessOf(sandbox: {
  spec?: { ingress?: { access?: string } };
  status?: { ingress?: { access?: string } };
}): IngressAccess {
  const value = sandbox.status?.ingress?.access ?? sandbox.spec?.ingress?.access;
  return value === "authenticated" || value === "public" ? value : "private";
}

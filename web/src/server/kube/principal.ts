/**
 * Who the dashboard acts as: the signed-in user, as Kubernetes sees them
 * through impersonation. The group names are a contract with the RBAC in
 * web/deploy/rbac.yaml and the RoleBindings `bindNamespace` creates.
 */
import { dnsLabel } from "@turgon/api/crd";
import { z } from "zod";
import { PrincipalError } from "./errors.ts";

/** The group every member of team `<team>` is impersonated in. */
export const TEAM_GROUP_PREFIX = "turgon:team:";
/**
 * The extra group a team's owners (better-auth organization role owner or
 * admin) are impersonated in: bound to ClusterRole turgon-team-owner in the
 * team's namespaces, which lets them apply policy changes.
 */
export const TEAM_OWNER_GROUP_PREFIX = "turgon:team-owner:";
/** The group administrators are impersonated in; bound to ClusterRole turgon-admin. */
export const ADMINS_GROUP = "turgon:admins";

export interface Principal {
  /** The user's email: their Kubernetes user name under impersonation. */
  email: string;
  /** Slugs of the teams (better-auth organizations) they belong to. */
  teams: readonly string[];
  /** Slugs of the teams they own (organization role owner or admin); each is also in `teams`. */
  owns?: readonly string[];
  admin: boolean;
}

/** The Kubernetes group of a team's owners. */
export function teamOwnerGroup(team: string): string {
  return `${TEAM_OWNER_GROUP_PREFIX}${team}`;
}

/** The Kubernetes group of a team. */
export function teamGroup(team: string): string {
  return `${TEAM_GROUP_PREFIX}${team}`;
}

// Kubernetes user names with these prefixes belong to the system; never impersonate one.
const RESERVED = /^(system:|turgon:)/i;
const email = z
  .email()
  .max(254)
  .refine((value) => !RESERVED.test(value), "must not be a reserved Kubernetes user name");

/**
 * Checks a principal before it becomes impersonation headers: a plain
 * email (ASCII, no header-breaking characters, nothing like `system:…`)
 * and team slugs that are DNS labels, so no crafted name can become some
 * other group. Returns the user name and groups to impersonate.
 */
export function impersonationOf(principal: Principal): { user: string; groups: string[] } {
  const user = email.safeParse(principal.email);
  if (!user.success)
    throw new PrincipalError(
      "email",
      `${JSON.stringify(principal.email)} ${user.error.issues[0]?.message ?? "is not an email"}`,
    );
  const groups = new Set<string>();
  for (const team of principal.teams) {
    const checked = dnsLabel.safeParse(team);
    if (!checked.success)
      throw new PrincipalError(
        "teams",
        `${JSON.stringify(team)} ${checked.error.issues[0]?.message ?? "is not a DNS label"}`,
      );
    groups.add(teamGroup(team));
  }
  for (const team of principal.owns ?? []) {
    // Only a team they are a member of: ownership never reaches past membership.
    if (!principal.teams.includes(team)) continue;
    groups.add(teamOwnerGroup(team));
  }
  if (principal.admin) groups.add(ADMINS_GROUP);
  return { user: user.data, groups: [...groups].sort() };
}

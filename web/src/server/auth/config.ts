/**
 * Turgon's better-auth set-up, shared by the dashboard and by the tools that
 * provision it (`npm run up` and the tests create the first admin through it),
 * so every user is made the same way. Imports stay relative with .ts
 * extensions: Node runs this file directly, without Next.js.
 */
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError } from "better-auth/api";
import { nextCookies } from "better-auth/next-js";
import { admin, organization } from "better-auth/plugins";
import { createAccessControl } from "better-auth/plugins/access";
import { defaultStatements, memberAc, ownerAc } from "better-auth/plugins/organization/access";
import type { Logger } from "pino";

/**
 * Teams are better-auth organizations with two roles: owners manage the
 * team's members, members use its sandboxes. Platform admins (the admin
 * plugin's `admin` role) create users and teams.
 */
export const teamAccess = createAccessControl(defaultStatements);
export const teamRoles = {
  owner: teamAccess.newRole(ownerAc.statements),
  member: teamAccess.newRole(memberAc.statements),
};
export type TeamRole = keyof typeof teamRoles;

export const ADMIN_ROLE = "admin";

export interface AuthSettings {
  /** The Prisma client of @turgon/prisma. */
  prisma: object;
  /** Signs session cookies (BETTER_AUTH_SECRET). */
  secret: string;
  /** The dashboard's public URL (BETTER_AUTH_URL). */
  baseURL: string;
  logger: Logger;
  /** Sign-in attempts allowed per client address in 10 s (TURGON_SIGN_IN_LIMIT; default 3). */
  signInLimit?: number;
  /**
   * Proxies whose X-Forwarded-For chain is walked for the client address
   * (TURGON_TRUSTED_PROXIES). From anyone else the server has already set
   * the header to the peer's own address (server/http/forwarded-for.ts).
   */
  trustedProxies?: string[];
  /**
   * Called after anything that changes who may do what: a user's roles or
   * ban, a user deleted, a team made, deleted, joined or left, a member's
   * role changed, through whichever endpoint (the dashboard's tRPC or
   * better-auth's own API). The dashboard rewrites the SSH gateway's users
   * from it. Must not throw or wait.
   */
  onAccessChange?: (reason: string) => void;
}

export function createAuth(settings: AuthSettings) {
  const log = settings.logger;
  const changed = (reason: string) => async () => {
    settings.onAccessChange?.(reason);
  };
  return betterAuth({
    appName: "Turgon",
    baseURL: settings.baseURL,
    secret: settings.secret,
    trustedOrigins: [new URL(settings.baseURL).origin],
    // Sessions live in PostgreSQL, beside the users.
    database: prismaAdapter(settings.prisma, { provider: "postgresql", transaction: true }),
    emailAndPassword: {
      enabled: true,
      // No public sign-up: admins create users (admin plugin's createUser).
      disableSignUp: true,
      minPasswordLength: 12,
    },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    advanced: {
      cookiePrefix: "turgon",
      ipAddress: { trustedProxies: settings.trustedProxies ?? [] },
    },
    // better-auth's own default for sign-ins is 3 per 10 s per address; made a setting, since
    // every browser behind one proxy (or every test on loopback) shares an address.
    rateLimit: {
      customRules: { "/sign-in/email": { window: 10, max: settings.signInLimit ?? 3 } },
    },
    telemetry: { enabled: false },
    databaseHooks: {
      user: {
        update: { after: changed("user updated") },
        delete: { after: changed("user deleted") },
      },
    },
    logger: {
      level: "info",
      log: (level, message, ...args) =>
        log[level === "debug" ? "debug" : level]({ args: args.length ? args : undefined }, message),
    },
    plugins: [
      organization({
        ac: teamAccess,
        roles: teamRoles,
        creatorRole: "owner",
        allowUserToCreateOrganization: (user) => user.role === ADMIN_ROLE,
        organizationHooks: {
          // The slug is the team's name in Kubernetes: its namespaces' turgon.dev/team label,
          // its RoleBindings and group, and the team of a namespace of that name. Renaming it
          // would orphan the first and could claim the last, so it never changes.
          beforeUpdateOrganization: async ({ organization }) => {
            if (typeof organization.slug === "string")
              throw new APIError("BAD_REQUEST", {
                message: "A team's slug is its name in Kubernetes and cannot be changed.",
              });
          },
          afterCreateOrganization: changed("team created"),
          afterDeleteOrganization: changed("team deleted"),
          afterAddMember: changed("member added"),
          afterRemoveMember: changed("member removed"),
          afterUpdateMemberRole: changed("member role changed"),
        },
      }),
      admin({ defaultRole: "user", adminRoles: [ADMIN_ROLE] }),
      // Last, as better-auth asks: lets server actions set the session cookie.
      nextCookies(),
    ],
  });
}
export type Auth = ReturnType<typeof createAuth>;

/**
 * Teams, for platform admins: better-auth organizations (the slug is the
 * team's Kubernetes name), their members, and the namespaces bound to
 * them. Membership changes go through better-auth where it allows a
 * platform admin to act (creating teams, adding members); Kubernetes
 * changes go through the kube layer as the signed-in admin, so Kubernetes
 * RBAC decides. Every change to memberships rewrites the SSH users list
 * (better-auth's hooks in auth/config.ts; here for what bypasses them).
 */
import { randomBytes } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { dnsLabel } from "@turgon/api/crd";
import { TEAM_LABEL } from "@turgon/api/routing";
import { z } from "zod";
import { ADMIN_ROLE, getAuth, type TurgonSession } from "~/server/auth/index.ts";
import { getDb } from "~/server/db.ts";
import { bindNamespace, impersonatedApis, unbindNamespace } from "~/server/kube/index.ts";
import { dashboardKubeConfig } from "~/server/kubeconfig.ts";
import { componentLogger } from "~/server/logger.ts";
import { publishSshUsers } from "~/server/ssh/index.ts";
import { authRefusal, fieldError, kubeError } from "../errors.ts";
import { adminProcedure, createTRPCRouter } from "../trpc.ts";

const log = componentLogger("teams");

/** A team's Kubernetes name: a DNS label, and not one of the platform's own namespaces. */
export const teamSlug = dnsLabel.refine(
  (slug) => !slug.startsWith("kube-") && slug !== "turgon-system",
  "is reserved for the platform (kube-* and turgon-system)",
);
const teamName = z.string().trim().min(1, "is required").max(64, "must be at most 64 characters");
const TeamRole = z.enum(["owner", "member"]);

/** The minimum length better-auth enforces (emailAndPassword.minPasswordLength) is 12. */
export function generatePassword(): string {
  return randomBytes(18).toString("base64url");
}

/** The signed-in admin, as the kube layer impersonates them. */
function adminApis(session: TurgonSession) {
  return impersonatedApis(dashboardKubeConfig(), {
    email: session.user.email,
    teams: session.teams,
    admin: true,
  });
}

async function teamBySlug(slug: string) {
  const team = await getDb().organization.findUnique({
    where: { slug },
    select: { id: true, slug: true, name: true },
  });
  if (!team) throw fieldError("NOT_FOUND", "team", `There is no team ${slug}.`);
  return team;
}

export const teamsRouter = createTRPCRouter({
  /**
   * Every team with its members and its namespaces. The namespaces are
   * read as the admin (one list, by the turgon.dev/team label); if
   * Kubernetes cannot be read, the teams still show, with the reason.
   */
  list: adminProcedure.query(async ({ ctx }) => {
    const teams = await getDb().organization.findMany({
      orderBy: { name: "asc" },
      select: {
        id: true,
        name: true,
        slug: true,
        createdAt: true,
        members: {
          orderBy: { createdAt: "asc" },
          select: {
            id: true,
            role: true,
            createdAt: true,
            user: { select: { id: true, email: true, name: true, role: true } },
          },
        },
      },
    });
    const held = new Map<string, string[]>();
    let namespacesError: string | undefined;
    try {
      const list = await adminApis(ctx.session).core.listNamespace({ labelSelector: TEAM_LABEL });
      for (const namespace of list.items) {
        const team = namespace.metadata?.labels?.[TEAM_LABEL];
        const name = namespace.metadata?.name;
        if (team && name) held.set(team, [...(held.get(team) ?? []), name].sort());
      }
    } catch (error) {
      namespacesError = kubeError(error).message;
      log.warn({ err: namespacesError }, "could not list the teams' namespaces");
    }
    const known = new Set(teams.map((t) => t.slug));
    return {
      teams: teams.map((team) => ({
        id: team.id,
        name: team.name,
        slug: team.slug,
        createdAt: team.createdAt,
        members: team.members.map((m) => ({
          memberId: m.id,
          userId: m.user.id,
          email: m.user.email,
          name: m.user.name,
          role: m.role,
          isAdmin: (m.user.role ?? "").split(",").includes(ADMIN_ROLE),
          joinedAt: m.createdAt,
        })),
        namespaces: held.get(team.slug) ?? [],
      })),
      /** Namespaces labelled for a team the dashboard does not know (bound by hand). */
      strayNamespaces: [...held.entries()]
        .filter(([team]) => !known.has(team))
        .flatMap(([team, namespaces]) => namespaces.map((namespace) => ({ team, namespace }))),
      namespacesError,
    };
  }),

  /** A new team; the admin who creates it is its first owner (better-auth's rule). */
  create: adminProcedure
    .input(z.object({ name: teamName, slug: teamSlug }))
    .mutation(async ({ ctx, input }) => {
      if (
        await getDb().organization.findUnique({ where: { slug: input.slug }, select: { id: true } })
      )
        throw fieldError("CONFLICT", "slug", `A team with the slug ${input.slug} exists already.`);
      let created: { id: string; slug: string; name: string };
      try {
        created = await getAuth().api.createOrganization({
          body: { name: input.name, slug: input.slug, keepCurrentActiveOrganization: true },
          headers: ctx.headers,
        });
      } catch (error) {
        const refusal = authRefusal(error);
        if (refusal?.code === "ORGANIZATION_ALREADY_EXISTS")
          throw fieldError(
            "CONFLICT",
            "slug",
            `A team with the slug ${input.slug} exists already.`,
          );
        if (refusal) throw new TRPCError({ code: "BAD_REQUEST", message: refusal.message });
        throw error;
      }
      log.info({ team: created.slug, by: ctx.session.user.email }, "team created");
      return { id: created.id, slug: created.slug, name: created.name };
    }),

  /**
   * Adds a user to a team by email. Without an account for that email the
   * admin creates one with a generated password, returned this once (never
   * logged, never stored in clear).
   */
  addMember: adminProcedure
    .input(
      z.object({
        team: teamSlug,
        email: z.email("must be an email address").trim().toLowerCase().max(254),
        /** For a new account; defaults to the part of the email before the @. */
        name: z.string().trim().max(64, "must be at most 64 characters").optional(),
        role: TeamRole.default("member"),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const db = getDb();
      const team = await teamBySlug(input.team);
      let user = await db.user.findUnique({
        where: { email: input.email },
        select: { id: true, email: true, name: true },
      });
      if (user) {
        const existing = await db.member.findUnique({
          where: { organizationId_userId: { organizationId: team.id, userId: user.id } },
          select: { id: true },
        });
        if (existing)
          throw fieldError(
            "CONFLICT",
            "email",
            `${user.email} is already a member of ${team.name}.`,
          );
      }
      let password: string | undefined;
      if (!user) {
        password = generatePassword();
        try {
          const made = await getAuth().api.createUser({
            body: {
              email: input.email,
              password,
              name: input.name || (input.email.split("@")[0] as string),
              role: "user",
            },
            headers: ctx.headers,
          });
          user = { id: made.user.id, email: made.user.email, name: made.user.name };
        } catch (error) {
          const refusal = authRefusal(error);
          if (refusal) throw fieldError("BAD_REQUEST", "email", refusal.message);
          throw error;
        }
        log.info({ user: user.email, by: ctx.session.user.email }, "user created");
      }
      try {
        await getAuth().api.addMember({
          body: { userId: user.id, organizationId: team.id, role: input.role },
        });
      } catch (error) {
        // A user made just now for this team must not stay behind without it (their password is lost).
        if (password) await db.user.delete({ where: { id: user.id } }).catch(() => undefined);
        const refusal = authRefusal(error);
        if (refusal?.code === "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION")
          throw fieldError(
            "CONFLICT",
            "email",
            `${user.email} is already a member of ${team.name}.`,
          );
        if (refusal) throw fieldError("BAD_REQUEST", "email", refusal.message);
        throw error;
      }
      log.info(
        { team: team.slug, user: user.email, role: input.role, by: ctx.session.user.email },
        "member added",
      );
      return {
        user,
        role: input.role,
        created: password !== undefined,
        ...(password === undefined ? {} : { password }),
      };
    }),

  /**
   * Removes a membership. better-auth's removeMember acts only for the
   * team's own owners, and platform admins manage every team, member of it
   * or not, so this deletes the membership row itself.
   */
  removeMember: adminProcedure
    .input(z.object({ team: teamSlug, memberId: z.string().min(1, "is required").max(128) }))
    .mutation(async ({ ctx, input }) => {
      const team = await teamBySlug(input.team);
      const removed = await getDb().member.deleteMany({
        where: { id: input.memberId, organizationId: team.id },
      });
      if (removed.count === 0)
        throw fieldError("NOT_FOUND", "memberId", `That member is not in ${team.name} (any more).`);
      log.info(
        { team: team.slug, member: input.memberId, by: ctx.session.user.email },
        "member removed",
      );
      publishSshUsers("member removed");
      return { removed: true };
    }),

  /**
   * Binds an existing namespace to a team (its turgon.dev/team label and
   * the team's RoleBinding), as the signed-in admin. A namespace another
   * team holds is refused, naming that team.
   */
  bindNamespace: adminProcedure
    .input(z.object({ team: teamSlug, namespace: dnsLabel }))
    .mutation(async ({ ctx, input }) => {
      const team = await teamBySlug(input.team);
      try {
        const binding = await bindNamespace(adminApis(ctx.session), team.slug, input.namespace, {
          log,
        });
        return { namespace: binding.namespace, changed: binding.changed };
      } catch (error) {
        throw kubeError(error);
      }
    }),

  /** Unbinds a namespace from a team (RoleBinding first, then the label), as the signed-in admin. */
  unbindNamespace: adminProcedure
    .input(z.object({ team: teamSlug, namespace: dnsLabel }))
    .mutation(async ({ ctx, input }) => {
      const team = await teamBySlug(input.team);
      try {
        const binding = await unbindNamespace(adminApis(ctx.session), team.slug, input.namespace, {
          log,
        });
        return { namespace: binding.namespace, changed: binding.changed };
      } catch (error) {
        throw kubeError(error);
      }
    }),
});

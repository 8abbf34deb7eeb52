import { getDb } from "../../db.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

/** Who the caller is: the plumbing every other router builds on. */
export const meRouter = createTRPCRouter({
  /** The signed-in user and the slugs of their teams. */
  get: protectedProcedure.query(({ ctx }) => ({
    user: ctx.session.user,
    isAdmin: ctx.session.isAdmin,
    teams: ctx.session.teams,
  })),

  /** The caller's teams with their names and the caller's role in each. */
  teams: protectedProcedure.query(async ({ ctx }) => {
    const memberships = await getDb().member.findMany({
      where: { userId: ctx.session.user.id },
      select: {
        role: true,
        createdAt: true,
        organization: { select: { slug: true, name: true } },
      },
      orderBy: { organization: { name: "asc" } },
    });
    return memberships.map((m) => ({
      slug: m.organization.slug,
      name: m.organization.name,
      role: m.role,
      joinedAt: m.createdAt,
    }));
  }),
});

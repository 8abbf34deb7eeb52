/**
 * Users, for platform admins: who exists, their teams and keys, and who is
 * a platform admin (better-auth's admin plugin role, which also puts them
 * in the Kubernetes group turgon:admins and makes them admins at the SSH
 * gateway).
 */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { ADMIN_ROLE, getAuth } from "~/server/auth/index.ts";
import { getDb } from "~/server/db.ts";
import { componentLogger } from "~/server/logger.ts";
import { authRefusal, fieldError } from "../errors.ts";
import { adminProcedure, createTRPCRouter } from "../trpc.ts";

const log = componentLogger("users");

const isAdminRole = (role: string | null) => (role ?? "").split(",").includes(ADMIN_ROLE);

export const usersRouter = createTRPCRouter({
  /** Every user, admins first, with their teams and how many SSH keys they have. */
  list: adminProcedure.query(async () => {
    const users = await getDb().user.findMany({
      orderBy: { email: "asc" },
      select: {
        id: true,
        email: true,
        name: true,
        role: true,
        banned: true,
        createdAt: true,
        members: { select: { role: true, organization: { select: { slug: true } } } },
        _count: { select: { sshKeys: true } },
      },
    });
    return users
      .map((user) => ({
        id: user.id,
        email: user.email,
        name: user.name,
        isAdmin: isAdminRole(user.role),
        banned: user.banned === true,
        createdAt: user.createdAt,
        teams: user.members.map((m) => ({ slug: m.organization.slug, role: m.role })),
        sshKeys: user._count.sshKeys,
      }))
      .sort((a, b) => Number(b.isAdmin) - Number(a.isAdmin));
  }),

  /** Makes a user a platform admin, or a plain user again; admins cannot demote themselves. */
  setAdmin: adminProcedure
    .input(z.object({ userId: z.string().min(1, "is required").max(128), admin: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      if (input.userId === ctx.session.user.id && !input.admin)
        throw fieldError(
          "BAD_REQUEST",
          "userId",
          "You cannot remove your own admin role; ask another admin.",
        );
      try {
        await getAuth().api.setRole({
          body: { userId: input.userId, role: input.admin ? ADMIN_ROLE : "user" },
          headers: ctx.headers,
        });
      } catch (error) {
        const refusal = authRefusal(error);
        if (refusal?.status === 404)
          throw fieldError("NOT_FOUND", "userId", "There is no such user.");
        if (refusal) throw new TRPCError({ code: "BAD_REQUEST", message: refusal.message });
        throw error;
      }
      log.info(
        { user: input.userId, admin: input.admin, by: ctx.session.user.email },
        "admin role set",
      );
      return { userId: input.userId, admin: input.admin };
    }),
});

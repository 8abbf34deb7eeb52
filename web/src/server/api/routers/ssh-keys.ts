/**
 * Each user's SSH public keys, which the router's SSH gateway accepts for
 * them (`ssh <sandbox>.<namespace>@<gateway>`). Every change rewrites the
 * gateway's users list in the background.
 */
import { Prisma } from "@turgon/prisma";
import { z } from "zod";
import { getDb } from "~/server/db.ts";
import { componentLogger } from "~/server/logger.ts";
import { parseSshPublicKey, publishSshUsers, SshKeyError } from "~/server/ssh/index.ts";
import { fieldError } from "../errors.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

const log = componentLogger("ssh-keys");

/** The key line, read and checked: errors land on the `publicKey` field. */
const publicKey = z
  .string()
  .max(16_384, "is too long for a public key line")
  .transform((text, ctx) => {
    try {
      return parseSshPublicKey(text);
    } catch (error) {
      if (!(error instanceof SshKeyError)) throw error;
      ctx.addIssue({ code: "custom", message: error.message });
      return z.NEVER;
    }
  });

/** What the owner sees of a key: never needed again in full. */
function summarize(key: {
  id: string;
  name: string;
  publicKey: string;
  fingerprint: string;
  createdAt: Date;
}) {
  const parsed = parseSshPublicKey(key.publicKey);
  return {
    id: key.id,
    name: key.name,
    fingerprint: key.fingerprint,
    type: parsed.type,
    algorithm: parsed.algorithm,
    bits: parsed.bits,
    comment: parsed.comment,
    createdAt: key.createdAt,
  };
}

export const sshKeysRouter = createTRPCRouter({
  /** The caller's keys, oldest first. */
  list: protectedProcedure.query(async ({ ctx }) => {
    const keys = await getDb().sshKey.findMany({
      where: { userId: ctx.session.user.id },
      orderBy: { createdAt: "asc" },
    });
    return keys.map(summarize);
  }),

  /** Registers a key for the caller; a key registered anywhere already is refused. */
  add: protectedProcedure
    .input(
      z.object({
        name: z.string().trim().min(1, "is required").max(64, "must be at most 64 characters"),
        publicKey,
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const db = getDb();
      const duplicate = () =>
        fieldError("CONFLICT", "publicKey", "This key is registered already.");
      const existing = await db.sshKey.findUnique({
        where: { fingerprint: input.publicKey.fingerprint },
        select: { userId: true, name: true },
      });
      if (existing)
        throw existing.userId === ctx.session.user.id
          ? fieldError(
              "CONFLICT",
              "publicKey",
              `You registered this key already, as "${existing.name}".`,
            )
          : duplicate();
      let key: Awaited<ReturnType<typeof db.sshKey.create>>;
      try {
        key = await db.sshKey.create({
          data: {
            userId: ctx.session.user.id,
            name: input.name,
            publicKey: input.publicKey.line,
            fingerprint: input.publicKey.fingerprint,
          },
        });
      } catch (error) {
        // Registered by someone else between the check and now.
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002")
          throw duplicate();
        throw error;
      }
      log.info({ user: ctx.session.user.email, fingerprint: key.fingerprint }, "SSH key added");
      publishSshUsers("SSH key added");
      return summarize(key);
    }),

  /** Deletes one of the caller's keys. */
  remove: protectedProcedure
    .input(z.object({ id: z.string().min(1, "is required").max(128) }))
    .mutation(async ({ ctx, input }) => {
      const removed = await getDb().sshKey.deleteMany({
        where: { id: input.id, userId: ctx.session.user.id },
      });
      if (removed.count === 0) throw fieldError("NOT_FOUND", "id", "You have no such key.");
      log.info({ user: ctx.session.user.email, key: input.id }, "SSH key removed");
      publishSshUsers("SSH key removed");
      return { removed: true };
    }),
});

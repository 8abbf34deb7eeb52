/**
 * tRPC set-up: the request context (the better-auth session) and the
 * procedures every router builds on. Routers live in ./routers/, one per area.
 */
import "server-only";
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, z } from "zod";
import { getSession, type TurgonSession } from "../auth/index.ts";
import { componentLogger } from "../logger.ts";
import { PolicyConflict } from "../policies/conflicts.ts";

const log = componentLogger("trpc");

export interface TRPCContext {
  headers: Headers;
  session: TurgonSession | null;
}

export async function createTRPCContext(opts: { headers: Headers }): Promise<TRPCContext> {
  return { headers: opts.headers, session: await getSession(opts.headers) };
}

const t = initTRPC.context<TRPCContext>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    return {
      ...shape,
      data: {
        ...shape.data,
        // Field errors for forms; never a stack in production.
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
        // A policy saved over someone else's newer version: theirs, to show (policies router).
        conflict: error.cause instanceof PolicyConflict ? error.cause.details : null,
      },
    };
  },
});

export const createCallerFactory = t.createCallerFactory;
export const createTRPCRouter = t.router;

/** Logs each call's path, outcome and duration (never its input: it may hold secrets). */
const logged = t.middleware(async ({ path, type, ctx, next }) => {
  const started = performance.now();
  const result = await next();
  const fields = {
    path,
    type,
    user: ctx.session?.user.email,
    ms: Math.round(performance.now() - started),
  };
  if (result.ok) log.debug(fields, "call");
  else if (result.error.code === "INTERNAL_SERVER_ERROR")
    log.error({ ...fields, err: result.error.cause ?? result.error }, "call failed");
  else log.info({ ...fields, code: result.error.code }, "call refused");
  return result;
});

/** Anyone, signed in or not. */
export const publicProcedure = t.procedure.use(logged);

/** Signed-in users only: 401 UNAUTHORIZED without a session. */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.session) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first." });
  return next({ ctx: { ...ctx, session: ctx.session } });
});

/** Platform admins only: 403 FORBIDDEN for everyone else. */
export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!ctx.session.isAdmin)
    throw new TRPCError({ code: "FORBIDDEN", message: "Only platform admins may do this." });
  return next({ ctx });
});

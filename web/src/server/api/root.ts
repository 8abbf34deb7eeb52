import { meRouter } from "./routers/me.ts";
import { terminalRouter } from "./routers/terminal.ts";
import { createCallerFactory, createTRPCRouter } from "./trpc.ts";

/** Every area's router; the sandboxes, teams and nodes routers join here. */
export const appRouter = createTRPCRouter({
  me: meRouter,
  terminal: terminalRouter,
});

export type AppRouter = typeof appRouter;

/** Calls procedures in-process, for server components. */
export const createCaller = createCallerFactory(appRouter);

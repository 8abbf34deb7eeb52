import { meRouter } from "./routers/me.ts";
import { nodesRouter } from "./routers/nodes.ts";
import { sandboxesRouter } from "./routers/sandboxes.ts";
import { createCallerFactory, createTRPCRouter } from "./trpc.ts";

/** Every area's router; the sandboxes, teams and nodes routers join here. */
export const appRouter = createTRPCRouter({
  me: meRouter,
  sandboxes: sandboxesRouter,
  nodes: nodesRouter,
});

export type AppRouter = typeof appRouter;

/** Calls procedures in-process, for server components. */
export const createCaller = createCallerFactory(appRouter);

import { auditRouter } from "./routers/audit.ts";
import { meRouter } from "./routers/me.ts";
import { nodesRouter } from "./routers/nodes.ts";
import { policiesRouter } from "./routers/policies.ts";
import { policyRequestsRouter } from "./routers/policy-requests.ts";
import { sandboxNetworkRouter } from "./routers/sandbox-network.ts";
import { sandboxesRouter } from "./routers/sandboxes.ts";
import { sshKeysRouter } from "./routers/ssh-keys.ts";
import { teamsRouter } from "./routers/teams.ts";
import { terminalRouter } from "./routers/terminal.ts";
import { usersRouter } from "./routers/users.ts";
import { createCallerFactory, createTRPCRouter } from "./trpc.ts";

/** Every area's router. */
export const appRouter = createTRPCRouter({
  audit: auditRouter,
  me: meRouter,
  sandboxes: sandboxesRouter,
  sandboxNetwork: sandboxNetworkRouter,
  nodes: nodesRouter,
  policies: policiesRouter,
  policyRequests: policyRequestsRouter,
  sshKeys: sshKeysRouter,
  teams: teamsRouter,
  terminal: terminalRouter,
  users: usersRouter,
});

export type AppRouter = typeof appRouter;

/** Calls procedures in-process, for server components. */
export const createCaller = createCallerFactory(appRouter);

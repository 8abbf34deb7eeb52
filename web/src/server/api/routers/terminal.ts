/**
 * The web terminal: a short-lived, single-use exec token for the router's
 * exec WebSocket, minted only when Kubernetes RBAC lets the signed-in user
 * `create` `sandboxes/exec` in that namespace (asked as them).
 */

import { TRPCError } from "@trpc/server";
import { dnsLabel } from "@turgon/api/crd";
import { mintExecToken } from "@turgon/api/routing";
import { z } from "zod";
import { serverConfig } from "../../config.ts";
import { impersonatedApis, KubeApiError, PrincipalError } from "../../kube/index.ts";
import { componentLogger } from "../../logger.ts";
import { mayExec, sandboxReadiness } from "../../terminal/access.ts";
import { execSocketUrl } from "../../terminal/exec-url.ts";
import { currentSigningKey, dashboardKubeConfig } from "../../terminal/stopgap.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

const log = componentLogger("terminal");

/** How long a minted token is good for: enough to open the socket, no more (the router takes it once). */
export const EXEC_TOKEN_TTL_SECONDS = 60;

const ExecTarget = z.object({ namespace: dnsLabel, name: dnsLabel });

/** Kubernetes' and the principal check's refusals as tRPC errors; anything else stays a 500. */
function asTRPCError(error: unknown): unknown {
  if (error instanceof PrincipalError)
    return new TRPCError({ code: "BAD_REQUEST", message: error.message, cause: error });
  if (error instanceof KubeApiError && error.status === 403)
    return new TRPCError({ code: "FORBIDDEN", message: error.message, cause: error });
  return error;
}

export const terminalRouter = createTRPCRouter({
  /**
   * A token for one terminal session in a sandbox, as the router's exec
   * WebSocket URL (`wss://<router>/v1/exec?token=…`); call again for each
   * connection (reconnect included). FORBIDDEN unless RBAC allows exec
   * there, NOT_FOUND for no such sandbox, PRECONDITION_FAILED while it is
   * not Ready.
   */
  mintToken: protectedProcedure.input(ExecTarget).mutation(async ({ ctx, input }) => {
    const { user, teams, isAdmin } = ctx.session;
    const target = `${input.namespace}/${input.name}`;
    try {
      const apis = impersonatedApis(dashboardKubeConfig(), {
        email: user.email,
        teams,
        admin: isAdmin,
      });
      const decision = await mayExec(apis, input);
      if (!decision.allowed)
        throw new TRPCError({
          code: "FORBIDDEN",
          message: `You may not open a terminal in ${target}: RBAC does not let ${user.email} create sandboxes/exec in namespace ${input.namespace}.`,
        });
      const readiness = await sandboxReadiness(apis, input);
      if (readiness.state === "missing")
        throw new TRPCError({ code: "NOT_FOUND", message: `There is no sandbox ${target}.` });
      if (readiness.state === "not-ready")
        throw new TRPCError({
          code: "PRECONDITION_FAILED",
          message: `Sandbox ${target} is not ready (${readiness.phase}); try again once it runs.`,
        });
      const token = await mintExecToken(
        await currentSigningKey(),
        // The email, as Kubernetes knew the user when it allowed this; the session record carries it.
        { sub: user.email, namespace: input.namespace, sandbox: input.name },
        EXEC_TOKEN_TTL_SECONDS,
      );
      log.info(
        { user: user.email, namespace: input.namespace, sandbox: input.name },
        "exec token minted",
      );
      return {
        url: execSocketUrl(serverConfig().TURGON_ROUTER_URL, token),
        expiresAt: new Date(Date.now() + EXEC_TOKEN_TTL_SECONDS * 1000),
      };
    } catch (error) {
      throw asTRPCError(error);
    }
  }),
});

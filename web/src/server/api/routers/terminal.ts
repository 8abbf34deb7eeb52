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
import { ingressTokenKey } from "../../ingress/index.ts";
import { impersonatedApis } from "../../kube/index.ts";
import { dashboardKubeConfig } from "../../kubeconfig.ts";
import { componentLogger } from "../../logger.ts";
import { mayExec, type SandboxReadiness, sandboxReadiness } from "../../terminal/access.ts";
import { execSocketUrl } from "../../terminal/exec-url.ts";
import { kubeError } from "../errors.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

const log = componentLogger("terminal");

/** How long a minted token is good for: enough to open the socket, no more (the router takes it once). */
export const EXEC_TOKEN_TTL_SECONDS = 60;

const ExecTarget = z.object({ namespace: dnsLabel, name: dnsLabel });

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
    let allowed: boolean;
    let readiness: SandboxReadiness | undefined;
    try {
      const apis = impersonatedApis(dashboardKubeConfig(), {
        email: user.email,
        teams,
        admin: isAdmin,
      });
      ({ allowed } = await mayExec(apis, input));
      // Read only once allowed, so a refusal says nothing about whether the sandbox exists.
      if (allowed) readiness = await sandboxReadiness(apis, input);
    } catch (error) {
      throw kubeError(error);
    }
    if (!allowed)
      throw new TRPCError({
        code: "FORBIDDEN",
        message: `You may not open a terminal in ${target}: RBAC does not let ${user.email} create sandboxes/exec in namespace ${input.namespace}.`,
      });
    if (readiness?.state === "missing")
      throw new TRPCError({ code: "NOT_FOUND", message: `There is no sandbox ${target}.` });
    if (readiness?.state === "not-ready")
      throw new TRPCError({
        code: "PRECONDITION_FAILED",
        message: `Sandbox ${target} is not ready (${readiness.phase}); try again once it runs.`,
      });
    const token = await mintExecToken(
      await ingressTokenKey(),
      // The email, as Kubernetes knew the user when it allowed this (and as SSH sessions record them).
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
  }),
});

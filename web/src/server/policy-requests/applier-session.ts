/** The applier for a signed-in user of the dashboard (server-only): see ./applier.ts. */
import "server-only";
import { TRPCError } from "@trpc/server";
import type { TurgonSession } from "~/server/auth/index.ts";
import { toTRPCError } from "~/server/kube-errors.ts";
import { actingPrincipalOf, policyDeps } from "~/server/policies/session.ts";
import { allowHostApplier } from "./applier.ts";
import type { AllowHostApplier } from "./service.ts";

/** Applies as the session's user (the approver). */
export function allowHostApplierFor(session: TurgonSession): AllowHostApplier {
  const principal = actingPrincipalOf(session);
  const apply = allowHostApplier(principal, policyDeps(principal));
  return async (actor, input) => {
    try {
      return await apply(actor, input);
    } catch (error) {
      if (error instanceof TRPCError) throw error;
      throw toTRPCError(error);
    }
  };
}

/**
 * The seam with the policy editor core: approval applies a host through
 * `applyAllowHost` (web/src/server/policies/apply.ts), as the approver.
 * Until that lands this applier refuses with a clear message, so a request
 * is never marked approved without its change.
 */
import "server-only";
import { TRPCError } from "@trpc/server";
import type { AllowHostApplier } from "./service.ts";

export const allowHostApplier: AllowHostApplier = async () => {
  throw new TRPCError({
    code: "PRECONDITION_FAILED",
    message: "Applying policy changes is not available in this build yet.",
  });
};

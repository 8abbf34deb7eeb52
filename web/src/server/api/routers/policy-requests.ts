/**
 * Requests to allow a host (issue 13): made from a denied egress event the
 * user can see, decided by an admin or the team's owner; approval applies
 * the change as the approver (Kubernetes RBAC decides). Also "who allowed
 * this host" for an audit row, and the report-mode rollout's hosts.
 */
import { z } from "zod";
import { auditPool } from "~/server/audit/index.ts";
import type { TurgonSession } from "~/server/auth/index.ts";
import { getKubeCache } from "~/server/kube-cache.ts";
import { allowHostApplierFor } from "~/server/policy-requests/applier-session.ts";
import {
  type Actor,
  allowedBy,
  allowNow,
  approveRequest,
  CreateInput,
  canDecide,
  createRequest,
  DecideInput,
  ListInput,
  listRequests,
  RolloutInput,
  rejectRequest,
  requestsForEvent,
  type TeamDirectory,
  wouldDenyHosts,
} from "~/server/policy-requests/index.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

function actorOf(session: TurgonSession): Actor {
  return {
    id: session.user.id,
    email: session.user.email,
    isAdmin: session.isAdmin,
    teams: session.teams,
  };
}

async function teamDirectory(): Promise<TeamDirectory> {
  return getKubeCache();
}

const EventKey = z.object({ eventId: z.uuid(), eventTime: z.iso.datetime() });

export const policyRequestsRouter = createTRPCRouter({
  /** A request to allow the event's host (or a wildcard covering it); a pending duplicate is returned. */
  create: protectedProcedure
    .input(CreateInput)
    .mutation(({ ctx, input }) => createRequest(auditPool(), actorOf(ctx.session), input)),

  /** Create and approve in one step (admins and the team's owners/admins). */
  allowNow: protectedProcedure
    .input(CreateInput.extend({ note: DecideInput.shape.note }))
    .mutation(async ({ ctx, input }) =>
      allowNow(
        auditPool(),
        await teamDirectory(),
        actorOf(ctx.session),
        input,
        allowHostApplierFor(ctx.session),
      ),
    ),

  list: protectedProcedure
    .input(ListInput)
    .query(async ({ ctx, input }) =>
      listRequests(auditPool(), await teamDirectory(), actorOf(ctx.session), input),
    ),

  approve: protectedProcedure
    .input(DecideInput)
    .mutation(async ({ ctx, input }) =>
      approveRequest(
        auditPool(),
        await teamDirectory(),
        actorOf(ctx.session),
        input,
        allowHostApplierFor(ctx.session),
      ),
    ),

  reject: protectedProcedure
    .input(DecideInput)
    .mutation(async ({ ctx, input }) =>
      rejectRequest(auditPool(), await teamDirectory(), actorOf(ctx.session), input),
    ),

  /** For an audit row: its requests, who allowed its host, and whether this user may allow directly. */
  forEvent: protectedProcedure.input(EventKey).query(async ({ ctx, input }) => {
    const actor = actorOf(ctx.session);
    const db = auditPool();
    const requests = await requestsForEvent(db, actor, input);
    const changes = await allowedBy(db, actor, input);
    return { requests, changes };
  }),

  /** Whether this user may approve (and allow directly) in a namespace. */
  canDecide: protectedProcedure
    .input(z.object({ namespace: z.string().min(1).max(63) }))
    .query(async ({ ctx, input }) =>
      canDecide(auditPool(), await teamDirectory(), actorOf(ctx.session), input.namespace),
    ),

  /** Hosts that would have been denied under a policy in report mode. */
  rollout: protectedProcedure
    .input(RolloutInput)
    .query(({ ctx, input }) => wouldDenyHosts(auditPool(), actorOf(ctx.session), input)),
});

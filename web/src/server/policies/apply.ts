/**
 * Allowing one host in a SandboxPolicy: what approving a member's request
 * does (and an owner's or admin's own "allow this host"). The policy is
 * re-read and written with its resourceVersion; when someone else saved
 * meanwhile (409) it is read again and the host added to their version, so
 * no one's change is lost. The history row carries action "approve" and
 * the request's id.
 *
 * In a tRPC procedure: `applyAllowHost({ principal: actingPrincipalOf(ctx.session), … },
 * policyDeps(actingPrincipalOf(ctx.session)))` (./session.ts); map errors with toTRPCError.
 */

import { TRPCError } from "@trpc/server";
import { hostPattern } from "@turgon/api/crd";
import { hostCovered } from "@turgon/api/policy";
import type { PolicyChange } from "@turgon/prisma";
import { ZodRealError } from "zod";
import { statusOf } from "../kube/errors.ts";
import { recordChange } from "./changes.ts";
import type { ActingPrincipal, PolicyDeps } from "./deps.ts";
import { readPolicy, replacePolicy } from "./kube.ts";

export interface AllowHostInput {
  /** Who approves: the write is made as them, so Kubernetes RBAC decides (owners and admins may). */
  principal: ActingPrincipal;
  namespace: string;
  kind: "SandboxPolicy";
  name: string;
  /** A host pattern as allowedHosts takes it: a name, `*.domain` or `*`. */
  host: string;
  reason?: string | null;
  /** The PolicyRequest this approves, if any (recorded on the change). */
  requestId?: string | null;
  /**
   * The denied egress event the request came from. The change links to it
   * through the request (PolicyRequest keeps the event); accepted here so
   * callers can pass what they have.
   */
  eventId?: string | null;
}

/** Attempts when other writers keep saving in between. */
const ATTEMPTS = 5;

/**
 * Adds `host` to the policy's allowedHosts as `principal` and records the
 * change (action "approve"). When the policy already allows the host (the
 * host itself or a wildcard covering it), nothing is written to the
 * cluster, and the history row says so with an empty diff. Errors: a bad
 * host is BAD_REQUEST naming `host`; what the API server refuses comes back
 * as its KubeApiError (403 when RBAC refuses, 404, 422).
 */
export async function applyAllowHost(
  input: AllowHostInput,
  deps: PolicyDeps,
): Promise<PolicyChange> {
  const host = hostPattern.safeParse(input.host);
  if (!host.success)
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: `host: ${host.error.issues[0]?.message ?? "is not a host pattern"}`,
      cause: new ZodRealError([
        {
          code: "custom",
          path: ["host"],
          message: host.error.issues[0]?.message ?? "is not a host pattern",
          input: undefined,
        },
      ]),
    });
  const { apis, db } = deps;
  const actor = { userId: input.principal.userId, email: input.principal.email };
  for (let attempt = 1; ; attempt++) {
    const current = await readPolicy(apis, input.namespace, input.name);
    const allowed = current.spec.allowedHosts ?? [];
    const record = {
      namespace: input.namespace,
      kind: input.kind,
      name: input.name,
      action: "approve" as const,
      before: current.spec,
      reason: input.reason ?? null,
      requestId: input.requestId ?? null,
      actor,
    };
    if (allowed.some((pattern) => hostCovered(pattern, host.data)))
      return recordChange(db, {
        ...record,
        resourceVersion: current.metadata.resourceVersion ?? "",
        after: current.spec,
      });
    const spec = { ...current.spec, allowedHosts: [...allowed, host.data] };
    try {
      const saved = await replacePolicy(
        apis,
        {
          namespace: input.namespace,
          name: input.name,
          spec,
          resourceVersion: current.metadata.resourceVersion,
        },
        { base: current },
      );
      return recordChange(db, {
        ...record,
        resourceVersion: saved.metadata.resourceVersion ?? "",
        after: saved.spec,
      });
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= ATTEMPTS) throw error;
    }
  }
}

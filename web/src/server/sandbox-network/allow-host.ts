/**
 * Allowing one host in a Sandbox's own rules: what approving a member's
 * request does when the denied event had no SandboxPolicy (and an owner's or
 * admin's own "allow this host" on such an event). The host joins
 * spec.network.allowedHosts; when the sandbox has no inline list yet, the
 * list starts from the one in effect (its template's or policy's), since an
 * inline list replaces it whole and nothing allowed before may be lost.
 * Where the sandbox references a SandboxPolicy without allowSandboxOverrides
 * that does not allow the host, it is refused (PRECONDITION_FAILED naming
 * the field), as the operator would refuse it. The history row carries
 * action "approve" and the request's id; the request keeps the event.
 */
import { TRPCError } from "@trpc/server";
import { hostPattern } from "@turgon/api/crd";
import { hostCovered, mergeNetworkLayers } from "@turgon/api/policy";
import type { PolicyChange } from "@turgon/prisma";
import { ZodRealError } from "zod";
import { statusOf } from "../kube/errors.ts";
import { recordChange } from "../policies/changes.ts";
import type { ActingPrincipal, PolicyDeps } from "../policies/deps.ts";
import { readPolicy } from "../policies/kube.ts";
import { saveNetwork } from "./edit.ts";
import { networkOf, readSandbox } from "./kube.ts";
import { referencedPolicy } from "./rules.ts";

export interface AllowHostInSandboxInput {
  /** Who approves: the write is made as them, so Kubernetes RBAC decides. */
  principal: ActingPrincipal;
  namespace: string;
  name: string;
  host: string;
  reason?: string | null;
  requestId?: string | null;
}

/** Attempts when someone else keeps editing spec.network in between. */
const ATTEMPTS = 5;

function badHost(message: string): TRPCError {
  return new TRPCError({
    code: "BAD_REQUEST",
    message: `host: ${message}`,
    cause: new ZodRealError([{ code: "custom", path: ["host"], message, input: undefined }]),
  });
}

/**
 * Adds `host` to the sandbox's spec.network.allowedHosts as `principal` and
 * records the change. When the rules in effect already allow it, nothing is
 * written and the history row says so with an empty diff.
 */
export async function allowHostInSandbox(
  input: AllowHostInSandboxInput,
  deps: PolicyDeps,
): Promise<PolicyChange> {
  const host = hostPattern.safeParse(input.host);
  if (!host.success) throw badHost(host.error.issues[0]?.message ?? "is not a host pattern");
  const { apis, db } = deps;
  const ref = { namespace: input.namespace, name: input.name };
  for (let attempt = 1; ; attempt++) {
    const sandbox = await readSandbox(apis, ref.namespace, ref.name);
    const inline = networkOf(sandbox);
    const policyRef = await referencedPolicy(
      apis,
      ref.namespace,
      sandbox.spec.templateRef?.name,
      inline,
    );
    const policy = policyRef.name
      ? await readPolicy(apis, ref.namespace, policyRef.name)
      : undefined;
    const effective = mergeNetworkLayers({ policy, template: policyRef.template, inline });
    if (effective.rules.allowedHosts.some((pattern) => hostCovered(pattern, host.data)))
      return recordChange(db, {
        ...ref,
        kind: "Sandbox",
        action: "approve",
        resourceVersion: sandbox.metadata.resourceVersion ?? "",
        before: inline,
        after: inline,
        reason: input.reason ?? null,
        requestId: input.requestId ?? null,
        actor: { userId: input.principal.userId, email: input.principal.email },
      });
    if (
      policy &&
      !policy.spec.allowSandboxOverrides &&
      !(policy.spec.allowedHosts ?? []).some((pattern) => hostCovered(pattern, host.data))
    )
      throw new TRPCError({
        code: "PRECONDITION_FAILED",
        message: `spec.network.allowedHosts: SandboxPolicy "${policy.metadata.name}" does not allow "${host.data}" and does not set allowSandboxOverrides, so sandbox ${ref.namespace}/${ref.name} may not allow it in its own rules; allow it in the policy instead.`,
      });
    const network = { ...inline, allowedHosts: [...effective.rules.allowedHosts, host.data] };
    try {
      return await saveNetwork(
        deps,
        input.principal,
        { ...ref, network, loadedNetwork: inline, reason: input.reason ?? null },
        { action: "approve", requestId: input.requestId ?? null },
      );
    } catch (error) {
      // Someone changed the rules in between: add the host to theirs.
      if (error instanceof TRPCError && error.code === "CONFLICT" && attempt < ATTEMPTS) continue;
      if (statusOf(error) === 409 && attempt < ATTEMPTS) continue;
      throw error;
    }
  }
}

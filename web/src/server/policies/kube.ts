/**
 * SandboxPolicies on the API server, always as the signed-in user (through
 * impersonation), so Kubernetes RBAC decides every read and write.
 */
import { GROUP, type SandboxPolicy, VERSION } from "@turgon/api/crd";

type SandboxPolicySpec = SandboxPolicy["spec"];

import type { ImpersonatedApis } from "../kube/impersonation.ts";

export const POLICIES = { group: GROUP, version: VERSION, plural: "sandboxpolicies" } as const;

/** Without managedFields: noise to the browser and to diffs. */
export function trimmed<T extends { metadata?: unknown }>(object: T): T {
  const metadata = object.metadata as { managedFields?: unknown } | undefined;
  if (metadata) delete metadata.managedFields;
  return object;
}

/** One SandboxPolicy, read as the user. */
export async function readPolicy(
  apis: ImpersonatedApis,
  namespace: string,
  name: string,
): Promise<SandboxPolicy> {
  return trimmed(
    (await apis.customObjects.getNamespacedCustomObject({
      ...POLICIES,
      namespace,
      name,
    })) as SandboxPolicy,
  );
}

/** The SandboxPolicies of a namespace, listed as the user. */
export async function listPolicies(
  apis: ImpersonatedApis,
  namespace: string,
): Promise<SandboxPolicy[]> {
  const list = (await apis.customObjects.listNamespacedCustomObject({
    ...POLICIES,
    namespace,
  })) as { items: SandboxPolicy[] };
  return list.items.map(trimmed);
}

/** What a write sends: the object's identity, its spec, and the version it replaces. */
export interface PolicyWrite {
  namespace: string;
  name: string;
  spec: SandboxPolicySpec;
  /** The resourceVersion the user loaded: a newer one on the server makes the write a 409. */
  resourceVersion?: string | undefined;
}

function bodyOf(write: PolicyWrite, base?: SandboxPolicy): SandboxPolicy {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "SandboxPolicy",
    metadata: {
      ...(base?.metadata ?? {}),
      name: write.name,
      namespace: write.namespace,
      ...(write.resourceVersion ? { resourceVersion: write.resourceVersion } : {}),
    },
    spec: write.spec,
  } as SandboxPolicy;
}

/**
 * Replaces the policy's spec (metadata as `base` has it, labels and
 * annotations kept), carrying `resourceVersion` so a newer change is never
 * overwritten. `dryRun` runs every admission step (schema, CEL) and persists nothing.
 */
export async function replacePolicy(
  apis: ImpersonatedApis,
  write: PolicyWrite,
  options: { dryRun?: boolean; base?: SandboxPolicy } = {},
): Promise<SandboxPolicy> {
  return trimmed(
    (await apis.customObjects.replaceNamespacedCustomObject({
      ...POLICIES,
      namespace: write.namespace,
      name: write.name,
      body: bodyOf(write, options.base),
      ...(options.dryRun ? { dryRun: "All" } : {}),
      fieldManager: "turgon-web",
    })) as SandboxPolicy,
  );
}

/** Creates a policy (or, with `dryRun`, checks that it could be). */
export async function createPolicy(
  apis: ImpersonatedApis,
  write: PolicyWrite,
  options: { dryRun?: boolean } = {},
): Promise<SandboxPolicy> {
  return trimmed(
    (await apis.customObjects.createNamespacedCustomObject({
      ...POLICIES,
      namespace: write.namespace,
      body: bodyOf({ ...write, resourceVersion: undefined }),
      ...(options.dryRun ? { dryRun: "All" } : {}),
      fieldManager: "turgon-web",
    })) as SandboxPolicy,
  );
}

/** Deletes a policy if it still has `resourceVersion` (a precondition: never someone else's newer one). */
export async function deletePolicy(
  apis: ImpersonatedApis,
  namespace: string,
  name: string,
  resourceVersion: string,
): Promise<void> {
  await apis.customObjects.deleteNamespacedCustomObject({
    ...POLICIES,
    namespace,
    name,
    body: { preconditions: { resourceVersion } },
  });
}

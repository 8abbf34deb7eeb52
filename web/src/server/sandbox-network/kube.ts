/**
 * A Sandbox's spec.network on the API server, always as the signed-in user
 * (impersonation), so Kubernetes RBAC decides. Writes touch spec.network
 * only: a JSON patch of that one path, never a replace of the spec, so the
 * operator's status writes and other people's edits of the rest of the
 * spec are never overwritten.
 */
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { GROUP, type Sandbox, type SandboxSpec, VERSION } from "@turgon/api/crd";
import type { ImpersonatedApis } from "../kube/impersonation.ts";
import { trimmed } from "../policies/kube.ts";

export type Network = NonNullable<SandboxSpec["network"]>;

export const SANDBOXES = { group: GROUP, version: VERSION, plural: "sandboxes" } as const;
const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/** One Sandbox, read as the user. */
export async function readSandbox(
  apis: ImpersonatedApis,
  namespace: string,
  name: string,
): Promise<Sandbox> {
  return trimmed(
    (await apis.customObjects.getNamespacedCustomObject({
      ...SANDBOXES,
      namespace,
      name,
    })) as Sandbox,
  );
}

/** The sandbox's own network rules ({} when it has none). */
export function networkOf(sandbox: Sandbox): Network {
  return (sandbox.spec.network ?? {}) as Network;
}

/** A network with no rules and no policy is written as no spec.network at all. */
export function isEmptyNetwork(network: Network): boolean {
  return Object.keys(network).length === 0;
}

/**
 * Sets spec.network (removes it when `network` is empty) with a JSON patch
 * whose first operation sets metadata.resourceVersion to `resourceVersion`:
 * the API server then treats it as a precondition and answers 409 when the
 * object changed since (including a status write; the caller decides
 * whether that change matters). Returns undefined when there is nothing to
 * write (empty rules over none). `dryRun` runs admission (schema, CEL) and
 * persists nothing.
 */
export async function patchNetwork(
  apis: ImpersonatedApis,
  target: { namespace: string; name: string; resourceVersion: string; hadNetwork: boolean },
  network: Network,
  options: { dryRun?: boolean } = {},
): Promise<Sandbox | undefined> {
  const empty = isEmptyNetwork(network);
  if (empty && !target.hadNetwork) return undefined;
  const body = [
    { op: "add", path: "/metadata/resourceVersion", value: target.resourceVersion },
    empty
      ? { op: "remove", path: "/spec/network" }
      : { op: "add", path: "/spec/network", value: network },
  ];
  return trimmed(
    (await apis.customObjects.patchNamespacedCustomObject(
      {
        ...SANDBOXES,
        namespace: target.namespace,
        name: target.name,
        body,
        ...(options.dryRun ? { dryRun: "All" } : {}),
        fieldManager: "turgon-web",
      },
      jsonPatch,
    )) as Sandbox,
  );
}

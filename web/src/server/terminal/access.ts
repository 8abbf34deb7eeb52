/**
 * Who may open a terminal: Kubernetes RBAC decides, asked as the signed-in
 * user (impersonated) whether they may `create` the `sandboxes/exec`
 * subresource, as `kubectl auth can-i create sandboxes/exec` would.
 */
import { GROUP, type Sandbox, VERSION } from "@turgon/api/crd";
import { type AccessDecision, canI } from "../can-i.ts";
import { type ImpersonatedApis, KubeApiError } from "../kube/index.ts";

export interface ExecTarget {
  namespace: string;
  name: string;
}

/** A SelfSubjectAccessReview as `apis`' user: may they exec in this sandbox? */
export function mayExec(apis: ImpersonatedApis, target: ExecTarget): Promise<AccessDecision> {
  return canI(apis, {
    group: GROUP,
    resource: "sandboxes",
    subresource: "exec",
    verb: "create",
    namespace: target.namespace,
    name: target.name,
  });
}

export type SandboxReadiness =
  | { state: "ready" }
  | { state: "missing" }
  | { state: "not-ready"; phase: string }
  /** The user may exec but not read the Sandbox: the router decides alone. */
  | { state: "unknown" };

/**
 * Whether the sandbox can take a session now, read as the user. The router
 * checks again (it refuses a sandbox that is not Ready), but a WebSocket
 * refusal reaches the browser without its reason, so the dashboard says it
 * first.
 */
export async function sandboxReadiness(
  apis: ImpersonatedApis,
  target: ExecTarget,
): Promise<SandboxReadiness> {
  let sandbox: Sandbox;
  try {
    sandbox = (await apis.customObjects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "sandboxes",
      namespace: target.namespace,
      name: target.name,
    })) as Sandbox;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return { state: "missing" };
    if (error instanceof KubeApiError && error.status === 403) return { state: "unknown" };
    throw error;
  }
  const ready = sandbox.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  return ready
    ? { state: "ready" }
    : { state: "not-ready", phase: sandbox.status?.phase ?? "Pending" };
}

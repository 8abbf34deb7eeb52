import type { KubernetesObject, V1Namespace } from "@kubernetes/client-node";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { findCondition, isReady } from "@turgon/api/crd";
import { namespaceTeam } from "@turgon/api/routing";
import { HostLabelIndex } from "@turgon/api/routing/host-conflict";
import type { CachedInformer } from "@turgon/toolkit/kube";

type Access = "private" | "authenticated" | "public";

/** Where a routed host leads: a sandbox ready to serve, or why not. */
export type Route =
  | {
      kind: "serve";
      sandbox: Sandbox;
      uid: string;
      access: Access;
      team: string;
      /** Base URL of the agent's ingress data plane. */
      agent: string;
    }
  | {
      kind: "refuse";
      status: 404 | 409 | 502 | 503;
      reason: string;
      message: string;
      retryAfter?: number;
    };

/**
 * Host label → sandbox → node, from informer caches: no API call per
 * request. The label is `sandboxHostLabel`, the same function the operator
 * writes URLs with. A sandbox's team is its namespace's (`namespaceTeam`),
 * read from the Namespace cache on every request, so relabelling a
 * namespace takes effect without a restart.
 */
export class SandboxDirectory {
  private readonly labels: HostLabelIndex;
  private readonly sandboxes: CachedInformer<Sandbox & KubernetesObject>;
  private readonly nodes: CachedInformer<SandboxNode & KubernetesObject>;
  private readonly namespaces: CachedInformer<V1Namespace>;

  constructor(
    sandboxes: CachedInformer<Sandbox & KubernetesObject>,
    nodes: CachedInformer<SandboxNode & KubernetesObject>,
    namespaces: CachedInformer<V1Namespace>,
  ) {
    this.sandboxes = sandboxes;
    this.nodes = nodes;
    this.namespaces = namespaces;
    this.labels = HostLabelIndex.following(sandboxes);
  }

  /** The team that holds `namespace`, and with it every sandbox in it. */
  teamOf(namespace: string): string {
    return namespaceTeam(namespace, this.namespaces.get(namespace));
  }

  /** A sandbox and its node by name, for exec (which needs no ingress). */
  find(namespace: string, name: string): { sandbox: Sandbox; node?: SandboxNode } | undefined {
    const sandbox = this.sandboxes.get(name, namespace) as Sandbox | undefined;
    if (!sandbox) return undefined;
    const nodeName = sandbox.status?.nodeName;
    const node = nodeName ? (this.nodes.get(nodeName) as SandboxNode | undefined) : undefined;
    return { sandbox, ...(node ? { node } : {}) };
  }

  route(label: string): Route {
    // Only sandboxes still in the cache count, so a missed delete cannot leave a conflict behind.
    const claimants = this.labels
      .claimants(label)
      .filter((c) => this.sandboxes.get(c.name, c.namespace) !== undefined);
    if (claimants.length > 1)
      return {
        kind: "refuse",
        status: 409,
        reason: "HostConflict",
        message: `${label} is claimed by ${claimants.length} sandboxes (${claimants.map((c) => c.key).join(", ")}); none is served until only one is left`,
      };
    const ref = claimants[0];
    const sandbox = ref
      ? (this.sandboxes.get(ref.name, ref.namespace) as Sandbox | undefined)
      : undefined;
    if (!sandbox)
      return {
        kind: "refuse",
        status: 404,
        reason: "UnknownSandbox",
        message: `no sandbox is routed at ${label}`,
      };
    const status = sandbox.status ?? {};
    const name = `${sandbox.metadata.namespace}/${sandbox.metadata.name}`;
    if (!status.ingress?.url)
      return {
        kind: "refuse",
        status: 404,
        reason: "IngressDisabled",
        message: `sandbox ${name} does not enable ingress`,
      };
    const ready = isReady(sandbox);
    if (status.phase === "Suspended")
      return {
        kind: "refuse",
        status: 503,
        reason: "Suspended",
        message: `sandbox ${name} is suspended`,
        retryAfter: 30,
      };
    if (status.phase === "Failed")
      return {
        kind: "refuse",
        status: 502,
        reason: "SandboxFailed",
        message: `sandbox ${name} failed: ${status.message ?? "see kubectl describe"}`,
      };
    if (status.phase !== "Running" || !ready)
      return {
        kind: "refuse",
        status: 503,
        reason: "Starting",
        message:
          status.phase === "Running"
            ? `sandbox ${name} is starting: ${findCondition(status.conditions, "Ready")?.message ?? "not serving yet"}`
            : `sandbox ${name} is ${status.phase?.toLowerCase() ?? "pending"}`,
        retryAfter: 2,
      };
    const node = status.nodeName
      ? (this.nodes.get(status.nodeName) as SandboxNode | undefined)
      : undefined;
    const agent = node?.spec.ingressAddress;
    if (!agent)
      return {
        kind: "refuse",
        status: 502,
        reason: "NodeUnknown",
        message: `sandbox ${name}'s node ${status.nodeName ?? "(none)"} has no ingress address`,
      };
    return {
      kind: "serve",
      sandbox,
      uid: sandbox.metadata.uid as string,
      access: status.ingress.access ?? sandbox.spec.ingress?.access ?? "private",
      // Never the sandbox's own labels: its author does not choose who may open it.
      team: this.teamOf(sandbox.metadata.namespace as string),
      agent,
    };
  }
}

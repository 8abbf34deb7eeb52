import type { KubernetesObject, V1Namespace } from "@kubernetes/client-node";
import type { FrontPorts, Sandbox, SandboxNode, SandboxStatus } from "@turgon/api/crd";
import { findCondition } from "@turgon/api/crd";
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
      /**
       * Base URL of the sandbox's own front (its supervisor's ingress port on
       * the node's ingress host), when it reports one inside the node's
       * `spec.frontPorts`. Serves while the agent is down.
       */
      front?: string;
      /** Base URL of the agent's ingress data plane: the fallback, and the only path without a front. */
      agent: string;
    }
  | {
      /**
       * Suspended (or on its way back) with wakeOnRequest: a request that
       * passes this access check may resume it and wait for it.
       */
      kind: "wake";
      sandbox: Sandbox;
      uid: string;
      access: Access;
      team: string;
    }
  | {
      kind: "refuse";
      status: 404 | 409 | 502 | 503;
      reason: string;
      message: string;
      retryAfter?: number;
    };

/**
 * Whether a request may resume the sandbox: its own `lifecycle.wakeOnRequest`,
 * else (a template's) what the operator mirrored into `status.ingress`.
 */
export function wakesOnRequest(sandbox: Sandbox): boolean {
  const own = sandbox.spec.lifecycle?.wakeOnRequest;
  if (own !== undefined) return own;
  return Boolean(sandbox.spec.templateRef && sandbox.status?.ingress?.wakeOnRequest);
}

/** Ready's reasons while the operator cannot tell how the sandbox is: its agent, or its node, is out of reach. */
const UNREACHABLE = new Set(["AgentUnreachable", "NodeNotReady"]);

/**
 * Whether a sandbox is routed to: Running and Ready, or Running with
 * Ready=Unknown only because its agent or node cannot be reached while its
 * ingress last served (IngressReady=True, which the operator leaves alone
 * meanwhile). The VM outlives its agent and its front serves without it,
 * so an agent restart does not take the URL down. NodeLost is phase
 * Failed, and Suspended is a phase too: both are refused before this.
 */
export function servable(status: SandboxStatus | undefined): boolean {
  if (status?.phase !== "Running") return false;
  const ready = findCondition(status.conditions, "Ready");
  if (ready?.status === "True") return true;
  if (ready?.status !== "Unknown" || !UNREACHABLE.has(ready.reason)) return false;
  return findCondition(status.conditions, "IngressReady")?.status === "True";
}

const STRICTNESS: Record<Access, number> = { public: 0, authenticated: 1, private: 2 };

/**
 * The access the router enforces: the stricter of what the sandbox's own
 * spec says and the operator's `status.ingress.access` (template applied).
 * The spec says its `ingress.access`, or "private" (the default) when it
 * sets none and has no template to take one from; with a template and no
 * access of its own, only the status knows. The status lags the spec, and
 * does not move at all while the agent is unreachable, so an owner's
 * switch to something stricter holds at once; to something looser, once
 * the operator has written it.
 */
export function enforcedAccess(sandbox: Sandbox): Access {
  const stated = sandbox.status?.ingress?.access ?? "private";
  const own = sandbox.spec.ingress?.access ?? (sandbox.spec.templateRef ? undefined : "private");
  return own && STRICTNESS[own] > STRICTNESS[stated] ? own : stated;
}

/**
 * Whether the sandbox's own spec turns its ingress off: `enabled: false`,
 * or no `enabled` and no template to enable it (the default is off). Read
 * from the spec, not the status, which the operator does not rewrite
 * while the agent is unreachable.
 */
export function ingressOffInSpec(sandbox: Sandbox): boolean {
  const enabled = sandbox.spec.ingress?.enabled;
  if (enabled !== undefined) return !enabled;
  return !sandbox.spec.templateRef;
}

/**
 * The base URL of a sandbox's front: the node's ingress address with its
 * port replaced by `frontPort`, only when that port is an integer inside
 * the node's advertised `frontPorts`. A status names only a port, never a
 * host, and only within the range the node's own agent registered, so a
 * status cannot send the router anywhere but that node's fronts.
 */
export function frontUrl(
  ingressAddress: string,
  frontPort: number | undefined,
  range: FrontPorts | undefined,
): string | undefined {
  if (frontPort === undefined || !range) return undefined;
  if (!Number.isInteger(frontPort) || frontPort < range.first || frontPort > range.last)
    return undefined;
  let url: URL;
  try {
    url = new URL(ingressAddress);
  } catch {
    return undefined;
  }
  // URL keeps an IPv6 literal's brackets in `host`, so only the port changes.
  url.port = String(frontPort);
  return url.pathname === "/" && !ingressAddress.endsWith("/") ? url.origin : url.href;
}

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
    // The spec's own "off" wins over a status the operator has not rewritten yet.
    if (!status.ingress?.url || ingressOffInSpec(sandbox))
      return {
        kind: "refuse",
        status: 404,
        reason: "IngressDisabled",
        message: `sandbox ${name} does not enable ingress`,
      };
    // Suspended, or starting again (a resume boots), with wakeOnRequest: the request may wait.
    if ((status.phase === "Suspended" || status.phase === "Starting") && wakesOnRequest(sandbox))
      return {
        kind: "wake",
        sandbox,
        uid: sandbox.metadata.uid as string,
        access: enforcedAccess(sandbox),
        team: this.teamOf(sandbox.metadata.namespace as string),
      };
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
    if (!servable(status))
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
    const front = frontUrl(agent, status.ingress.frontPort, node?.spec.frontPorts);
    return {
      kind: "serve",
      sandbox,
      uid: sandbox.metadata.uid as string,
      access: enforcedAccess(sandbox),
      // Never the sandbox's own labels: its author does not choose who may open it.
      team: this.teamOf(sandbox.metadata.namespace as string),
      ...(front ? { front } : {}),
      agent,
    };
  }
}

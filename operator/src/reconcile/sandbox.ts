import { isDeepStrictEqual } from "node:util";
import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import {
  type DesiredSandbox,
  describeFields,
  type EffectivePolicy,
  type ObservedSandbox,
} from "@turgon/api/agent";
import {
  API_VERSION,
  findCondition,
  GROUP,
  isReady,
  type Sandbox,
  type SandboxNode,
  type SandboxStatus,
  VERSION,
} from "@turgon/api/crd";
import { HostLabelIndex, hostConflict } from "@turgon/api/routing/host-conflict";
import { type AgentClient, AgentRequestError, AgentUnreachableError } from "../agents/client.ts";
import type { Caches } from "../controller/caches.ts";
import type { Result } from "../controller/controller.ts";
import type { EventRecorder } from "../events/recorder.ts";
import type { Logger } from "../logger.ts";
import type { OperatorMetrics } from "../metrics/metrics.ts";
import { schedule } from "../scheduling/scheduler.ts";
import { type ConditionUpdate, setCondition } from "./conditions.ts";
import { desiredSandbox, requestOf, specField } from "./desired.ts";
import { lifecycleDeadline } from "./lifecycle.ts";
import { cachedPolicySources, PolicyResolutionError, resolveEffectivePolicy } from "./policy.ts";
import { nodeRoom } from "./room.ts";
import { applyTemplate, type EffectiveSpec, TemplateNotFoundError } from "./template.ts";

/** Keeps a Sandbox until its VM is gone. */
export const FINALIZER = "turgon.dev/vm-cleanup";

const target = { group: GROUP, version: VERSION, plural: "sandboxes" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** How long to wait before looking again at a sandbox that is on its way. */
const BOOTING_RECHECK_MS = 5_000;
const PENDING_RECHECK_MS = 15_000;

export interface SandboxReconcilerOptions {
  kc: KubeConfig;
  caches: Caches;
  agents: AgentClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  ingressUrl: (name: string, namespace: string) => string;
  sshCommand: (name: string, namespace: string) => string;
  /** How long a node may stay NotReady before its sandboxes fail with NodeLost. */
  nodeLostMs: number;
  /** Every sandbox is looked at again at least this often. */
  resyncMs: number;
}

/** A status write lost a race with another writer: look again with fresh state. */
class ConflictError extends Error {}

const AGENT_PHASE: Record<ObservedSandbox["phase"], NonNullable<SandboxStatus["phase"]>> = {
  Booting: "Starting",
  Running: "Running",
  Suspending: "Running",
  Suspended: "Suspended",
  Failed: "Failed",
  Stopping: "Terminating",
};

/**
 * Level-triggered reconcile of one Sandbox: place it on a node, persist the
 * placement, tell that node's agent the desired state (idempotent PUT keyed
 * by UID), and mirror what the agent reports into status. The placement is
 * written before the agent is called, so a replica that takes over after a
 * crash finds the node already chosen and never creates a second VM.
 */
export class SandboxReconciler {
  private readonly api: CustomObjectsApi;
  private readonly options: SandboxReconcilerOptions;
  private readonly log: Logger;
  /** Placements written but maybe not yet seen by the informer: uid → node. */
  private readonly assumed = new Map<string, string>();
  /** The latest activity each agent reported, for idleTimeout: uid → time. */
  private readonly activity = new Map<string, string>();
  /** Desired states an agent refused as invalid: uid → that state, never sent again unchanged. */
  private readonly refused = new Map<string, DesiredSandbox>();
  /** Which sandboxes claim which routed host, kept from the informer. */
  private readonly hostLabels: HostLabelIndex;

  constructor(options: SandboxReconcilerOptions) {
    this.options = options;
    this.api = options.kc.makeApiClient(CustomObjectsApi);
    this.hostLabels = HostLabelIndex.following(options.caches.sandboxes);
    this.log = options.log.child({ component: "sandbox-controller" });
  }

  /** Records what an agent said about a sandbox outside a reconcile (its event stream). */
  observe(sandbox: ObservedSandbox): void {
    if (sandbox.lastActivityAt) this.activity.set(sandbox.uid, sandbox.lastActivityAt);
  }

  /** What a sandbox asks of its node, with its template's resources when it sets none. */
  requestOf(sandbox: Sandbox): { cpus: number; memoryMiB: number } {
    try {
      return requestOf(applyTemplate(sandbox.spec, this.template(sandbox)));
    } catch {
      return requestOf({});
    }
  }

  /**
   * The latest activity the agent reported. Activity does not stream (it
   * would flood), so before ending a sandbox for idleness ask its agent afresh.
   */
  private async lastActivity(sandbox: Sandbox, spec: EffectiveSpec): Promise<string | undefined> {
    const uid = sandbox.metadata.uid as string;
    const known = this.activity.get(uid);
    if (!lifecycleDeadline(sandbox, spec, known).expired) return known;
    const nodeName = this.nodeOf(sandbox);
    const node = nodeName
      ? (this.options.caches.nodes.get(nodeName) as SandboxNode | undefined)
      : undefined;
    if (!node || !isReady(node)) return known;
    const observed = await this.options.agents.get(node.spec.address, uid).catch(() => undefined);
    if (observed) this.observe(observed);
    return this.activity.get(uid);
  }

  /** The node a sandbox is placed on, counting placements the cache may not show yet. */
  nodeOf(sandbox: Sandbox): string | undefined {
    return sandbox.status?.nodeName ?? this.assumed.get(sandbox.metadata.uid as string);
  }

  reconcile = async (key: string): Promise<Result> => {
    const [namespace, name] = key.split("/") as [string, string];
    const sandbox = this.options.caches.sandboxes.get(name, namespace) as Sandbox | undefined;
    if (!sandbox) return {};
    try {
      if (sandbox.metadata.deletionTimestamp) return await this.finalize(sandbox);
      if (!sandbox.metadata.finalizers?.includes(FINALIZER)) {
        await this.patchMetadata(sandbox, {
          finalizers: [...(sandbox.metadata.finalizers ?? []), FINALIZER],
        });
        return {};
      }
      return await this.converge(sandbox);
    } catch (error) {
      if (error instanceof ConflictError) return { requeueAfterMs: 0 };
      throw error;
    }
  };

  private async converge(sandbox: Sandbox): Promise<Result> {
    const { metadata } = sandbox;
    const uid = metadata.uid as string;
    const generation = metadata.generation ?? 0;
    const status: SandboxStatus = structuredClone(sandbox.status ?? {});
    status.observedGeneration = generation;
    const setCond = (update: ConditionUpdate) => {
      status.conditions = setCondition(status.conditions ?? [], update, generation);
    };

    // A sandbox lost with its node stays Failed unless it asked to be rescheduled.
    if (
      status.phase === "Failed" &&
      findCondition(status.conditions, "Ready")?.reason === "NodeLost"
    ) {
      if (sandbox.spec.restartPolicy !== "OnNodeFailure") return {};
      this.assumed.delete(uid);
      delete status.nodeName;
      delete status.startedAt;
      status.phase = "Pending";
      setCond({
        type: "Scheduled",
        status: "False",
        reason: "Rescheduling",
        message: "its node was lost; restartPolicy is OnNodeFailure",
      });
      await this.writeStatus(sandbox, status);
      return { requeueAfterMs: 0 };
    }

    let spec: EffectiveSpec;
    try {
      spec = applyTemplate(sandbox.spec, this.template(sandbox));
    } catch (error) {
      if (!(error instanceof TemplateNotFoundError)) throw error;
      return this.pending(sandbox, status, "TemplateNotFound", error.message, setCond);
    }

    const expiry = lifecycleDeadline(sandbox, spec, await this.lastActivity(sandbox, spec));
    if (expiry.expired) {
      await this.options.events.record(
        this.ref(sandbox),
        "Normal",
        expiry.expired.reason,
        `${expiry.expired.message}; deleting the sandbox`,
      );
      await this.api.deleteNamespacedCustomObject({
        ...target,
        namespace: metadata.namespace as string,
        name: metadata.name as string,
        body: { preconditions: { uid } },
      });
      return {};
    }

    let policy: EffectivePolicy;
    try {
      policy = await resolveEffectivePolicy(
        spec.network,
        cachedPolicySources(this.options.caches, metadata.namespace as string),
      );
    } catch (error) {
      if (!(error instanceof PolicyResolutionError)) throw error;
      setCond({
        type: "PolicyApplied",
        status: "False",
        reason: error.reason,
        message: error.message,
      });
      await this.options.events.record(this.ref(sandbox), "Warning", error.reason, error.message);
      // A running VM keeps the policy it has; a new one waits for the policy to resolve.
      if (!status.nodeName)
        return this.pending(sandbox, status, error.reason, error.message, setCond);
      await this.writeStatus(sandbox, status);
      return { requeueAfterMs: this.options.resyncMs };
    }

    const desired = desiredSandbox(sandbox, spec, policy);
    let nodeName = this.nodeOf(sandbox);
    if (!nodeName) {
      const nodes = this.options.caches.nodes.list() as SandboxNode[];
      const placement = schedule(
        { ...desired.resources, ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}) },
        nodeRoom(nodes, this.options.caches.sandboxes.list() as Sandbox[], this),
      );
      if (placement.node === undefined) {
        setCond({
          type: "Scheduled",
          status: "False",
          reason: placement.reason,
          message: placement.message,
        });
        await this.options.events.record(
          this.ref(sandbox),
          "Warning",
          "FailedScheduling",
          placement.message,
        );
        return this.pending(sandbox, status, placement.reason, placement.message, setCond);
      }
      nodeName = placement.node;
      status.nodeName = nodeName;
      status.phase = "Starting";
      delete status.message;
      setCond({
        type: "Scheduled",
        status: "True",
        reason: "Scheduled",
        message: `placed on SandboxNode ${nodeName}`,
      });
      setCond({ type: "Ready", status: "False", reason: "Booting", message: "the VM is booting" });
      // Persist the placement before any VM exists: a successor replica reuses it.
      sandbox = await this.writeStatus(sandbox, status);
      this.assumed.set(uid, nodeName);
      await this.options.events.record(
        this.ref(sandbox),
        "Normal",
        "Scheduled",
        `placed on SandboxNode ${nodeName}`,
      );
    }

    const node = this.options.caches.nodes.get(nodeName) as SandboxNode | undefined;
    if (!isReady(node)) return this.nodeNotReady(sandbox, status, nodeName, node, setCond);

    // A spec the agent refused stays refused until the sandbox, its template or policy change.
    if (isDeepStrictEqual(this.refused.get(uid), desired)) return {};
    this.refused.delete(uid);
    let response: Awaited<ReturnType<AgentClient["put"]>>;
    try {
      response = await this.options.agents.put((node as SandboxNode).spec.address, desired);
    } catch (error) {
      if (error instanceof AgentRequestError && error.status === 400)
        this.refused.set(uid, desired);
      return this.agentFailed(sandbox, status, nodeName, error, setCond);
    }
    this.observe(response.sandbox);
    if (response.outcome === "rebooting") {
      await this.options.events.record(
        this.ref(sandbox),
        "Normal",
        "Rebooting",
        "a field that only a new VM can change was edited (image, resources, env, command, websockets or secret names); the VM restarts",
      );
    }
    return this.mirror(sandbox, spec, status, response.sandbox, policy, setCond);
  }

  /** Writes what the agent reports into status, and decides when to look again. */
  private async mirror(
    sandbox: Sandbox,
    spec: EffectiveSpec,
    status: SandboxStatus,
    observed: ObservedSandbox,
    policy: EffectivePolicy,
    setCond: (update: ConditionUpdate) => void,
  ): Promise<Result> {
    const previousReady = findCondition(status.conditions, "Ready");
    const wasReady = previousReady?.status === "True";
    const hadStarted = status.startedAt !== undefined;
    status.phase = AGENT_PHASE[observed.phase];
    if (observed.startedAt) status.startedAt = observed.startedAt.replace(/\.\d{3}Z$/, "Z");
    if (observed.message && observed.phase === "Failed") status.message = observed.message;
    else delete status.message;
    const running = observed.phase === "Running";
    // Ready means serving: with ingress on, every route must answer its readiness probe.
    const conflict = spec.ingress?.enabled ? hostConflict(sandbox, this.hostLabels) : undefined;
    const ingressReady = conflict
      ? { ready: false, message: conflict }
      : (observed.ingressReady ?? { ready: true, message: "serving" });
    const serving = running && (!spec.ingress?.enabled || ingressReady.ready);
    setCond(
      serving
        ? { type: "Ready", status: "True", reason: "Running", message: "the VM is running" }
        : running
          ? {
              type: "Ready",
              status: "False",
              reason: conflict ? "HostConflict" : "IngressNotReady",
              message: `the VM is running; not serving yet: ${ingressReady.message}`,
            }
          : {
              type: "Ready",
              status: "False",
              reason: observed.reason ?? observed.phase,
              message: observed.message ?? `the VM is ${observed.phase.toLowerCase()}`,
            },
    );
    setCond({
      type: "PolicyApplied",
      status: "True",
      reason: "Applied",
      message: `egress policy (${policy.mode}) with ${policy.allowedHosts.length} allowed host(s) and ${policy.secrets.length} secret(s) is in force`,
    });
    setCond(
      observed.phase === "Suspended"
        ? {
            type: "Suspended",
            status: "True",
            reason: "Checkpointed",
            message: "the VM's disk is checkpointed and the VM is stopped",
          }
        : {
            type: "Suspended",
            status: "False",
            reason: observed.phase === "Suspending" ? "Suspending" : "Running",
            message:
              observed.phase === "Suspending"
                ? "checkpointing the VM's disk"
                : "the sandbox is not suspended",
          },
    );
    if (spec.ingress?.enabled) {
      status.ingress = {
        url: this.options.ingressUrl(
          sandbox.metadata.name as string,
          sandbox.metadata.namespace as string,
        ),
        routes: observed.routes,
        access: spec.ingress.access ?? "private",
      };
      setCond(
        serving
          ? {
              type: "IngressReady",
              status: "True",
              reason: "Routed",
              message: `serving ${observed.routes.length} route(s)`,
            }
          : running
            ? {
                type: "IngressReady",
                status: "False",
                reason: conflict ? "HostConflict" : "NotServing",
                message: ingressReady.message,
              }
            : {
                type: "IngressReady",
                status: "False",
                reason: "NotRunning",
                message: "the VM is not running",
              },
      );
    } else {
      delete status.ingress;
      setCond({
        type: "IngressReady",
        status: "False",
        reason: "IngressDisabled",
        message: "spec.ingress.enabled is false",
      });
    }
    if (spec.ssh?.enabled)
      status.ssh = {
        command: this.options.sshCommand(
          sandbox.metadata.name as string,
          sandbox.metadata.namespace as string,
        ),
      };
    else delete status.ssh;
    sandbox = await this.writeStatus(sandbox, status);
    if (serving && !wasReady) {
      if (!hadStarted && sandbox.metadata.creationTimestamp) {
        this.options.metrics.applyToReadySeconds.observe(
          (Date.now() - Date.parse(sandbox.metadata.creationTimestamp)) / 1000,
        );
      }
      await this.options.events.record(
        this.ref(sandbox),
        "Normal",
        "Ready",
        `the VM is running on ${status.nodeName}`,
      );
    }
    if (observed.phase === "Failed" && previousReady?.reason !== observed.reason) {
      await this.options.events.record(
        this.ref(sandbox),
        "Warning",
        observed.reason ?? "Failed",
        observed.message ?? "the VM failed",
      );
    }
    const { remainingMs } = lifecycleDeadline(
      sandbox,
      spec,
      this.activity.get(sandbox.metadata.uid as string),
    );
    const next =
      (observed.phase === "Running" && serving) ||
      observed.phase === "Suspended" ||
      observed.phase === "Failed"
        ? this.options.resyncMs
        : BOOTING_RECHECK_MS;
    return { requeueAfterMs: Math.min(next, remainingMs ?? Number.POSITIVE_INFINITY) };
  }

  private async pending(
    sandbox: Sandbox,
    status: SandboxStatus,
    reason: string,
    message: string,
    setCond: (update: ConditionUpdate) => void,
  ): Promise<Result> {
    status.phase = status.nodeName ? status.phase : "Pending";
    status.message = message;
    setCond({ type: "Ready", status: "False", reason, message });
    await this.writeStatus(sandbox, status);
    return { requeueAfterMs: PENDING_RECHECK_MS };
  }

  /** The node is NotReady: wait out the grace period, then fail the sandbox with NodeLost. */
  private async nodeNotReady(
    sandbox: Sandbox,
    status: SandboxStatus,
    nodeName: string,
    node: SandboxNode | undefined,
    setCond: (update: ConditionUpdate) => void,
  ): Promise<Result> {
    const ready = findCondition(node?.status?.conditions, "Ready");
    const since = node && ready ? Date.parse(ready.lastTransitionTime) : 0;
    const why = node
      ? `${ready?.reason ?? "NotReady"}: ${ready?.message ?? "no heartbeat"}`
      : "the SandboxNode was deleted";
    const lostAt = since + this.options.nodeLostMs;
    if (Date.now() < lostAt) {
      setCond({
        type: "Ready",
        status: "Unknown",
        reason: "NodeNotReady",
        message: `SandboxNode ${nodeName} is not ready (${why})`,
      });
      await this.writeStatus(sandbox, status);
      return { requeueAfterMs: lostAt - Date.now() + 100 };
    }
    const message = `SandboxNode ${nodeName} was lost (${why}); the VM is gone with it`;
    status.phase = "Failed";
    status.message = message;
    setCond({ type: "Ready", status: "False", reason: "NodeLost", message });
    setCond({ type: "IngressReady", status: "False", reason: "NodeLost", message });
    await this.writeStatus(sandbox, status);
    await this.options.events.record(this.ref(sandbox), "Warning", "NodeLost", message);
    return sandbox.spec.restartPolicy === "OnNodeFailure" ? { requeueAfterMs: 0 } : {};
  }

  private async agentFailed(
    sandbox: Sandbox,
    status: SandboxStatus,
    nodeName: string,
    error: unknown,
    setCond: (update: ConditionUpdate) => void,
  ): Promise<Result> {
    const uid = sandbox.metadata.uid as string;
    if (error instanceof AgentRequestError && error.status === 409) {
      // The node filled up before its heartbeat said so: place the sandbox again.
      this.assumed.delete(uid);
      delete status.nodeName;
      status.phase = "Pending";
      setCond({ type: "Scheduled", status: "False", reason: "NodeFull", message: error.message });
      await this.writeStatus(sandbox, status);
      await this.options.events.record(
        this.ref(sandbox),
        "Warning",
        "NodeFull",
        `${nodeName}: ${error.message}`,
      );
      return { requeueAfterMs: 0 };
    }
    if (error instanceof AgentRequestError && error.status === 400) {
      // A spec the agent cannot run: say which field, and wait for an edit rather than retry.
      const message = error.fields.length
        ? describeFields(error.fields.map((f) => ({ ...f, path: specField(f.path) })))
        : error.message;
      status.phase = "Failed";
      status.message = message;
      setCond({ type: "Ready", status: "False", reason: "InvalidSpec", message });
      await this.writeStatus(sandbox, status);
      await this.options.events.record(this.ref(sandbox), "Warning", "InvalidSpec", message);
      return {};
    }
    if (error instanceof AgentUnreachableError) {
      setCond({
        type: "Ready",
        status: "Unknown",
        reason: "AgentUnreachable",
        message: error.message,
      });
      await this.writeStatus(sandbox, status);
    } else if (error instanceof AgentRequestError) {
      // The agent failed in a way nobody planned for: say so, not "booting", and retry with backoff.
      const message = `node agent ${nodeName} answered ${error.status}: ${error.message}`;
      const previous = findCondition(status.conditions, "Ready");
      setCond({ type: "Ready", status: "False", reason: "AgentError", message });
      await this.writeStatus(sandbox, status);
      if (previous?.reason !== "AgentError")
        await this.options.events.record(this.ref(sandbox), "Warning", "AgentError", message);
    }
    throw error;
  }

  /** On delete: destroy the VM, then let the object go. */
  private async finalize(sandbox: Sandbox): Promise<Result> {
    if (!sandbox.metadata.finalizers?.includes(FINALIZER)) return {};
    const uid = sandbox.metadata.uid as string;
    const nodeName = this.nodeOf(sandbox);
    const node = nodeName
      ? (this.options.caches.nodes.get(nodeName) as SandboxNode | undefined)
      : undefined;
    if (node) {
      try {
        await this.options.agents.delete(node.spec.address, uid);
      } catch (error) {
        // A lost node took the VM with it; otherwise keep trying.
        if (!(error instanceof AgentUnreachableError) || isReady(node)) throw error;
      }
    }
    await this.patchMetadata(sandbox, {
      finalizers: (sandbox.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    });
    this.assumed.delete(uid);
    this.activity.delete(uid);
    this.refused.delete(uid);
    this.log.info(
      { sandbox: `${sandbox.metadata.namespace}/${sandbox.metadata.name}`, node: nodeName },
      "VM destroyed; finalizer removed",
    );
    return {};
  }

  private template(sandbox: Sandbox) {
    const ref = sandbox.spec.templateRef;
    if (!ref) return undefined;
    return this.options.caches.templates.get(ref.name, sandbox.metadata.namespace);
  }

  private ref(sandbox: Sandbox) {
    return {
      apiVersion: API_VERSION,
      kind: "Sandbox",
      name: sandbox.metadata.name as string,
      namespace: sandbox.metadata.namespace as string,
      uid: sandbox.metadata.uid as string,
    };
  }

  /** Replaces status with optimistic concurrency; unchanged status is not written. */
  private async writeStatus(sandbox: Sandbox, status: SandboxStatus): Promise<Sandbox> {
    if (isDeepStrictEqual(sandbox.status ?? {}, status)) return sandbox;
    try {
      return (await this.api.replaceNamespacedCustomObjectStatus({
        ...target,
        namespace: sandbox.metadata.namespace as string,
        name: sandbox.metadata.name as string,
        body: { ...sandbox, status },
      })) as Sandbox;
    } catch (error) {
      if ((error as { code?: number }).code === 409)
        throw new ConflictError("status changed meanwhile");
      throw error;
    }
  }

  /** Merge-patches metadata, guarded by resourceVersion. */
  private async patchMetadata(sandbox: Sandbox, metadata: Record<string, unknown>): Promise<void> {
    try {
      await this.api.patchNamespacedCustomObject(
        {
          ...target,
          namespace: sandbox.metadata.namespace as string,
          name: sandbox.metadata.name as string,
          body: { metadata: { ...metadata, resourceVersion: sandbox.metadata.resourceVersion } },
        },
        mergePatch,
      );
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) throw new ConflictError("object changed meanwhile");
      if (code === 404) return;
      throw error;
    }
  }
}

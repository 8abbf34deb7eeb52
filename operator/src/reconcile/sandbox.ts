import { isDeepStrictEqual } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import type { DesiredSandbox, EffectivePolicy, ObservedSandbox } from "@turgon/api/agent";
import {
  API_VERSION,
  findCondition,
  isReady,
  type Sandbox,
  type SandboxNode,
  type SandboxStatus,
} from "@turgon/api/crd";
import { HostLabelIndex, hostConflict } from "@turgon/api/routing/host-conflict";
import { type AgentClient, AgentRequestError, AgentUnreachableError } from "../agents/client.ts";
import { AgentReports } from "../agents/reports.ts";
import type { Caches } from "../controller/caches.ts";
import type { Result } from "../controller/controller.ts";
import type { EventRecorder } from "../events/recorder.ts";
import type { Logger } from "../logger.ts";
import type { OperatorMetrics } from "../metrics/metrics.ts";
import { ActivityTracker } from "./activity.ts";
import { desiredSandbox } from "./desired.ts";
import { lifecycleDeadline } from "./lifecycle.ts";
import { SandboxPlacements, type WarmClaim } from "./placement.ts";
import { cachedPolicySources, PolicyResolutionError, resolveEffectivePolicy } from "./policy.ts";
import { agentFailure, lostWithNode, nodeLoss, type Observation, sandboxStatus } from "./status.ts";
import { ConflictError, SandboxWrites } from "./status-writes.ts";
import {
  applyTemplate,
  type EffectiveSpec,
  TemplateNotFoundError,
  templateOf,
} from "./template.ts";
import { type WarmPoolState, warmPoolFor } from "./warm-pool-state.ts";

/** Keeps a Sandbox until its VM is gone. */
export const FINALIZER = "turgon.dev/vm-cleanup";

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
  /** Warm pools across agents: a matching sandbox claims a warm VM instead of booting. */
  warm?: WarmPoolState;
}

/** One reconcile of one sandbox: the object as read (then as last written) and its status so far. */
interface Pass {
  sandbox: Sandbox;
  status: SandboxStatus;
  generation: number;
}

/** A step hands what it found to the next (`next`), or ends the reconcile (`done`). */
type Step<T> = { next: T } | { done: Result };

/**
 * Level-triggered reconcile of one Sandbox: place it on a node, persist the
 * placement, tell that node's agent the desired state (idempotent PUT keyed
 * by UID), and mirror what the agent reports into status. The placement is
 * written before the agent is called, so a replica that takes over after a
 * crash finds the node already chosen and never creates a second VM.
 *
 * This class keeps the order of the steps; what status says is status.ts,
 * where a sandbox goes is placement.ts, idleness is activity.ts and the
 * writes to the API server are status-writes.ts.
 */
export class SandboxReconciler {
  private readonly options: SandboxReconcilerOptions;
  private readonly log: Logger;
  private readonly writes: SandboxWrites;
  private readonly placements: SandboxPlacements;
  private readonly activity: ActivityTracker;
  /** What the agents last reported, to tell their events' news from echoes. */
  private readonly reports = new AgentReports();
  /** Desired states an agent refused as invalid: uid → that state, never sent again unchanged. */
  private readonly refused = new Map<string, DesiredSandbox>();
  /** Which sandboxes claim which routed host, kept from the informer. */
  private readonly hostLabels: HostLabelIndex;

  constructor(options: SandboxReconcilerOptions) {
    this.options = options;
    this.writes = new SandboxWrites(options.kc);
    this.placements = new SandboxPlacements(options.caches, options.warm);
    this.activity = new ActivityTracker({
      agents: options.agents,
      nodeOf: (sandbox) => {
        const name = this.placements.nodeOf(sandbox);
        return name ? this.placements.node(name) : undefined;
      },
    });
    this.hostLabels = HostLabelIndex.following(options.caches.sandboxes);
    this.log = options.log.child({ component: "sandbox-controller" });
  }

  /** Records what an agent said about a sandbox; whether it is news to the reconciler. */
  observe(sandbox: ObservedSandbox): boolean {
    this.activity.observe(sandbox);
    return this.reports.record(sandbox);
  }

  /** Whether this version of the sandbox is the reconciler's own write (nothing to act on). */
  wrote(sandbox: Sandbox): boolean {
    return this.writes.wrote(sandbox);
  }

  /** What a sandbox asks of its node, with its template's resources when it sets none. */
  requestOf(sandbox: Sandbox): { cpus: number; memoryMiB: number } {
    return this.placements.requestOf(sandbox);
  }

  /** The node a sandbox is placed on, counting placements the cache may not show yet. */
  nodeOf(sandbox: Sandbox): string | undefined {
    return this.placements.nodeOf(sandbox);
  }

  reconcile = async (key: string): Promise<Result> => {
    const [namespace, name] = key.split("/") as [string, string];
    const cached = this.options.caches.sandboxes.get(name, namespace) as Sandbox | undefined;
    if (!cached) return {};
    // Own writes are not waited for as watch events (predicates.ts): start from the newest.
    const sandbox = this.writes.latest(cached);
    try {
      if (sandbox.metadata.deletionTimestamp) return await this.finalize(sandbox);
      if (!sandbox.metadata.finalizers?.includes(FINALIZER)) {
        const withFinalizer = await this.writes.metadata(sandbox, {
          finalizers: [...(sandbox.metadata.finalizers ?? []), FINALIZER],
        });
        // Carry on with the object as written rather than wait for its watch event.
        return withFinalizer ? await this.converge(withFinalizer) : {};
      }
      return await this.converge(sandbox);
    } catch (error) {
      if (error instanceof ConflictError) return { requeueAfterMs: 0 };
      throw error;
    }
  };

  /** The steps, in order; each may end the reconcile. */
  private async converge(sandbox: Sandbox): Promise<Result> {
    const pass: Pass = {
      sandbox,
      status: structuredClone(sandbox.status ?? {}),
      generation: sandbox.metadata.generation ?? 0,
    };
    if (lostWithNode(sandbox.status)) return this.afterNodeLoss(pass);
    const spec = await this.effectiveSpec(pass);
    if ("done" in spec) return spec.done;
    if (await this.endIfExpired(pass, spec.next)) return {};
    const policy = await this.effectivePolicy(pass, spec.next);
    if ("done" in policy) return policy.done;
    const desired = desiredSandbox(sandbox, spec.next, policy.next);
    const claim = this.warmClaim(sandbox, spec.next);
    if (claim) desired.warmPool = { uid: claim.poolUid };
    const nodeName = await this.place(pass, spec.next, claim);
    if ("done" in nodeName) return nodeName.done;
    const node = await this.readyNode(pass, nodeName.next);
    if ("done" in node) return node.done;
    if (this.refusedBefore(desired)) return {};
    const observed = await this.tellAgent(pass, node.next, desired);
    if ("done" in observed) return observed.done;
    return this.mirror(pass, spec.next, policy.next, observed.next);
  }

  /** A sandbox lost with its node stays Failed unless it asked to be rescheduled. */
  private async afterNodeLoss(pass: Pass): Promise<Result> {
    if (pass.sandbox.spec.restartPolicy !== "OnNodeFailure") {
      await this.endVmOfLost(pass.sandbox);
      // Written only when the generation moved (an edit), so a client can wait for the answer.
      await this.save(pass, { kind: "StaysLost" });
      return {};
    }
    this.placements.forget(pass.sandbox.metadata.uid as string);
    await this.save(pass, { kind: "Rescheduling" });
    return { requeueAfterMs: 0 };
  }

  /**
   * A sandbox that stays lost has no VM. VMs outlive a crashed node agent (in
   * their supervisors), so when its node answers again the agent may still
   * run this one's: it is told to end it (a VM already gone is a 404).
   */
  private async endVmOfLost(sandbox: Sandbox): Promise<void> {
    const nodeName = sandbox.status?.nodeName;
    const node = nodeName ? this.placements.node(nodeName) : undefined;
    if (!node || !isReady(node)) return;
    const uid = sandbox.metadata.uid as string;
    try {
      if (await this.options.agents.delete(node.spec.address, uid))
        this.log.info({ uid, node: nodeName }, "ended the VM of a sandbox lost with its node");
    } catch (error) {
      this.log.warn({ uid, node: nodeName, err: error }, "could not end a lost sandbox's VM yet");
    }
  }

  /** The spec with the template's values; a missing template keeps the sandbox Pending. */
  private async effectiveSpec(pass: Pass): Promise<Step<EffectiveSpec>> {
    try {
      return {
        next: applyTemplate(pass.sandbox.spec, templateOf(this.options.caches, pass.sandbox)),
      };
    } catch (error) {
      if (!(error instanceof TemplateNotFoundError)) throw error;
      await this.save(pass, { kind: "TemplateNotFound", message: error.message });
      return { done: { requeueAfterMs: PENDING_RECHECK_MS } };
    }
  }

  /**
   * Past its shutdownTime, ttl or idleTimeout the sandbox is deleted (the
   * finalizer ends its VM); idle with wakeOnRequest, it is suspended instead
   * through its spec (visible, and undone by setting Running again), and
   * the write's own event reconciles it on.
   */
  private async endIfExpired(pass: Pass, spec: EffectiveSpec): Promise<boolean> {
    const { sandbox } = pass;
    const lastActivity = await this.activity.confirmed(sandbox, spec);
    const { expired } = lifecycleDeadline(sandbox, spec, lastActivity);
    if (!expired) return false;
    if (expired.action === "suspend") {
      await this.writes.suspend(sandbox);
      await this.record(
        sandbox,
        "Normal",
        "IdleSuspended",
        `${expired.message}; suspending the sandbox (wakeOnRequest: a request to its URL resumes it)`,
      );
      return true;
    }
    await this.record(
      sandbox,
      "Normal",
      expired.reason,
      `${expired.message}; deleting the sandbox`,
    );
    await this.writes.delete(sandbox);
    return true;
  }

  /** The egress policy the agent enforces; while it cannot be resolved, status says why. */
  private async effectivePolicy(pass: Pass, spec: EffectiveSpec): Promise<Step<EffectivePolicy>> {
    const namespace = pass.sandbox.metadata.namespace as string;
    try {
      return {
        next: await resolveEffectivePolicy(
          spec.network,
          cachedPolicySources(this.options.caches, namespace),
        ),
      };
    } catch (error) {
      if (!(error instanceof PolicyResolutionError)) throw error;
      this.note(pass, { kind: "PolicyUnresolved", reason: error.reason, message: error.message });
      await this.record(pass.sandbox, "Warning", error.reason, error.message);
      await this.save(pass);
      // A running VM keeps the policy it has and is looked at as usual.
      return {
        done: { requeueAfterMs: pass.status.nodeName ? this.options.resyncMs : PENDING_RECHECK_MS },
      };
    }
  }

  /**
   * The warm pool this sandbox may claim a VM from (same namespace, its
   * template, the same boot shape). The agent claims only when it first
   * sees the sandbox and holds a ready VM of the pool; otherwise it boots.
   */
  private warmClaim(sandbox: Sandbox, spec: EffectiveSpec): WarmClaim | undefined {
    if (!this.options.warm) return undefined;
    const pool = warmPoolFor(this.options.caches, sandbox, spec);
    if (!pool) return undefined;
    return {
      poolUid: pool.metadata.uid as string,
      poolName: pool.metadata.name as string,
      namespace: pool.metadata.namespace as string,
      templateName: pool.spec.templateRef.name,
    };
  }

  /** The sandbox's node: where it is placed, or one chosen now and written before any VM exists. */
  private async place(pass: Pass, spec: EffectiveSpec, claim?: WarmClaim): Promise<Step<string>> {
    const placed = this.placements.nodeOf(pass.sandbox);
    if (placed) return { next: placed };
    const placement = this.placements.choose(spec, claim);
    if (placement.node === undefined) {
      const { reason, message } = placement;
      this.note(pass, { kind: "Unschedulable", reason, message });
      await this.record(pass.sandbox, "Warning", "FailedScheduling", message);
      await this.save(pass);
      return { done: { requeueAfterMs: PENDING_RECHECK_MS } };
    }
    // Persist the placement before any VM exists: a successor replica reuses it.
    await this.save(pass, { kind: "Scheduled", nodeName: placement.node });
    this.placements.assume(pass.sandbox.metadata.uid as string, placement.node);
    const message = `placed on SandboxNode ${placement.node}`;
    await this.record(pass.sandbox, "Normal", "Scheduled", message);
    return { next: placement.node };
  }

  /** The node if it is Ready; else wait out the grace period, then fail the sandbox with NodeLost. */
  private async readyNode(pass: Pass, nodeName: string): Promise<Step<SandboxNode>> {
    const node = this.placements.node(nodeName);
    if (node && isReady(node)) return { next: node };
    const loss = nodeLoss(nodeName, node, this.options.nodeLostMs);
    await this.save(pass, { kind: "NodeNotReady", loss });
    if (!loss.lost) return { done: { requeueAfterMs: loss.lostAt - Date.now() + 100 } };
    await this.record(pass.sandbox, "Warning", "NodeLost", loss.message);
    return {
      done: pass.sandbox.spec.restartPolicy === "OnNodeFailure" ? { requeueAfterMs: 0 } : {},
    };
  }

  /** A spec the agent refused stays refused until the sandbox, its template or policy change. */
  private refusedBefore(desired: DesiredSandbox): boolean {
    if (isDeepStrictEqual(this.refused.get(desired.uid), desired)) return true;
    this.refused.delete(desired.uid);
    return false;
  }

  /** Tells the node's agent the desired state (an idempotent PUT keyed by UID). */
  private async tellAgent(
    pass: Pass,
    node: SandboxNode,
    desired: DesiredSandbox,
  ): Promise<Step<ObservedSandbox>> {
    let response: Awaited<ReturnType<AgentClient["put"]>>;
    try {
      response = await this.options.agents.put(node.spec.address, desired);
    } catch (error) {
      if (error instanceof AgentRequestError && error.status === 400)
        this.refused.set(desired.uid, desired);
      return { done: await this.agentFailed(pass, node.metadata.name as string, error) };
    }
    this.observe(response.sandbox);
    if (response.outcome === "rebooting") {
      await this.record(
        pass.sandbox,
        "Normal",
        "Rebooting",
        "a field that only a new VM can change was edited (image, resources, env, command, rootfs mode, WebSockets or DNS mode); the VM restarts",
      );
    }
    return { next: response.sandbox };
  }

  /** Says in status why the agent did not take the desired state; retries what may pass. */
  private async agentFailed(pass: Pass, nodeName: string, error: unknown): Promise<Result> {
    const failure = agentFailure(error, nodeName);
    const previous = findCondition(pass.status.conditions, "Ready");
    switch (failure.kind) {
      case "NodeFull":
        // The node filled up before its heartbeat said so: place the sandbox again.
        this.placements.forget(pass.sandbox.metadata.uid as string);
        await this.save(pass, { kind: "AgentFailed", failure });
        await this.record(pass.sandbox, "Warning", "NodeFull", `${nodeName}: ${failure.message}`);
        return { requeueAfterMs: 0 };
      case "InvalidSpec":
        // Wait for an edit rather than retry.
        await this.save(pass, { kind: "AgentFailed", failure });
        await this.record(pass.sandbox, "Warning", "InvalidSpec", failure.message);
        return {};
      case "AgentUnreachable":
        await this.save(pass, { kind: "AgentFailed", failure });
        break;
      case "AgentError":
        await this.save(pass, { kind: "AgentFailed", failure });
        if (previous?.reason !== "AgentError")
          await this.record(pass.sandbox, "Warning", "AgentError", failure.message);
        break;
      case "Unexpected":
        break;
    }
    // Retried with backoff by the work queue.
    throw error;
  }

  /** Writes what the agent reports into status, and decides when to look again. */
  private async mirror(
    pass: Pass,
    spec: EffectiveSpec,
    policy: EffectivePolicy,
    observed: ObservedSandbox,
  ): Promise<Result> {
    const previousReady = findCondition(pass.status.conditions, "Ready");
    const hadStarted = pass.status.startedAt !== undefined;
    const name = pass.sandbox.metadata.name as string;
    const namespace = pass.sandbox.metadata.namespace as string;
    await this.save(pass, {
      kind: "AgentReported",
      report: {
        observed,
        spec,
        policy,
        hostConflict: spec.ingress?.enabled
          ? hostConflict(pass.sandbox, this.hostLabels)
          : undefined,
        ingressUrl: this.options.ingressUrl(name, namespace),
        sshCommand: this.options.sshCommand(name, namespace),
      },
    });
    const { sandbox, status } = pass;
    // Ready means serving (status.ts).
    const serving = isReady({ status });
    if (serving && previousReady?.status !== "True") {
      if (!hadStarted && sandbox.metadata.creationTimestamp) {
        this.options.metrics.applyToReadySeconds.observe(
          (Date.now() - Date.parse(sandbox.metadata.creationTimestamp)) / 1000,
        );
      }
      if (observed.startedFrom === "warmPool") {
        const pool = this.warmClaim(sandbox, spec)?.poolName;
        const from = pool ? ` of SandboxWarmPool ${pool}` : "";
        await this.record(
          sandbox,
          "Normal",
          "ClaimedWarmVM",
          `claimed a warm VM${from} on ${status.nodeName} instead of booting one`,
        );
      }
      await this.record(sandbox, "Normal", "Ready", `the VM is running on ${status.nodeName}`);
    }
    if (observed.phase === "Failed" && previousReady?.reason !== observed.reason) {
      await this.record(
        sandbox,
        "Warning",
        observed.reason ?? "Failed",
        observed.message ?? "the VM failed",
      );
    }
    const { remainingMs } = lifecycleDeadline(
      sandbox,
      spec,
      this.activity.known(sandbox.metadata.uid as string),
    );
    const next =
      (observed.phase === "Running" && serving) ||
      observed.phase === "Suspended" ||
      observed.phase === "Failed"
        ? this.options.resyncMs
        : BOOTING_RECHECK_MS;
    return { requeueAfterMs: Math.min(next, remainingMs ?? Number.POSITIVE_INFINITY) };
  }

  /** On delete: destroy the VM, then let the object go. */
  private async finalize(sandbox: Sandbox): Promise<Result> {
    if (!sandbox.metadata.finalizers?.includes(FINALIZER)) return {};
    const uid = sandbox.metadata.uid as string;
    const nodeName = this.placements.nodeOf(sandbox);
    const node = nodeName ? this.placements.node(nodeName) : undefined;
    if (node) {
      try {
        await this.options.agents.delete(node.spec.address, uid);
      } catch (error) {
        // A lost node took the VM with it; otherwise keep trying.
        if (!(error instanceof AgentUnreachableError) || isReady(node)) throw error;
      }
    }
    await this.writes.metadata(sandbox, {
      finalizers: (sandbox.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    });
    this.placements.forget(uid);
    this.activity.forget(uid);
    this.refused.delete(uid);
    this.writes.forget(uid);
    this.reports.forget(uid);
    this.log.info(
      { sandbox: `${sandbox.metadata.namespace}/${sandbox.metadata.name}`, node: nodeName },
      "VM destroyed; finalizer removed",
    );
    return {};
  }

  /** Moves the pass's status on by what was observed (status.ts); nothing is written yet. */
  private note(pass: Pass, observation: Observation): void {
    pass.status = sandboxStatus(pass.status, pass.generation, observation);
  }

  /** Writes the pass's status (after noting `observation`, if given); unchanged status is not written. */
  private async save(pass: Pass, observation?: Observation): Promise<void> {
    if (observation) this.note(pass, observation);
    pass.sandbox = await this.writes.status(pass.sandbox, pass.status);
  }

  /**
   * Records an Event without holding up the reconcile, as client-go's
   * recorder does: Events are best-effort and the recorder never throws.
   */
  private async record(
    sandbox: Sandbox,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    void this.options.events.record(
      {
        apiVersion: API_VERSION,
        kind: "Sandbox",
        name: sandbox.metadata.name as string,
        namespace: sandbox.metadata.namespace as string,
        uid: sandbox.metadata.uid as string,
      },
      type,
      reason,
      message,
    );
  }
}

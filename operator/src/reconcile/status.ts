import { describeFields, type EffectivePolicy, type ObservedSandbox } from "@turgon/api/agent";
import { findCondition, type SandboxNode, type SandboxStatus } from "@turgon/api/crd";
import { AgentRequestError, AgentUnreachableError } from "../agents/client.ts";
import { type ConditionUpdate, setCondition } from "./conditions.ts";
import { specField } from "./desired.ts";
import type { EffectiveSpec } from "./template.ts";

/**
 * A Sandbox's status as a pure function of what one reconcile step found:
 * no API calls and no clock but the one passed in. The reconciler
 * (sandbox.ts) decides what to look at and in which order; this module
 * decides what status then says, so that every branch can be table-tested
 * (status.test.ts), as kubernetes-sigs/agent-sandbox tests computeConditions.
 */

/** The Sandbox phase for each phase the agent reports of the VM. */
export const AGENT_PHASE: Record<ObservedSandbox["phase"], NonNullable<SandboxStatus["phase"]>> = {
  Booting: "Starting",
  Running: "Running",
  Suspending: "Running",
  Suspended: "Suspended",
  Failed: "Failed",
  Stopping: "Terminating",
};

/** Whether the sandbox's node is merely NotReady, or gone for good with the VM on it. */
export interface NodeLoss {
  nodeName: string;
  lost: boolean;
  /** When a NotReady node counts as lost (epoch ms). */
  lostAt: number;
  message: string;
}

/** A failed call to the sandbox's agent, by what status should say about it. */
export type AgentFailure =
  /** 409: the node filled up before its heartbeat said so. */
  | { kind: "NodeFull"; message: string }
  /** 400: a spec the agent cannot run, with the fields at fault named as in the Sandbox. */
  | { kind: "InvalidSpec"; message: string }
  | { kind: "AgentUnreachable"; message: string }
  /** The agent failed in a way nobody planned for. */
  | { kind: "AgentError"; message: string }
  /** Not an answer from the agent at all: status says nothing about it. */
  | { kind: "Unexpected" };

/** What the agent reported of the VM, with what the sandbox asked for. */
export interface AgentReport {
  observed: ObservedSandbox;
  spec: Pick<EffectiveSpec, "ingress" | "ssh" | "lifecycle">;
  policy: Pick<EffectivePolicy, "mode" | "allowedHosts" | "secrets">;
  /** Why another sandbox's claim on the routed host keeps this one from serving, if it does. */
  hostConflict?: string | undefined;
  ingressUrl: string;
  sshCommand: string;
}

/** What one reconcile step found, from which the sandbox's status follows. */
export type Observation =
  /** Lost with its node, restartPolicy Never: it stays Failed as it is. */
  | { kind: "StaysLost" }
  /** Lost with its node, restartPolicy OnNodeFailure: back to Pending, to be placed again. */
  | { kind: "Rescheduling" }
  /** spec.templateRef names no SandboxTemplate. */
  | { kind: "TemplateNotFound"; message: string }
  /** The egress policy cannot be resolved (a missing policy, Secret or key; a refused override). */
  | { kind: "PolicyUnresolved"; reason: string; message: string }
  /** No node fits the sandbox. */
  | { kind: "Unschedulable"; reason: string; message: string }
  /** Placed on a node; its agent has not been asked for the VM yet. */
  | { kind: "Scheduled"; nodeName: string }
  /** The sandbox's node is not Ready, or no longer exists. */
  | { kind: "NodeNotReady"; loss: NodeLoss }
  | { kind: "AgentFailed"; failure: AgentFailure }
  | { kind: "AgentReported"; report: AgentReport };

/** A sandbox that failed with its node: it stays so unless it asked to be rescheduled. */
export function lostWithNode(status: SandboxStatus | undefined): boolean {
  return (
    status?.phase === "Failed" && findCondition(status.conditions, "Ready")?.reason === "NodeLost"
  );
}

/** Whether a NotReady (or deleted) node has been gone long enough to count as lost. */
export function nodeLoss(
  nodeName: string,
  node: SandboxNode | undefined,
  nodeLostMs: number,
  now = Date.now(),
): NodeLoss {
  const ready = findCondition(node?.status?.conditions, "Ready");
  const since = node && ready ? Date.parse(ready.lastTransitionTime) : 0;
  const why = node
    ? `${ready?.reason ?? "NotReady"}: ${ready?.message ?? "no heartbeat"}`
    : "the SandboxNode was deleted";
  const lostAt = since + nodeLostMs;
  const lost = now >= lostAt;
  return {
    nodeName,
    lost,
    lostAt,
    message: lost
      ? `SandboxNode ${nodeName} was lost (${why}); the VM is gone with it`
      : `SandboxNode ${nodeName} is not ready (${why})`,
  };
}

/** What a failed agent call means for the sandbox. */
export function agentFailure(error: unknown, nodeName: string): AgentFailure {
  if (error instanceof AgentUnreachableError)
    return { kind: "AgentUnreachable", message: error.message };
  if (!(error instanceof AgentRequestError)) return { kind: "Unexpected" };
  if (error.status === 409) return { kind: "NodeFull", message: error.message };
  if (error.status === 400)
    return {
      kind: "InvalidSpec",
      message: error.fields.length
        ? describeFields(error.fields.map((f) => ({ ...f, path: specField(f.path) })))
        : error.message,
    };
  return {
    kind: "AgentError",
    message: `node agent ${nodeName} answered ${error.status}: ${error.message}`,
  };
}

/**
 * The status that follows from `previous` once `observation` is made.
 * Conditions move as apimachinery's SetStatusCondition moves them; every
 * branch records the generation it saw. `previous` is not changed.
 */
export function sandboxStatus(
  previous: SandboxStatus,
  generation: number,
  observation: Observation,
  now: Date = new Date(),
): SandboxStatus {
  const status: SandboxStatus = structuredClone(previous);
  status.observedGeneration = generation;
  const set = (update: ConditionUpdate) => {
    status.conditions = setCondition(status.conditions ?? [], update, generation, now);
  };
  /** Not running and waiting for something to change; a placed sandbox keeps its phase. */
  const pending = (reason: string, message: string) => {
    status.phase = status.nodeName ? status.phase : "Pending";
    status.message = message;
    set({ type: "Ready", status: "False", reason, message });
  };

  switch (observation.kind) {
    case "StaysLost":
      // Only the generation seen moves: a client can tell that an edit was looked at.
      break;
    case "Rescheduling":
      delete status.nodeName;
      delete status.startedAt;
      status.phase = "Pending";
      set({
        type: "Scheduled",
        status: "False",
        reason: "Rescheduling",
        message: "its node was lost; restartPolicy is OnNodeFailure",
      });
      break;
    case "TemplateNotFound":
      pending("TemplateNotFound", observation.message);
      break;
    case "PolicyUnresolved": {
      const { reason, message } = observation;
      set({ type: "PolicyApplied", status: "False", reason, message });
      // A running VM keeps the policy it has; a new one waits for the policy to resolve.
      if (!status.nodeName) pending(reason, message);
      break;
    }
    case "Unschedulable": {
      const { reason, message } = observation;
      set({ type: "Scheduled", status: "False", reason, message });
      pending(reason, message);
      break;
    }
    case "Scheduled":
      status.nodeName = observation.nodeName;
      status.phase = "Starting";
      delete status.message;
      set({
        type: "Scheduled",
        status: "True",
        reason: "Scheduled",
        message: `placed on SandboxNode ${observation.nodeName}`,
      });
      set({ type: "Ready", status: "False", reason: "Booting", message: "the VM is booting" });
      break;
    case "NodeNotReady": {
      const { loss } = observation;
      if (!loss.lost) {
        set({ type: "Ready", status: "Unknown", reason: "NodeNotReady", message: loss.message });
        break;
      }
      status.phase = "Failed";
      status.message = loss.message;
      set({ type: "Ready", status: "False", reason: "NodeLost", message: loss.message });
      set({ type: "IngressReady", status: "False", reason: "NodeLost", message: loss.message });
      break;
    }
    case "AgentFailed":
      agentFailed(status, observation.failure, set);
      break;
    case "AgentReported":
      agentReported(status, observation.report, set);
      break;
  }
  return status;
}

function agentFailed(
  status: SandboxStatus,
  failure: AgentFailure,
  set: (update: ConditionUpdate) => void,
): void {
  switch (failure.kind) {
    case "NodeFull":
      // Place the sandbox again.
      delete status.nodeName;
      status.phase = "Pending";
      set({ type: "Scheduled", status: "False", reason: "NodeFull", message: failure.message });
      break;
    case "InvalidSpec":
      // Wait for an edit rather than retry.
      status.phase = "Failed";
      status.message = failure.message;
      set({ type: "Ready", status: "False", reason: "InvalidSpec", message: failure.message });
      break;
    case "AgentUnreachable":
      set({
        type: "Ready",
        status: "Unknown",
        reason: "AgentUnreachable",
        message: failure.message,
      });
      break;
    case "AgentError":
      // Say so, not "booting".
      set({ type: "Ready", status: "False", reason: "AgentError", message: failure.message });
      break;
    case "Unexpected":
      break;
  }
}

/** Mirrors what the agent reports of the VM; Ready means serving. */
function agentReported(
  status: SandboxStatus,
  report: AgentReport,
  set: (update: ConditionUpdate) => void,
): void {
  const { observed, spec, policy } = report;
  // A host conflict matters only to a sandbox that is routed.
  const conflict = spec.ingress?.enabled ? report.hostConflict : undefined;
  status.phase = AGENT_PHASE[observed.phase];
  if (observed.startedAt) status.startedAt = observed.startedAt.replace(/\.\d{3}Z$/, "Z");
  if (observed.message && observed.phase === "Failed") status.message = observed.message;
  else delete status.message;
  const running = observed.phase === "Running";
  // With ingress on, every route must answer its readiness probe.
  const ingressReady = conflict
    ? { ready: false, message: conflict }
    : (observed.ingressReady ?? { ready: true, message: "serving" });
  const serving = running && (!spec.ingress?.enabled || ingressReady.ready);
  set(
    serving
      ? {
          type: "Ready",
          status: "True",
          reason: "Running",
          message:
            observed.startedFrom === "warmPool"
              ? "the VM is running (claimed from a warm pool, without a boot)"
              : "the VM is running",
        }
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
  set({
    type: "PolicyApplied",
    status: "True",
    reason: "Applied",
    message: `egress policy (${policy.mode}) with ${policy.allowedHosts.length} allowed host(s) and ${policy.secrets.length} secret(s) is in force`,
  });
  set(
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
      url: report.ingressUrl,
      routes: observed.routes,
      access: spec.ingress.access ?? "private",
      // For the router, which reads no templates: whether a request may resume the sandbox.
      ...(spec.lifecycle?.wakeOnRequest ? { wakeOnRequest: true } : {}),
      // The sandbox's own front on its node (the router prefers it): in the write that sets Ready.
      ...(observed.frontPort ? { frontPort: observed.frontPort } : {}),
    };
    set(
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
    set({
      type: "IngressReady",
      status: "False",
      reason: "IngressDisabled",
      message: "spec.ingress.enabled is false",
    });
  }
  if (spec.ssh?.enabled) status.ssh = { command: report.sshCommand };
  else delete status.ssh;
}

import type { SandboxWarmPoolStatus } from "@turgon/api/crd";
import { setCondition } from "./conditions.ts";

/** What one reconcile of a pool found. */
export type PoolObservation =
  | { kind: "TemplateNotFound"; message: string }
  | {
      kind: "Spread";
      desired: number;
      /** Warm VMs that fit on no Ready node. */
      unplaced: number;
      /** Summed over the agents' reports. */
      replicas: number;
      readyReplicas: number;
      /** Why an agent is short, as it says (NoCapacity, BootFailed), or that it cannot be told. */
      agentProblem?: { reason: string; message: string };
    };

/**
 * A SandboxWarmPool's status after an observation: the counts, and a Ready
 * condition that says why the pool is short (TemplateNotFound, NoCapacity,
 * an agent's reason, or Warming while VMs boot). `previous` is not changed.
 */
export function warmPoolStatus(
  previous: SandboxWarmPoolStatus,
  generation: number,
  observation: PoolObservation,
  now: Date = new Date(),
): SandboxWarmPoolStatus {
  const status: SandboxWarmPoolStatus = structuredClone(previous);
  status.observedGeneration = generation;
  const ready = (state: "True" | "False", reason: string, message: string) => {
    status.conditions = setCondition(
      status.conditions ?? [],
      { type: "Ready", status: state, reason, message },
      generation,
      now,
    );
  };
  if (observation.kind === "TemplateNotFound") {
    status.replicas = 0;
    status.readyReplicas = 0;
    ready("False", "TemplateNotFound", observation.message);
    return status;
  }
  const { desired, unplaced, replicas, readyReplicas, agentProblem } = observation;
  status.replicas = replicas;
  status.readyReplicas = readyReplicas;
  const counts = `${readyReplicas} of ${desired} warm VMs ready`;
  if (unplaced > 0)
    ready("False", "NoCapacity", `${counts}; ${unplaced} fit on no Ready, schedulable SandboxNode`);
  else if (readyReplicas >= desired) ready("True", "Ready", counts);
  else if (agentProblem) ready("False", agentProblem.reason, `${counts}; ${agentProblem.message}`);
  else ready("False", "Warming", `${counts}; the rest are booting`);
  return status;
}

import type { Condition } from "@turgon/api/crd";

export type ConditionType = "Scheduled" | "Ready" | "IngressReady" | "PolicyApplied" | "Suspended";

export interface ConditionUpdate {
  type: ConditionType;
  status: Condition["status"];
  reason: string;
  message: string;
}

/**
 * Sets a condition the way apimachinery's meta.SetStatusCondition does: the
 * transition time moves only when the status changes.
 */
export function setCondition(
  conditions: Condition[],
  update: ConditionUpdate,
  generation: number,
  now: Date = new Date(),
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    ...update,
    observedGeneration: generation,
    lastTransitionTime:
      existing && existing.status === update.status
        ? existing.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
  return [...conditions.filter((c) => c.type !== update.type), next];
}

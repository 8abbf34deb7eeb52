import type { Condition } from "./common.ts";

/** Reading metav1 conditions, as the operator, the router and the dashboard do. */
export function findCondition(
  conditions: Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when an object (a SandboxNode, a Sandbox) reports Ready=True. */
export function isReady(object: { status?: { conditions?: Condition[] } } | undefined): boolean {
  return findCondition(object?.status?.conditions, "Ready")?.status === "True";
}

import type { Sandbox } from "@turgon/api/crd";
import { sandboxHostLabel } from "@turgon/api/routing";

/**
 * Why `sandbox` cannot have its routed host, if another sandbox with ingress
 * claims the same label. Names with `--` are refused at admission and the
 * long form keeps 80 bits of hash, so this is for objects that predate those
 * rules; the router refuses such a host to both (409 HostConflict).
 */
export function hostConflict(sandbox: Sandbox, all: Sandbox[]): string | undefined {
  const label = sandboxHostLabel(
    sandbox.metadata.name as string,
    sandbox.metadata.namespace as string,
  );
  const others = all
    .filter(
      (other) =>
        other.metadata.uid !== sandbox.metadata.uid && other.spec.ingress?.enabled !== false,
    )
    .filter(
      (other) =>
        sandboxHostLabel(other.metadata.name as string, other.metadata.namespace as string) ===
        label,
    )
    .map((other) => `${other.metadata.namespace}/${other.metadata.name}`);
  return others.length
    ? `host ${label} is claimed by ${others.sort().join(", ")} too; rename one of them`
    : undefined;
}

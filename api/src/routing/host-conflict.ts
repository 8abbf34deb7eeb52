import type { Sandbox } from "../crd/index.ts";
import { sandboxHostLabel } from "./index.ts";

/** What `following` needs of a Sandbox informer (client-node's, or any emitter like it). */
export interface SandboxEvents {
  on(event: "add" | "update" | "delete", handler: (sandbox: Sandbox) => void): void;
}

/** `namespace/name` of a sandbox. */
type SandboxKey = string;

/**
 * Host label → the sandboxes that claim it. Two sandboxes can claim one
 * label (`web--acme` in `ml` and `web` in `acme--ml`); then the label
 * belongs to neither, rather than to whichever changed last, until one of
 * them goes.
 */
export class HostLabelIndex {
  private readonly claims = new Map<string, Set<SandboxKey>>();

  add(name: string, namespace: string): void {
    const label = sandboxHostLabel(name, namespace);
    const claimants = this.claims.get(label) ?? new Set<SandboxKey>();
    claimants.add(`${namespace}/${name}`);
    this.claims.set(label, claimants);
  }

  delete(name: string, namespace: string): void {
    const label = sandboxHostLabel(name, namespace);
    const claimants = this.claims.get(label);
    claimants?.delete(`${namespace}/${name}`);
    if (claimants?.size === 0) this.claims.delete(label);
  }

  /** An index kept up to date from a Sandbox informer (its cache as it fills, then every change). */
  static following(sandboxes: SandboxEvents): HostLabelIndex {
    const index = new HostLabelIndex();
    const meta = (s: Sandbox) => s.metadata as { name: string; namespace: string };
    // Name and namespace never change, so an update claims the same label again (a no-op).
    sandboxes.on("add", (s) => index.add(meta(s).name, meta(s).namespace));
    sandboxes.on("update", (s) => index.add(meta(s).name, meta(s).namespace));
    sandboxes.on("delete", (s) => index.delete(meta(s).name, meta(s).namespace));
    return index;
  }

  /** Every sandbox claiming `label`, sorted. */
  claimants(label: string): { name: string; namespace: string; key: SandboxKey }[] {
    return [...(this.claims.get(label) ?? [])].sort().map((key) => {
      const [namespace, name] = key.split("/") as [string, string];
      return { name, namespace, key };
    });
  }
}

/**
 * Why `sandbox` cannot have its routed host, if another sandbox claims the
 * same label. Names with `--` are refused at admission and the long form
 * keeps 80 bits of hash, so this is for objects that predate those rules;
 * the router refuses such a host to both (409 HostConflict).
 */
export function hostConflict(sandbox: Sandbox, index: HostLabelIndex): string | undefined {
  const { name, namespace } = sandbox.metadata as { name: string; namespace: string };
  const label = sandboxHostLabel(name, namespace);
  const others = index
    .claimants(label)
    .filter((c) => c.key !== `${namespace}/${name}`)
    .map((c) => c.key);
  return others.length
    ? `host ${label} is claimed by ${others.join(", ")} too; rename one of them`
    : undefined;
}

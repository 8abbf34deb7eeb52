import type { SandboxPolicy, SandboxSpec } from "../crd/index.ts";

type Rules = SandboxPolicy["spec"];
type Inline = Omit<NonNullable<SandboxSpec["network"]>, "policyRef">;

/** One inline rule that would make a referenced policy more permissive. */
export interface Relaxation {
  field: string;
  message: string;
}

/** Whether every host `pattern` names is one that `allowed` already allows. */
export function hostCovered(allowed: string, pattern: string): boolean {
  const a = allowed.toLowerCase();
  const p = pattern.toLowerCase();
  if (a === "*") return true;
  if (p === "*") return false;
  if (a.startsWith("*.")) return p.endsWith(a.slice(1));
  return a === p;
}

/**
 * The inline rules that relax `policy`: hosts it does not allow, report
 * mode, internal ranges unblocked, methods or CIDRs it denies left out,
 * WebSockets it forbids, trusted DNS where it keeps DNS synthetic. Rules
 * that only tighten it (fewer hosts, more denials) are not listed.
 */
export function relaxations(policy: Rules, inline: Inline): Relaxation[] {
  const found: Relaxation[] = [];
  const allowed = policy.allowedHosts ?? [];
  for (const [index, host] of (inline.allowedHosts ?? []).entries())
    if (!allowed.some((pattern) => hostCovered(pattern, host)))
      found.push({
        field: `allowedHosts[${index}]`,
        message: `host "${host}" is not allowed by it`,
      });
  if (inline.blockInternalRanges === false && policy.blockInternalRanges !== false)
    found.push({ field: "blockInternalRanges", message: "false unblocks internal ranges" });
  if (inline.mode === "report" && (policy.mode ?? "enforce") === "enforce")
    found.push({ field: "mode", message: "report lets denied hosts through" });
  const missing = (mine: readonly string[] | undefined, theirs: readonly string[] | undefined) =>
    mine === undefined ? [] : (theirs ?? []).filter((entry) => !mine.includes(entry));
  for (const method of missing(inline.deniedMethods, policy.deniedMethods))
    found.push({ field: "deniedMethods", message: `leaving out ${method}, which it denies,` });
  for (const cidr of missing(inline.deniedCIDRs, policy.deniedCIDRs))
    found.push({ field: "deniedCIDRs", message: `leaving out ${cidr}, which it denies,` });
  if (inline.websockets === true && policy.websockets === false)
    found.push({ field: "websockets", message: "true allows WebSockets" });
  if (inline.dns?.mode === "trusted" && (policy.dns?.mode ?? "synthetic") === "synthetic")
    found.push({ field: "dns.mode", message: "trusted lets the guest's DNS queries out" });
  return found;
}

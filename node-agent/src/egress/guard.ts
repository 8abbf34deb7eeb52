import { BlockList, isIPv4 } from "node:net";
import type { EffectivePolicy } from "@turgon/api/agent";

export type Decision = "allowed" | "denied" | "would-deny";

export interface Verdict {
  decision: Decision;
  reason: string;
}

/** Private, loopback, link-local and other addresses a guest must not reach by default. */
function internalRanges(): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of [
    ["0.0.0.0", 8],
    ["10.0.0.0", 8],
    ["100.64.0.0", 10],
    ["127.0.0.0", 8],
    ["169.254.0.0", 16],
    ["172.16.0.0", 12],
    ["192.168.0.0", 16],
    ["255.255.255.255", 32],
  ] as const)
    list.addSubnet(net, prefix, "ipv4");
  for (const [net, prefix] of [
    ["::", 128],
    ["::1", 128],
    ["fc00::", 7],
    ["fe80::", 10],
  ] as const)
    list.addSubnet(net, prefix, "ipv6");
  return list;
}
const INTERNAL = internalRanges();

export function hostMatches(pattern: string, host: string): boolean {
  const name = host.toLowerCase();
  const p = pattern.toLowerCase();
  if (p === "*") return true;
  if (p.startsWith("*.")) return name.endsWith(p.slice(1));
  return name === p;
}

/**
 * Turgon's egress policy for one VM, evaluated on every request. Gondolin is
 * told to allow every host (`allowedHosts: ["*"]`) and asks this guard
 * instead, so a policy edit takes effect on the next request without a
 * reboot. `report` mode lets a would-be-denied request through.
 */
export class EgressGuard {
  private policy: EffectivePolicy;
  private deniedCidrs: BlockList;

  constructor(policy: EffectivePolicy) {
    this.policy = policy;
    this.deniedCidrs = EgressGuard.cidrList(policy);
  }

  private static cidrList(policy: EffectivePolicy): BlockList {
    const list = new BlockList();
    for (const cidr of policy.deniedCIDRs ?? []) {
      const [net = "", prefix = "0"] = cidr.split("/");
      list.addSubnet(net, Number(prefix), isIPv4(net) ? "ipv4" : "ipv6");
    }
    return list;
  }

  update(policy: EffectivePolicy): void {
    this.policy = policy;
    this.deniedCidrs = EgressGuard.cidrList(policy);
  }

  private verdict(denyReason: string | undefined): Verdict {
    if (!denyReason) return { decision: "allowed", reason: "allowed by policy" };
    return this.policy.mode === "report"
      ? { decision: "would-deny", reason: denyReason }
      : { decision: "denied", reason: denyReason };
  }

  checkRequest(method: string, host: string): Verdict {
    if (this.policy.deniedMethods?.includes(method.toUpperCase() as never))
      return this.verdict(`method ${method} is denied`);
    if (!this.policy.allowedHosts.some((pattern) => hostMatches(pattern, host))) {
      return this.verdict(`host ${host} is not on the allowlist`);
    }
    return this.verdict(undefined);
  }

  checkAddress(ip: string): Verdict {
    const family = isIPv4(ip) ? "ipv4" : "ipv6";
    if (this.deniedCidrs.check(ip, family))
      return this.verdict(`address ${ip} is in a denied CIDR`);
    if (this.policy.blockInternalRanges !== false && INTERNAL.check(ip, family)) {
      return this.verdict(`address ${ip} is internal`);
    }
    return this.verdict(undefined);
  }
}

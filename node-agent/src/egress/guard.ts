import { type BlockList, isIP, isIPv4 } from "node:net";
import type { EffectivePolicy } from "@turgon/api/agent";
import { cidrBlockList } from "@turgon/api/net";
import { type AddressRules, unmapIpv4 } from "./addresses.ts";

export type Decision = "allowed" | "denied" | "would-deny";

export interface Verdict {
  decision: Decision;
  reason: string;
}

const ALLOWED: Verdict = { decision: "allowed", reason: "allowed by policy" };
const denied = (reason: string): Verdict => ({ decision: "denied", reason });

export function hostMatches(pattern: string, host: string): boolean {
  const name = host.toLowerCase();
  const p = pattern.toLowerCase();
  if (p === "*") return true;
  if (p.startsWith("*.")) return name.endsWith(p.slice(1));
  return name === p;
}

/** Whether a request head asks for a WebSocket (the headers Gondolin keeps on an upgrade). */
export function isWebSocketRequest(headers: Headers): boolean {
  return (
    (headers.get("upgrade") ?? "").toLowerCase() === "websocket" ||
    headers.has("sec-websocket-key") ||
    headers.has("sec-websocket-version")
  );
}

/**
 * Turgon's egress policy for one VM, evaluated on every request. Gondolin is
 * told to allow every host (`allowedHosts: ["*"]`) and asks this guard
 * instead, so a policy edit takes effect on the next request without a
 * reboot.
 *
 * The floor (loopback, link-local and metadata, the node's own and the
 * platform's addresses, special-purpose ranges) is refused in every mode.
 * `report` mode relaxes only the allowlist: a host not on it goes through
 * and is audited as would-deny; every other rule still refuses.
 */
export class EgressGuard {
  private policy: EffectivePolicy;
  private deniedCidrs: BlockList;
  private readonly addresses: AddressRules;

  constructor(policy: EffectivePolicy, addresses: AddressRules) {
    this.policy = policy;
    this.addresses = addresses;
    this.deniedCidrs = EgressGuard.cidrList(policy);
  }

  private static cidrList(policy: EffectivePolicy): BlockList {
    return cidrBlockList(policy.deniedCIDRs ?? []);
  }

  /** The SandboxPolicy in force, for audit events. */
  get policyName(): string | undefined {
    return this.policy.policyName;
  }

  update(policy: EffectivePolicy): void {
    this.policy = policy;
    this.deniedCidrs = EgressGuard.cidrList(policy);
  }

  checkRequest(method: string, host: string, headers?: Headers): Verdict {
    if (this.policy.deniedMethods?.includes(method.toUpperCase() as never))
      return denied(`method ${method} is denied`);
    if (this.policy.websockets === false && headers && isWebSocketRequest(headers))
      return denied("WebSockets are denied (network.websockets is false)");
    // An address written as the host is judged now, before any lookup.
    const literal = host.replace(/^\[|\]$/g, "");
    if (isIP(literal)) {
      const byAddress = this.checkAddress(literal);
      if (byAddress.decision === "denied") return byAddress;
    }
    if (!this.policy.allowedHosts.some((pattern) => hostMatches(pattern, host))) {
      const reason = `host ${host} is not on the allowlist`;
      return this.policy.mode === "report" ? { decision: "would-deny", reason } : denied(reason);
    }
    return ALLOWED;
  }

  checkAddress(address: string): Verdict {
    const ip = unmapIpv4(address);
    const kind = this.addresses.classify(ip);
    if (kind.kind === "floor")
      return denied(`address ${address} is ${kind.why}: refused in every mode`);
    if (this.deniedCidrs.check(ip, isIPv4(ip) ? "ipv4" : "ipv6"))
      return denied(`address ${address} is in a denied CIDR`);
    if (kind.kind === "internal" && this.policy.blockInternalRanges !== false)
      return denied(`address ${address} is ${kind.why}: internal ranges are blocked`);
    return ALLOWED;
  }
}

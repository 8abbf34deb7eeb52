import { type BlockList, isIP, isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { cidrBlockList } from "@turgon/api/net";

/**
 * What an egress address is to Turgon:
 * - `floor`: never reachable from a guest, in any mode, whatever a policy says:
 *   the host itself (loopback, its own addresses), link-local and cloud
 *   metadata, the platform's own service ranges, and special-purpose ranges
 *   (some of which embed an IPv4 address that could be one of the above);
 * - `internal`: private networks, refused unless a policy sets
 *   `blockInternalRanges: false`;
 * - `public`: everything else.
 */
export type AddressClass =
  | { kind: "floor"; why: string }
  | { kind: "internal"; why: string }
  | { kind: "public" };

type Range = readonly [cidr: string, why: string];

const FLOOR: Range[] = [
  ["0.0.0.0/8", "'this network' (0.0.0.0/8)"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local (cloud metadata lives here)"],
  ["100.100.100.200/32", "a cloud metadata service"],
  ["192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"],
  ["198.18.0.0/15", "benchmarking (198.18.0.0/15)"],
  ["224.0.0.0/3", "multicast or reserved (224.0.0.0/3)"],
  ["::/96", "unspecified or IPv4-compatible (::/96)"],
  ["::1/128", "loopback"],
  ["fe80::/10", "link-local"],
  ["ff00::/8", "multicast"],
  ["64:ff9b::/96", "NAT64 (64:ff9b::/96), which reaches IPv4 addresses"],
  ["64:ff9b:1::/48", "local NAT64 (64:ff9b:1::/48)"],
  ["2002::/16", "6to4 (2002::/16), which embeds IPv4 addresses"],
  ["2001::/32", "Teredo (2001::/32), which embeds IPv4 addresses"],
  ["fd00:ec2::254/128", "a cloud metadata service"],
];
const INTERNAL: Range[] = [
  ["10.0.0.0/8", "private (10.0.0.0/8)"],
  ["100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"],
  ["172.16.0.0/12", "private (172.16.0.0/12)"],
  ["192.168.0.0/16", "private (192.168.0.0/16)"],
  ["fc00::/7", "unique local (fc00::/7)"],
];

/** How often the node's own addresses are read again (interfaces come and go). */
const NODE_ADDRESSES_TTL_MS = 30_000;

/** Named address blocks: which one holds an address, and why it is there. */
class Ranges {
  private readonly ranges: { list: BlockList; why: string }[] = [];

  add(cidr: string, why: string): void {
    this.ranges.push({ list: cidrBlockList([cidr]), why });
  }

  find(ip: string): string | undefined {
    const family = isIPv4(ip) ? "ipv4" : "ipv6";
    return this.ranges.find((range) => range.list.check(ip, family))?.why;
  }
}

function ranges(entries: Range[]): Ranges {
  const out = new Ranges();
  for (const [cidr, why] of entries) out.add(cidr, why);
  return out;
}

const FLOOR_RANGES = ranges(FLOOR);
const INTERNAL_RANGES = ranges(INTERNAL);

/** The eight 16-bit groups of an IPv6 address (with any dotted IPv4 tail folded in). */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a = 0, b = 0, c = 0, d = 0] = (dotted[1] as string).split(".").map(Number);
    text = `${text.slice(0, -(dotted[1] as string).length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => (part ? part.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
}

/** `::ffff:a.b.c.d` is the IPv4 address a.b.c.d on a dual-stack socket: judge it as that. */
export function unmapIpv4(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const g = ipv6Groups(ip);
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  if (!mapped) return ip;
  const [hi = 0, lo = 0] = g.slice(6);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export interface AddressRulesOptions {
  /** CIDRs of the platform's own services (cluster service and pod ranges, databases): always refused. */
  platformCidrs?: string[];
  /** The node's own addresses; read from its interfaces unless given. */
  nodeAddresses?: () => string[];
}

/** Classifies egress addresses against the floor, the node's own addresses and private ranges. */
export class AddressRules {
  private readonly platform = new Ranges();
  private readonly readNodeAddresses: () => string[];
  private nodeAddresses = new Set<string>();
  private nodeAddressesAt = 0;

  constructor(options: AddressRulesOptions = {}) {
    for (const cidr of options.platformCidrs ?? [])
      this.platform.add(cidr, `a platform service address (${cidr})`);
    this.readNodeAddresses =
      options.nodeAddresses ??
      (() =>
        Object.values(networkInterfaces())
          .flat()
          .map((entry) => entry?.address ?? ""));
  }

  private isNodeAddress(ip: string): boolean {
    if (Date.now() - this.nodeAddressesAt > NODE_ADDRESSES_TTL_MS) {
      this.nodeAddresses = new Set(this.readNodeAddresses().map((a) => unmapIpv4(a.toLowerCase())));
      this.nodeAddressesAt = Date.now();
    }
    return this.nodeAddresses.has(ip.toLowerCase());
  }

  classify(address: string): AddressClass {
    const ip = unmapIpv4(address.replace(/^\[|\]$/g, ""));
    if (!isIP(ip)) return { kind: "floor", why: "not an IP address" };
    const floor = FLOOR_RANGES.find(ip) ?? this.platform.find(ip);
    if (floor) return { kind: "floor", why: floor };
    if (this.isNodeAddress(ip)) return { kind: "floor", why: "one of this node's own addresses" };
    const internal = INTERNAL_RANGES.find(ip);
    return internal ? { kind: "internal", why: internal } : { kind: "public" };
  }
}

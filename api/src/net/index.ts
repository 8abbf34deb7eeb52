/**
 * Address blocks, parsed one way for everyone: the CRDs' CIDR fields, the
 * agent's egress rules and platform ranges, the router's trusted proxies.
 */
import { BlockList, isIP } from "node:net";

/** An address block: `10.0.0.0/8`, `fd00::/8`. */
export interface Cidr {
  address: string;
  prefix: number;
  family: "ipv4" | "ipv6";
}

/**
 * Parses a CIDR as the API server's CEL `isCIDR()` takes it (Go's
 * netip.ParsePrefix): an IPv4 or IPv6 address, no zone, no spaces, and a
 * prefix length without leading zeros that fits the family. With `bare`, an
 * address alone is a block of one. Undefined for anything else.
 */
export function parseCidr(text: string, options: { bare?: boolean } = {}): Cidr | undefined {
  const match = /^([^/%\s]+)(?:\/(\d{1,3}))?$/.exec(text);
  if (!match) return undefined;
  const [, address = "", prefixText] = match;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefixText === undefined && !options.bare) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefixText !== undefined && String(prefix) !== prefixText) return undefined;
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

/** One BlockList of `cidrs` (parsed, or as text); text that is not a CIDR is an error. */
export function cidrBlockList(cidrs: readonly (Cidr | string)[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const cidr = typeof entry === "string" ? parseCidr(entry) : entry;
    if (!cidr) throw new RangeError(`${entry} is not a CIDR`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

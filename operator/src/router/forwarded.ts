import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIP } from "node:net";

/** One `--trusted-proxies` entry: an address block. */
export interface Cidr {
  address: string;
  prefix: number;
  family: "ipv4" | "ipv6";
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a block of one); undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = "", prefixText, ...rest] = text.trim().split("/");
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/**
 * Headers in which a client names where a request came from. Only a trusted
 * proxy may send them on; from anyone else they are forged, and a guest
 * that logs or rate-limits by them would be fooled.
 */
const CLIENT_ORIGIN_HEADERS = new Set(["forwarded", "x-real-ip"]);

/** Whether a (lower-case) header is one that `forwardingHeaders` decides, never copied as sent. */
export function isForwardingHeader(name: string): boolean {
  return CLIENT_ORIGIN_HEADERS.has(name) || name.startsWith("x-forwarded-");
}

/** The peers (`--trusted-proxies`) whose forwarding headers are believed. */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
    this.empty = cidrs.length === 0;
  }

  /** Whether a socket's peer address is trusted (IPv4-mapped IPv6 addresses match IPv4 blocks). */
  trusts(peer: string | undefined): boolean {
    if (this.empty || !peer) return false;
    const version = isIP(peer);
    if (version === 0) return false;
    return this.list.check(peer, version === 4 ? "ipv4" : "ipv6");
  }

  /**
   * The forwarding headers to send upstream. From a trusted proxy, its
   * `Forwarded`, `X-Real-IP` and `X-Forwarded-*` pass, the peer is appended
   * to `X-Forwarded-For`, and `X-Forwarded-Proto`/`-Host` are filled in
   * only where the proxy left them out. From anyone else, every such header
   * the client sent is dropped and the router says what it saw itself.
   */
  forwardingHeaders(
    headers: IncomingHttpHeaders,
    peer: string | undefined,
    scheme: string,
  ): IncomingHttpHeaders {
    const client = peer ?? "";
    const own: IncomingHttpHeaders = {
      "x-forwarded-for": client,
      "x-forwarded-proto": scheme,
      "x-forwarded-host": headers.host ?? "",
    };
    if (!this.trusts(peer)) return own;
    const passed: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers))
      if (isForwardingHeader(name) && value !== undefined) passed[name] = value;
    const prior = headers["x-forwarded-for"];
    return {
      ...own,
      ...passed,
      "x-forwarded-for": prior ? `${prior}, ${client}` : client,
    };
  }
}

import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";
import { type Cidr, cidrBlockList } from "@turgon/api/net";

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
  private readonly list: ReturnType<typeof cidrBlockList>;
  private readonly empty: boolean;

  constructor(cidrs: readonly Cidr[]) {
    this.list = cidrBlockList(cidrs);
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

/**
 * The client address the dashboard acts on. Next.js passes a client's own
 * X-Forwarded-For through (it only fills the header in when it is absent),
 * and better-auth keys its sign-in rate limit on that header: a client
 * could reset its limit by sending a new address with every attempt. So,
 * before Next.js sees a request, the header from a peer that is not a
 * trusted proxy is replaced by the peer's own address; from a trusted proxy
 * it is kept, and better-auth walks it right to left with the same list.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import type { BlockList } from "node:net";
import { cidrBlockList, parseCidr } from "@turgon/api/net";

export const TRUSTED_PROXIES_ENV = "TURGON_TRUSTED_PROXIES";

export class TrustedProxiesError extends Error {
  constructor(entry: string) {
    super(`${TRUSTED_PROXIES_ENV}: "${entry}" is not an IP address or CIDR`);
    this.name = new.target.name;
  }
}

/** The proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDRs. */
export function parseTrustedProxies(value: string | undefined): string[] {
  const entries = (value ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries)
    if (!parseCidr(entry, { bare: true })) throw new TrustedProxiesError(entry);
  return entries;
}

function blockOf(entries: readonly string[]): BlockList {
  return cidrBlockList(
    entries.map((entry) => {
      const cidr = parseCidr(entry, { bare: true });
      if (!cidr) throw new TrustedProxiesError(entry);
      return cidr;
    }),
  );
}

/** An IPv4-mapped IPv6 peer (`::ffff:127.0.0.1`) is its IPv4 address. */
function unmapped(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** Rewrites X-Forwarded-For of a request from an untrusted peer to that peer's address. */
export function settleForwardedFor(request: IncomingMessage, trusted: BlockList): void {
  const peer = request.socket.remoteAddress;
  if (!peer) {
    delete request.headers["x-forwarded-for"];
    return;
  }
  const address = unmapped(peer);
  const family = address.includes(":") ? "ipv6" : "ipv4";
  if (trusted.check(address, family)) return;
  request.headers["x-forwarded-for"] = address;
}

const REQUEST_START = "http.server.request.start";

/** Applies settleForwardedFor to every request this process's HTTP servers receive; returns how to stop. */
export function installForwardedForGuard(trustedProxies: readonly string[]): () => void {
  const trusted = blockOf(trustedProxies);
  const guard = (message: unknown) => {
    settleForwardedFor((message as { request: IncomingMessage }).request, trusted);
  };
  // Published by Node before the server emits "request", so Next.js only ever sees the result.
  subscribe(REQUEST_START, guard);
  return () => {
    unsubscribe(REQUEST_START, guard);
  };
}

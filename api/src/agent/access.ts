/**
 * Who may call a node agent, and how they prove it.
 *
 * Agents are reached only by the control plane. With TLS (the default) the
 * operator and the router present client certificates from the agent plane's
 * CA, as kube-apiserver does to kubelets: an agent holds no credential that
 * opens another agent, so a compromised node cannot reach its neighbours.
 * An agent started with `--insecure` (development only) serves plain HTTP
 * and takes a bearer token on its API and a per-request ingress ticket
 * (HMAC of the sandbox UID and an expiry, keyed by that token) on its
 * ingress port.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Control-plane callers of the agent, by the client certificate's common name. */
export const AGENT_CLIENTS = {
  operator: "turgon-operator",
  router: "turgon-router",
} as const;
export type AgentCaller = keyof typeof AGENT_CLIENTS;

/** The header carrying an ingress ticket to an `--insecure` agent's ingress port. */
export const INGRESS_TICKET_HEADER = "x-turgon-ticket";

/** How long an ingress ticket is good for: enough for clock skew, short enough to be useless later. */
export const INGRESS_TICKET_TTL_SECONDS = 60;

function ticketMac(key: string, uid: string, expires: number): string {
  return createHmac("sha256", key).update(`turgon-ingress\n${uid}\n${expires}`).digest("base64url");
}

/** `<expiry>.<mac>`: lets the bearer open one sandbox for a minute. */
export function signIngressTicket(key: string, uid: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + INGRESS_TICKET_TTL_SECONDS;
  return `${expires}.${ticketMac(key, uid, expires)}`;
}

/** Whether `ticket` opens sandbox `uid` now; never throws on malformed input. */
export function verifyIngressTicket(
  key: string,
  uid: string,
  ticket: string | undefined,
  now = Date.now(),
): boolean {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(ticket ?? "");
  if (!match) return false;
  const expires = Number(match[1]);
  const seconds = Math.floor(now / 1000);
  if (expires < seconds || expires > seconds + INGRESS_TICKET_TTL_SECONDS + 5) return false;
  const expected = Buffer.from(ticketMac(key, uid, expires));
  const presented = Buffer.from(match[2] as string);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

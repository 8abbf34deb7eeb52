/**
 * Cookies at the edge: the router's own ingress cookie, kept away from the
 * guest, and the guest's `Set-Cookie` headers, kept on the guest's own host.
 */
import { INGRESS_COOKIE, INGRESS_COOKIE_SECURE } from "@turgon/api/routing";

/** Both spellings of the router's cookie: neither reaches a guest, and a guest may set neither. */
const ROUTER_COOKIES = new Set([INGRESS_COOKIE, INGRESS_COOKIE_SECURE]);
const ROUTER_COOKIES_ANY_CASE = new Set([...ROUTER_COOKIES].map((n) => n.toLowerCase()));

/** The router's cookie name: `__Host-` (Secure, host-only) when browsers reach it over TLS. */
export function ingressCookieName(https: boolean): string {
  return https ? INGRESS_COOKIE_SECURE : INGRESS_COOKIE;
}

/** The router's Set-Cookie for a token handed over by the sign-in flow. */
export function ingressCookie(https: boolean, token: string, maxAgeSeconds: number): string {
  return `${ingressCookieName(https)}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${https ? "; Secure" : ""}`;
}

function cookiePairs(header: string | undefined): string[] {
  return (header ?? "")
    .split(";")
    .map((p) => p.trim())
    .filter(Boolean);
}

const pairName = (pair: string) => pair.split("=", 1)[0]?.trim() ?? "";

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of cookiePairs(header)) {
    const at = pair.indexOf("=");
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/** The Cookie header without the router's: the guest never sees the ingress token. */
export function withoutRouterCookies(header: string | undefined): string | undefined {
  const kept = cookiePairs(header).filter((p) => !ROUTER_COOKIES.has(pairName(p)));
  return kept.length ? kept.join("; ") : undefined;
}

/**
 * One guest `Set-Cookie`, parsed as RFC 6265 §5.2 reads it (the name=value
 * pair up to the first `;`, then `;`-separated attributes, names
 * case-insensitive): its `Domain` attributes removed, so the browser keeps
 * it host-only, on the sandbox's own host, instead of planting it on every
 * sandbox under the ingress domain. Undefined when the guest tries to set
 * the router's own cookie.
 */
export function guestSetCookie(header: string): string | undefined {
  const [pair = "", ...attributes] = header.split(";");
  // A nameless cookie (`=turgon_ingress=x`) goes back to the guest's host as
  // `turgon_ingress=x`, so it is judged by the name it will appear to have;
  // cookie prefixes are case-insensitive to browsers.
  const appears = pairName(pair.trim().replace(/^=\s*/, "")).toLowerCase();
  if (ROUTER_COOKIES_ANY_CASE.has(appears)) return undefined;
  const kept = attributes.filter((a) => pairName(a).toLowerCase() !== "domain");
  return [pair, ...kept].join(";");
}

/** Every `Set-Cookie` of a guest response, each made host-only; the router's own name dropped. */
export function guestSetCookies(
  headers: string | readonly string[] | undefined,
): string[] | undefined {
  if (headers === undefined) return undefined;
  const kept = (typeof headers === "string" ? [headers] : headers)
    .map(guestSetCookie)
    .filter((c): c is string => c !== undefined);
  return kept.length ? kept : undefined;
}

/**
 * A sandbox's own site as the router serves it: its origin, URLs built only
 * from that origin, and which requests from other sites it refuses.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Refusal } from "./pages.ts";

/**
 * `scheme://<label>.<domain>[:port]`, serialized as browsers serialize an
 * Origin (lower case, no default port). The host is rebuilt from the
 * validated label and the configured domain, never copied from the request;
 * only the port is the one the client addressed (behind an ingress the
 * public port is not the router's own). Undefined for a port no URL can have.
 */
export function ownOrigin(
  scheme: "http" | "https",
  label: string,
  domain: string,
  hostHeader: string | undefined,
): string | undefined {
  const port = /:(\d{1,5})$/.exec(hostHeader ?? "")?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return undefined;
  return new URL(`${scheme}://${label}.${domain.toLowerCase()}${port ? `:${port}` : ""}`).origin;
}

/**
 * The request target as a URL on the sandbox's own origin, or undefined when
 * it names another authority. The origin-form `/path?query` is appended to
 * the origin as text, so `//evil.example/` stays a path on our host (a URL
 * *resolved* against a base would make it the authority). The absolute-form
 * (RFC 9112 §3.2.2) is accepted only for our own host.
 */
export function requestUrl(target: string | undefined, origin: string): URL | undefined {
  const raw = target ?? "/";
  if (raw.startsWith("/")) {
    const url = new URL(`${origin}${raw}`);
    return url.origin === origin ? url : undefined;
  }
  if (!/^https?:\/\//i.test(raw)) return undefined;
  let absolute: URL;
  try {
    absolute = new URL(raw);
  } catch {
    return undefined;
  }
  if (absolute.host !== new URL(origin).host || absolute.username || absolute.password)
    return undefined;
  return new URL(`${origin}${absolute.pathname}${absolute.search}`);
}

/**
 * The path and query to send on: leading slashes folded into one, so no
 * reader of the path alone (a `return=` consumer, Gondolin's gateway, which
 * resolves request targets against a base URL) can take `//host` for an
 * authority.
 */
export function pathOf(url: URL): string {
  return `${url.pathname.replace(/^\/+/, "/")}${url.search}`;
}

/** An absolute URL on the sandbox's origin for redirects and `return=`: the origin, then `pathOf`. */
export function siteUrl(origin: string, url: URL): string {
  return `${origin}${pathOf(url)}`;
}

/** Methods that must not change state (RFC 9110 §9.2.1); browsers send the rest only with an Origin. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/**
 * Every sandbox lives under one registrable domain, so they are all one
 * *site*: SameSite cookies do not stop a page on another sandbox from
 * POSTing a form to this one or opening a WebSocket to it with the
 * visitor's cookies (the router's token and the guest's own). So on
 * WebSocket upgrades and on unsafe methods:
 *
 * - `Sec-Fetch-Site: same-site` or `cross-site` is refused: the browser
 *   says the request was started by another origin (across redirects too).
 * - An `Origin` other than the sandbox's own is refused, and so is
 *   `Origin: null` (sandboxed frames, data: URLs, cross-origin redirects).
 * - Without either header the request passes. Browsers always send
 *   `Origin` on WebSocket handshakes and on every non-GET/HEAD request
 *   (Fetch standard, "append a request `Origin` header"), so its absence
 *   means a client that is not a browser (curl, another server), which
 *   holds no visitor's cookies to abuse. Browsers too old to send it
 *   (e.g. Internet Explorer) are not defended.
 *
 * Safe methods pass: links and embeds between sandboxes are ordinary, and
 * the same-origin policy keeps another sandbox from reading the answers.
 */
export function crossSiteRefusal(
  method: string | undefined,
  headers: IncomingHttpHeaders,
  origin: string,
  upgrade: boolean,
): Refusal | undefined {
  if (!upgrade && SAFE_METHODS.has((method ?? "GET").toUpperCase())) return undefined;
  const what = upgrade ? "WebSocket" : `${method} request`;
  const site = headers["sec-fetch-site"]?.toLowerCase();
  if (site === "same-site" || site === "cross-site")
    return {
      status: 403,
      reason: "CrossSiteRequest",
      message: `a ${what} started by another site (Sec-Fetch-Site: ${site}) may not reach ${origin}`,
    };
  const sent = headers.origin;
  if (sent === undefined || sent === origin) return undefined;
  let normalized: string | undefined;
  try {
    normalized = new URL(sent).origin;
  } catch {
    normalized = undefined;
  }
  if (normalized === origin) return undefined;
  return {
    status: 403,
    reason: "CrossOriginRequest",
    message: `a ${what} from origin ${sent} may not reach ${origin}; only the sandbox's own pages may send it`,
  };
}

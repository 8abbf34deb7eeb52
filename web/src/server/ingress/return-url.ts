/**
 * The `return` parameter of /signin: a path on this dashboard, or a routed
 * sandbox URL the router sent the visitor from (the sign-in hand-off).
 * Anything else is ignored, so /signin can never send a browser to a host
 * of someone else's choosing. Pure: no Next.js, no I/O (unit-tested).
 */
import { DEFAULT_RETURN_PATH, safeReturnPath } from "../../lib/return-path.ts";

/** Where the router serves routed URLs (the edge ConfigMap's facts, never the request). */
export interface IngressSite {
  /** The edge ConfigMap's domain, e.g. `localhost` or `sandboxes.example.com`. */
  domain: string;
  scheme: "http" | "https";
  /** The router's public port; 0 for the scheme's default. */
  port: number;
}

export type ReturnTarget =
  /** A path on this dashboard (the default when nothing usable was given). */
  | { kind: "path"; path: string }
  /** A routed sandbox URL: its host label and the URL rebuilt from our own configuration. */
  | { kind: "sandbox"; label: string; url: string };

/** Longer than a path: the router puts the sandbox URL with its whole query in here. */
const MAX_URL_LENGTH = 4096;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const defaultPort = (scheme: "http" | "https") => (scheme === "https" ? 443 : 80);

/** `scheme://host[:port]` as browsers serialize an origin: the default port omitted. */
export function ingressOrigin(site: IngressSite, label: string): string {
  const port = site.port === 0 || site.port === defaultPort(site.scheme) ? "" : `:${site.port}`;
  return `${site.scheme}://${label}.${site.domain.toLowerCase()}${port}`;
}

/**
 * Reads `return`: a same-origin path (as `safeReturnPath` allows), or an
 * absolute URL whose scheme is the router's, whose host is exactly one DNS
 * label under the ingress domain, and whose port is the router's; no
 * userinfo, no percent-encoding or backslashes in the authority, no
 * control characters or spaces anywhere. The URL handed back is rebuilt
 * from the configured origin and the parsed path and query, never copied.
 * Anything else yields the default path, as does every URL while the site
 * is not known (`undefined`: the edge ConfigMap could not be read).
 */
export function parseReturn(
  value: string | readonly string[] | null | undefined,
  site: IngressSite | undefined,
): ReturnTarget {
  const raw = typeof value === "string" ? value : value?.[0];
  if (!raw || !/^https?:/i.test(raw)) return { kind: "path", path: safeReturnPath(raw) };
  return (site && sandboxTarget(raw, site)) || { kind: "path", path: DEFAULT_RETURN_PATH };
}

function sandboxTarget(raw: string, site: IngressSite): ReturnTarget | undefined {
  if (raw.length > MAX_URL_LENGTH) return undefined;
  // Whitespace, controls and backslashes are what URL parsers disagree on (or drop silently).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\s\\\u0000-\u001f\u007f]/.test(raw)) return undefined;
  // The authority as written: everything between `//` and the first / ? # (nothing else may end it).
  const match = /^(https?):\/\/([^/?#]*)([/?#].*)?$/i.exec(raw);
  if (!match) return undefined;
  const [, scheme = "", authority = "", rest = ""] = match;
  if (scheme.toLowerCase() !== site.scheme) return undefined;
  // Only letters, digits, dots, dashes and one port: no `@` (userinfo), no `%` (encoded dots), no IPv6.
  const hostPort = /^([a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(authority);
  if (!hostPort) return undefined;
  const [, host = "", portText] = hostPort;
  const suffix = `.${site.domain.toLowerCase()}`;
  const lowered = host.toLowerCase();
  if (!lowered.endsWith(suffix)) return undefined;
  const label = lowered.slice(0, -suffix.length);
  if (!DNS_LABEL.test(label)) return undefined;
  const port = portText === undefined ? defaultPort(site.scheme) : Number(portText);
  const wanted = site.port === 0 ? defaultPort(site.scheme) : site.port;
  if (port !== wanted) return undefined;
  // What follows the authority, parsed on our own origin: it can only be a path, query and fragment.
  const origin = ingressOrigin(site, label);
  let url: URL;
  try {
    url = new URL(`${origin}${rest.startsWith("/") ? rest : `/${rest}`}`);
  } catch {
    return undefined;
  }
  if (url.origin !== origin || url.username || url.password) return undefined;
  return { kind: "sandbox", label, url: url.href };
}

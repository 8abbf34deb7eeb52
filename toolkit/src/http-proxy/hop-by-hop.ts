import type { IncomingHttpHeaders } from "node:http";

/**
 * Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1):
 * these, and any header the Connection header names.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The header names a Connection header lists, lower-case. */
function namedByConnection(connection: string | string[] | undefined): Set<string> {
  const named = new Set<string>();
  for (const value of Array.isArray(connection) ? connection : [connection ?? ""])
    for (const name of value.split(",")) {
      const trimmed = name.trim().toLowerCase();
      // Host names the origin, not the hop: a client cannot have it dropped.
      if (trimmed && trimmed !== "host") named.add(trimmed);
    }
  return named;
}

/**
 * `headers` without the hop-by-hop ones. With `upgrade`, the hop that asks
 * for (or grants) a protocol switch keeps `Connection: Upgrade` and its
 * `Upgrade` header, since that switch is what is being forwarded.
 */
export function withoutHopByHop(
  headers: IncomingHttpHeaders,
  options: { upgrade?: boolean } = {},
): IncomingHttpHeaders {
  const named = namedByConnection(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  if (options.upgrade && headers.upgrade !== undefined) {
    out.connection = "Upgrade";
    out.upgrade = headers.upgrade;
  }
  return out;
}

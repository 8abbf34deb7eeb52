import type { IngressGatewayHooks, IngressHeaderPatch } from "@earendil-works/gondolin";
import type { DesiredSandbox } from "@turgon/api/agent";

/**
 * A request path as a guest app may resolve it: backslashes as slashes,
 * empty and `.` segments dropped, `..` applied, lower case (many servers
 * route case-insensitively). A trailing slash is kept, as it marks a
 * directory. Percent-decoding is the caller's choice (see `pathForms`).
 */
export function canonicalPath(path: string): string {
  const segments: string[] = [];
  const parts = path.replaceAll("\\", "/").split("/");
  for (const segment of parts) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const last = parts.at(-1);
  const trailing = segments.length > 0 && (last === "" || last === "." || last === "..");
  return `/${segments.join("/")}${trailing ? "/" : ""}`.toLowerCase();
}

function decoded(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

/** The path of a request target: origin form as sent, absolute form parsed; no query. */
function targetPath(target: string): string | undefined {
  if (target.startsWith("/")) return target.replace(/[?#].*$/s, "");
  try {
    return new URL(target).pathname;
  } catch {
    return undefined;
  }
}

/**
 * Every form of a request target's path that a guest app might act on, in
 * canonical form: as sent (an app that routes before decoding), decoded once
 * (`%61` → `a`, `%2f` → `/`: most apps) and decoded twice (an app or proxy
 * that decodes again). Undefined when the path cannot be decoded at all
 * (a bad `%` escape, invalid UTF-8 such as an overlong `%c0%af`, a NUL):
 * such a request has no single meaning and is refused.
 */
export function pathForms(target: string): string[] | undefined {
  const raw = targetPath(target);
  if (raw === undefined) return undefined;
  const once = decoded(raw);
  if (once === undefined || once.includes("\0")) return undefined;
  const forms = new Set([canonicalPath(raw), canonicalPath(once)]);
  const twice = decoded(once);
  // A second decoding that fails only means the decoded path holds a literal '%'.
  if (twice !== undefined && !twice.includes("\0")) forms.add(canonicalPath(twice));
  return [...forms];
}

function underPrefix(path: string, prefix: string): boolean {
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Whether `deniedPathPrefixes` refuse a request target. Prefixes match whole
 * path segments, case-insensitively, against every form of the path a guest
 * app might see, so `/%61dmin`, `/ADMIN`, `/admin%2fx`, `//admin` and
 * `/x/../admin` are all `/admin`. With prefixes set, a target that cannot be
 * decoded is refused too.
 */
export function isPathDenied(target: string, deniedPrefixes: readonly string[]): boolean {
  if (deniedPrefixes.length === 0) return false;
  const forms = pathForms(target);
  if (forms === undefined) return true;
  const prefixes = deniedPrefixes.map((prefix) => canonicalPath(decoded(prefix) ?? prefix));
  return forms.some((path) => prefixes.some((prefix) => underPrefix(path, prefix)));
}

/** Whether the sandbox's ingress hooks refuse this request target (the path as the client sent it). */
export function refusedByHooks(desired: DesiredSandbox, target: string): boolean {
  return isPathDenied(target, desired.ingress.hooks?.deniedPathPrefixes ?? []);
}

/**
 * The sandbox spec's declarative ingress hooks as Gondolin gateway hooks.
 * They read the current desired state on every request, so editing them
 * needs no reboot. Gondolin hands `isAllowed` the path after its own URL
 * parsing; the agent's ingress port also checks the target as sent
 * (`refusedByHooks`), before that parsing can hide a segment (`//admin`
 * parses as the host "admin").
 */
export function ingressHooks(current: () => DesiredSandbox): IngressGatewayHooks {
  return {
    isAllowed: (info) => !refusedByHooks(current(), info.path),
    onRequest: () => {
      const hooks = current().ingress.hooks;
      if (!hooks?.setHeaders && !hooks?.removeHeaders) return undefined;
      const headers: IngressHeaderPatch = { ...(hooks.setHeaders ?? {}) };
      for (const name of hooks.removeHeaders ?? []) headers[name.toLowerCase()] = null;
      return { headers };
    },
  };
}

import { SSH_USERS_KEY, SSH_USERS_SECRET } from "@turgon/api/routing";
import { configMapRef, EDGE_CONFIG } from "@turgon/api/routing/edge";
import { z } from "zod";
import { parseTrustedProxies } from "./http/forwarded-for.ts";

/** The environment is missing or malformed; the message names each variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** namespace/name, as the router's --token-secret takes it. */
const secretRef = z
  .string()
  .regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/, "must be namespace/name of a Secret");

/** An http(s) origin: the router serves exec at a fixed path on it, so no path, query or credentials. */
const routerUrl = z
  .url({ protocol: /^https?$/, error: "must be the router's http(s) URL" })
  .refine((value) => {
    const url = new URL(value);
    return (
      (url.pathname === "/" || url.pathname === "") &&
      !url.search &&
      !url.hash &&
      !url.username &&
      !url.password
    );
  }, "must be an origin such as https://sandboxes.example.com, without a path or query");

const Environment = z.object({
  DATABASE_URL: z.url({
    protocol: /^postgres(ql)?$/,
    error: "must be a postgresql:// URL",
  }),
  BETTER_AUTH_SECRET: z
    .string()
    .min(32, "must be at least 32 characters (for example `openssl rand -hex 32`)"),
  /** The dashboard's own public URL: cookies, redirects and trusted origins follow it. */
  BETTER_AUTH_URL: z.url({ protocol: /^https?$/, error: "must be the dashboard's http(s) URL" }),
  /**
   * The router's public URL on its own host (not a sandbox's host under the
   * ingress domain): browsers open the terminal's exec WebSocket there.
   */
  TURGON_ROUTER_URL: routerUrl.default("http://localhost:18080"),
  /** The dashboard's Kubernetes credentials; in-cluster when unset. */
  KUBECONFIG: z.string().min(1).optional(),
  /**
   * The Secret whose `current` (and `previous`) keys sign ingress tokens; the
   * router reads the same one (its --token-secret), so tokens minted here
   * pass there.
   */
  TURGON_INGRESS_TOKEN_SECRET: secretRef.default("turgon-system/turgon-ingress-keys"),
  /**
   * namespace/name of the edge ConfigMap, as the operator's and the
   * router's --edge-config: where the router serves routed URLs
   * (`<scheme>://<label>.<domain>[:port]`), followed live. The sign-in
   * hand-off sends users only to URLs of exactly this form; nothing about
   * it is taken from the request.
   */
  TURGON_EDGE_CONFIG: configMapRef.default(EDGE_CONFIG),
  /**
   * The Secret the router's SSH gateway follows (its --ssh-users-secret);
   * the dashboard keeps one data key of it, TURGON_SSH_USERS_KEY, and
   * leaves the other writers' keys alone.
   */
  TURGON_SSH_USERS_SECRET: secretRef.default(`turgon-system/${SSH_USERS_SECRET}`),
  /**
   * The data key the dashboard writes. One per dashboard: several
   * dashboards sharing a cluster (tests, staging) must not overwrite each
   * other's lists. The router reads every `*.json` key.
   */
  TURGON_SSH_USERS_KEY: z
    .string()
    .regex(/^[-._a-zA-Z0-9]+\.json$/, "must be a Secret data key ending in .json")
    .default(SSH_USERS_KEY),
  /**
   * Redis, where the audit worker announces committed rows
   * (AUDIT_COMMITTED_CHANNEL): each dashboard process subscribes once and
   * wakes its live tails. Unset: live tails poll the database every few
   * seconds instead.
   */
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" })
    .optional(),
  /**
   * Proxies in front of the dashboard whose X-Forwarded-For is believed
   * (comma-separated addresses or CIDRs); from anyone else the header is
   * replaced by the peer's address (server/http/forwarded-for.ts).
   */
  TURGON_TRUSTED_PROXIES: z
    .string()
    .default("")
    .transform((value, ctx) => {
      try {
        return parseTrustedProxies(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Sign-in attempts allowed per client address in 10 s. */
  TURGON_SIGN_IN_LIMIT: z.coerce
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(10_000, "must be at most 10000")
    .default(3),
  TURGON_LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info"),
});
export type ServerConfig = z.infer<typeof Environment>;

/**
 * Variables the dashboard once read for the edge's facts: refused, so a
 * deployment that still sets them learns where the facts come from instead
 * of having them silently ignored.
 */
const RETIRED = ["TURGON_INGRESS_DOMAIN", "TURGON_INGRESS_SCHEME", "TURGON_INGRESS_PORT"];

/** Reads and checks the dashboard's environment; throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  // An empty variable means unset, as in the other Turgon daemons.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ""));
  const parsed = Environment.safeParse(present);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map(
        (issue) =>
          `${String(issue.path[0])}: ${issue.code === "invalid_type" && present[String(issue.path[0])] === undefined ? "is not set" : issue.message}`,
      );
  for (const name of RETIRED.filter((n) => present[n] !== undefined))
    problems.push(
      `${name}: is no longer read: the edge's domain, scheme and port come from the edge ConfigMap (TURGON_EDGE_CONFIG, default ${EDGE_CONFIG}); unset it`,
    );
  if (!parsed.success || problems.length > 0)
    throw new ConfigError(`invalid dashboard configuration:\n  ${problems.join("\n  ")}`);
  return parsed.data;
}

let cached: ServerConfig | undefined;

/** The configuration, checked once (at start-up, from instrumentation.ts). */
export function serverConfig(): ServerConfig {
  cached ??= loadConfig();
  return cached;
}

import { z } from "zod";

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
  TURGON_LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info"),
});
export type ServerConfig = z.infer<typeof Environment>;

/** Reads and checks the dashboard's environment; throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  // An empty variable means unset, as in the other Turgon daemons.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ""));
  const parsed = Environment.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) =>
        `${String(issue.path[0])}: ${issue.code === "invalid_type" && present[String(issue.path[0])] === undefined ? "is not set" : issue.message}`,
    );
    throw new ConfigError(`invalid dashboard configuration:\n  ${problems.join("\n  ")}`);
  }
  return parsed.data;
}

let cached: ServerConfig | undefined;

/** The configuration, checked once (at start-up, from instrumentation.ts). */
export function serverConfig(): ServerConfig {
  cached ??= loadConfig();
  return cached;
}

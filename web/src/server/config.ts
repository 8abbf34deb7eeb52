import { z } from "zod";

/** The environment is missing or malformed; the message names each variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** namespace/name, as the router's --token-secret takes it. */
const secretRef = z
  .string()
  .regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/, "must be namespace/name of a Secret");

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

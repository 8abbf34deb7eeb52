/**
 * The contract of routed ingress: how a sandbox's host name is formed, and
 * the token the dashboard mints and the router verifies for private and
 * authenticated sandboxes.
 */
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { z } from "zod";

/** The cookie that carries an ingress token, set on the sandbox's own host only (plain HTTP). */
export const INGRESS_COOKIE = "turgon_ingress";
/**
 * The same cookie where TLS is in front of the router: the `__Host-` prefix
 * makes browsers refuse it unless it is Secure, host-only and `Path=/`, so
 * no other host under the ingress domain (nor plain HTTP) can plant or
 * shadow it.
 */
export const INGRESS_COOKIE_SECURE = "__Host-turgon_ingress";
/** The query parameter the sign-in flow returns a token in; the router turns it into the cookie. */
export const INGRESS_TOKEN_PARAM = "turgon_token";
/**
 * The label on a Namespace naming the team that holds it (a team's slug, a
 * DNS label), set when an admin binds the namespace to a team in the
 * dashboard. A sandbox belongs to its namespace's team: a label on the
 * sandbox itself means nothing, since its author must not choose who may
 * open it beyond its `access`. An unlabelled namespace's team is its name.
 */
export const TEAM_LABEL = "turgon.dev/team";

/**
 * The team a namespace belongs to: its TEAM_LABEL, else its name. The
 * router, the SSH gateway and the dashboard all decide with this one rule.
 */
export function namespaceTeam(
  name: string,
  namespace?: { metadata?: { labels?: Record<string, string> } },
): string {
  return namespace?.metadata?.labels?.[TEAM_LABEL] || name;
}

const MAX_LABEL = 63;
/** 20 hex digits: 80 bits, so that finding two sandboxes with one short form is out of reach. */
const HASH_LENGTH = 20;

/** The domain routed URLs live under, as the operator writes them and the router serves them. */
export const ingressDomain = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    "must be a DNS domain such as sandboxes.example.com",
  );

/**
 * The DNS label of a sandbox's routed host: `<name>--<namespace>`, or, when
 * that does not fit in 63 characters, a stable short form: its first
 * characters and 80 bits of a hash of the whole.
 *
 * The short form has no `--` (runs of dashes in its prefix are folded to
 * one), while every full form has one, so a short form can never be
 * crafted to equal another sandbox's full form (e.g. a namespace named
 * `<prefix>-<hash>`). Full forms are ambiguous only when a name contains
 * `--`, which the CRD refuses; the router still refuses any label that two
 * sandboxes claim.
 */
export function sandboxHostLabel(name: string, namespace: string): string {
  const full = `${name}--${namespace}`;
  if (full.length <= MAX_LABEL) return full;
  const hash = createHash("sha256")
    .update(`${namespace}/${name}`)
    .digest("hex")
    .slice(0, HASH_LENGTH);
  const prefix = full
    .slice(0, MAX_LABEL - HASH_LENGTH - 1)
    .replace(/-+/g, "-")
    .replace(/-+$/, "");
  return `${prefix}-${hash}`;
}

/** The label a request's Host names under the ingress domain, or undefined when it is not ours. */
export function hostLabel(hostHeader: string | undefined, domain: string): string | undefined {
  if (!hostHeader) return undefined;
  const host = hostHeader.toLowerCase().replace(/:\d+$/, "");
  const suffix = `.${domain.toLowerCase()}`;
  if (!host.endsWith(suffix)) return undefined;
  const label = host.slice(0, -suffix.length);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(label) ? label : undefined;
}

/**
 * What an ingress token is for. A `handoff` token is what the dashboard
 * puts in the URL after sign-in: it lives a minute at most and the router
 * takes it once. The router then sets a cookie with a `session` token it
 * mints itself. Neither kind is accepted where the other belongs, so a
 * leaked hand-off token cannot be planted as a cookie to dodge the
 * single-use check, and a cookie cannot be replayed through a URL.
 */
export const IngressTokenUse = z.enum(["handoff", "session"]);
export type IngressTokenUse = z.infer<typeof IngressTokenUse>;

/** The longest a hand-off token may live: it crosses in a URL, so it must be worthless soon. */
export const HANDOFF_TOKEN_MAX_TTL_SECONDS = 60;

/** Claims of an ingress token (JWT, HS256): who, which teams, for which sandbox host. */
export const IngressTokenClaims = z.object({
  /** The user's id in the dashboard. */
  sub: z.string().min(1),
  /** The sandbox host label the token is good for. */
  aud: z.string().min(1),
  teams: z.array(z.string()).default([]),
  admin: z.boolean().default(false),
  use: IngressTokenUse,
  exp: z.number().int(),
  /** Unique id; hand-off tokens carry one so the router can take each once. */
  jti: z.string().min(1).max(128).optional(),
});
export type IngressTokenClaims = z.infer<typeof IngressTokenClaims>;

/** Ingress tokens are HMAC-signed with a key shared by the dashboard and the router. */
export const INGRESS_TOKEN_ALGORITHM = "HS256";

/** Who a token speaks for: the part of the claims the dashboard decides. */
export interface IngressPrincipal {
  sub: string;
  aud: string;
  teams?: string[];
  admin?: boolean;
}

function signIngressToken(
  key: Uint8Array,
  claims: IngressPrincipal,
  use: IngressTokenUse,
  ttlSeconds: number,
  jti?: string,
): Promise<string> {
  const jwt = new SignJWT({ teams: claims.teams ?? [], admin: claims.admin ?? false, use })
    .setProtectedHeader({ alg: INGRESS_TOKEN_ALGORITHM })
    .setSubject(claims.sub)
    .setAudience(claims.aud)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (jti) jwt.setJti(jti);
  return jwt.sign(key);
}

/** Mints the router's session token, the one its cookie carries (and tests mint directly). */
export function mintIngressToken(
  key: Uint8Array,
  claims: IngressPrincipal,
  ttlSeconds = 3600,
): Promise<string> {
  return signIngressToken(key, claims, "session", ttlSeconds);
}

/**
 * Mints a hand-off token: what the dashboard appends as `turgon_token` when
 * it sends a signed-in user to a sandbox. Single-use (a fresh `jti`) and
 * short-lived.
 */
export function mintHandoffToken(
  key: Uint8Array,
  claims: IngressPrincipal,
  ttlSeconds = HANDOFF_TOKEN_MAX_TTL_SECONDS,
): Promise<string> {
  if (!(ttlSeconds > 0 && ttlSeconds <= HANDOFF_TOKEN_MAX_TTL_SECONDS))
    throw new RangeError(
      `a hand-off token lives at most ${HANDOFF_TOKEN_MAX_TTL_SECONDS} s, not ${ttlSeconds}`,
    );
  return signIngressToken(key, claims, "handoff", ttlSeconds, randomUUID());
}

/** The audience of exec tokens, so an ingress token can never open a shell. */
export const EXEC_TOKEN_AUDIENCE = "turgon-exec";
/** The router's exec WebSocket path (on its own host, not under a sandbox's). */
export const EXEC_PATH = "/v1/exec";

/** Claims of a short-lived exec token: who may run what in which sandbox, until when. */
export const ExecTokenClaims = z.object({
  sub: z.string().min(1),
  aud: z.literal(EXEC_TOKEN_AUDIENCE),
  namespace: z.string().min(1),
  sandbox: z.string().min(1),
  /** Absent: an interactive login shell. */
  command: z.array(z.string()).min(1).optional(),
  tty: z.boolean().default(true),
  exp: z.number().int(),
  /** The token's unique id: the router accepts each exec token once. */
  jti: z.string().min(1).max(128),
});
export type ExecTokenClaims = z.infer<typeof ExecTokenClaims>;

/** Mints an exec token (the dashboard's tRPC does, for a terminal; tests do); each is good for one session. */
export async function mintExecToken(
  key: Uint8Array,
  claims: { sub: string; namespace: string; sandbox: string; command?: string[]; tty?: boolean },
  ttlSeconds = 60,
): Promise<string> {
  return new SignJWT({
    namespace: claims.namespace,
    sandbox: claims.sandbox,
    tty: claims.tty ?? true,
    ...(claims.command ? { command: claims.command } : {}),
  })
    .setProtectedHeader({ alg: INGRESS_TOKEN_ALGORITHM })
    .setSubject(claims.sub)
    .setAudience(EXEC_TOKEN_AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key);
}

/**
 * The Secret (in turgon-system) that lists who may use the router's SSH
 * gateway: each data key ending in `.json` holds an SshUsersFile, and the
 * router admits their union. The dashboard keeps SSH_USERS_KEY.
 */
export const SSH_USERS_SECRET = "turgon-ssh-users";
export const SSH_USERS_KEY = "users.json";

/** The users allowed in over SSH and their public keys. */
export const SshUsersFile = z.array(
  z.strictObject({
    user: z.string().min(1),
    admin: z.boolean().default(false),
    teams: z.array(z.string()).default([]),
    keys: z
      .array(
        z
          .string()
          .regex(
            /^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/,
            "must be an OpenSSH public key line",
          ),
      )
      .min(1),
  }),
);
export type SshUsersFile = z.infer<typeof SshUsersFile>;

import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import {
  EXEC_TOKEN_AUDIENCE,
  ExecTokenClaims,
  INGRESS_TOKEN_ALGORITHM,
  type IngressPrincipal,
  IngressTokenClaims,
  type IngressTokenUse,
  mintIngressToken,
} from "@turgon/api/routing";
import { errors, jwtVerify } from "jose";
import type { z } from "zod";
import type { Logger } from "../logger.ts";

/** Why a token was not accepted: missing, expired, bad (signature, audience, claims), or used before. */
export type TokenProblem = "missing" | "expired" | "invalid" | "replayed";

export class TokenError extends Error {
  readonly problem: TokenProblem;
  constructor(problem: TokenProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}

/**
 * The keys ingress tokens are signed with, read from a Secret (`current`,
 * and `previous` during a rotation) and re-read every 30 s, so a rotation
 * needs no router restart.
 */
export class TokenKeys {
  private keys: Uint8Array[] = [];
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;

  constructor(kc: KubeConfig, secret: string, log: Logger) {
    this.api = kc.makeApiClient(CoreV1Api);
    [this.namespace, this.name] = secret.split("/") as [string, string];
    this.log = log.child({ component: "token-keys" });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(
      () =>
        void this.refresh().catch((error) =>
          this.log.warn({ err: error }, "could not re-read the token keys"),
        ),
      30_000,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const secret = await this.api.readNamespacedSecret({
      name: this.name,
      namespace: this.namespace,
    });
    const keys = ["current", "previous"]
      .map((k) => secret.data?.[k])
      .filter((v): v is string => v !== undefined)
      .map((v) => new Uint8Array(Buffer.from(v, "base64")));
    if (keys.length === 0)
      throw new Error(`Secret ${this.namespace}/${this.name} has no "current" key`);
    this.keys = keys;
  }

  /** Verifies an ingress token of one use for one sandbox host; throws TokenError saying why not. */
  async verify(
    token: string | undefined,
    audience: string,
    use: IngressTokenUse,
  ): Promise<IngressTokenClaims> {
    const claims = await this.verifyAs(token, audience, IngressTokenClaims);
    if (claims.use !== use)
      throw new TokenError("invalid", `a ${claims.use} token is not accepted as a ${use} token`);
    if (use === "handoff" && !claims.jti)
      throw new TokenError("invalid", "a hand-off token must carry a jti");
    return claims;
  }

  /** Mints the session token the router's cookie carries, with the current key. */
  mintSession(principal: IngressPrincipal, ttlSeconds: number): Promise<string> {
    const key = this.keys[0];
    if (!key) throw new Error("no token keys loaded");
    return mintIngressToken(key, principal, ttlSeconds);
  }

  /** Verifies an exec token; throws TokenError saying why not. */
  verifyExec(token: string | undefined): Promise<ExecTokenClaims> {
    return this.verifyAs(token, EXEC_TOKEN_AUDIENCE, ExecTokenClaims);
  }

  private async verifyAs<T>(
    token: string | undefined,
    audience: string,
    schema: z.ZodType<T>,
  ): Promise<T> {
    if (!token) throw new TokenError("missing", "no token");
    let lastError: unknown;
    for (const key of this.keys) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [INGRESS_TOKEN_ALGORITHM],
          audience,
        });
        const claims = schema.safeParse(payload);
        if (!claims.success) throw new TokenError("invalid", "the token's claims are malformed");
        return claims.data;
      } catch (error) {
        if (error instanceof TokenError) throw error;
        if (error instanceof errors.JWTExpired)
          throw new TokenError("expired", "the token has expired");
        lastError = error;
      }
    }
    throw new TokenError(
      "invalid",
      `the token is not valid here (${(lastError as Error)?.message ?? "no keys"})`,
    );
  }
}

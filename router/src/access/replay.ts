import type { Redis } from "ioredis";

/** The single-use check could not be made (Redis unreachable): the token is refused, not trusted. */
export class ReplayCheckUnavailable extends Error {}

/** The kinds of single-use token; each has its own key prefix in Redis. */
export type SingleUseScope = "exec" | "handoff";
/** Kept past the token's expiry, so a Redis clock ahead of a router's cannot reopen the window. */
const CLOCK_SLACK_SECONDS = 60;

/**
 * Each exec token opens one session, and each hand-off token sets one
 * cookie: the first use of its `jti` claims it in Redis (`SET NX`,
 * expiring at the token's `exp`), every later use is a replay.
 *
 * Redis rather than memory: the router runs as several replicas, and a
 * per-process store would let a token be replayed once on every replica;
 * the router needs this Redis already (session records), `SET NX` is
 * atomic across replicas, and Redis expires the entries itself, so memory
 * stays bounded by the tokens minted within one lifetime. When Redis cannot
 * answer, exec is refused (fail closed): an unrecorded shell (or a second
 * browser let in) that a stolen token could reopen is worse than a retry.
 */
export class SingleUseGuard {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(redis: Redis, scope: SingleUseScope, timeoutMs = 3000) {
    this.redis = redis;
    this.prefix = `turgon:router:${scope}-jti:`;
    this.timeoutMs = timeoutMs;
  }

  /** True for the first use of `jti`, false for a replay; throws ReplayCheckUnavailable. */
  async claim(jti: string, exp: number): Promise<boolean> {
    const answer = await this.ask(() =>
      this.redis.set(`${this.prefix}${jti}`, "1", "EXAT", exp + CLOCK_SLACK_SECONDS, "NX"),
    );
    return answer === "OK";
  }

  /**
   * Whether `jti` was claimed already, without claiming it: a spent token is
   * refused as such before anything else is checked (only `claim` decides a
   * first use); throws ReplayCheckUnavailable.
   */
  async spent(jti: string): Promise<boolean> {
    return (await this.ask(() => this.redis.exists(`${this.prefix}${jti}`))) === 1;
  }

  /** One Redis command, bounded by the timeout; any failure is ReplayCheckUnavailable. */
  private async ask<T>(command: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ReplayCheckUnavailable(`Redis did not answer in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([command(), timeout]);
    } catch (error) {
      if (error instanceof ReplayCheckUnavailable) throw error;
      throw new ReplayCheckUnavailable(`Redis: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

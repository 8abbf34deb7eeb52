/**
 * Live tail wake-ups. The audit worker PUBLISHes AuditCommitted on Redis
 * after each commit; each dashboard process subscribes once and wakes its
 * live tails, which then read `seq > cursor` with their own filters (so
 * replicas fan out through Redis, and Redis carries no rows, only "look").
 * Whenever the subscription takes hold (the first connection and every
 * reconnect) every tail is woken, since announcements may have been
 * missed before it; a slow safety poll covers the rest.
 */
import { AUDIT_COMMITTED_CHANNEL, AuditCommitted } from "@turgon/api/audit";
import { Redis } from "ioredis";
import { serverConfig } from "../config.ts";
import { componentLogger, type Logger } from "../logger.ts";

/** How often a tail looks anyway: rarely with Redis, every few seconds without. */
const SAFETY_POLL_MS = 30_000;
const POLL_WITHOUT_REDIS_MS = 3_000;

export interface Wakeups {
  /** Resolves at the next wake-up since the last call (at once if one came meanwhile), the timeout, or abort. */
  next(signal: AbortSignal | undefined, timeoutMs: number): Promise<void>;
  close(): void;
}

/** Fans one process's Redis subscription out to its tails. */
export class CommitSignal {
  private readonly listeners = new Set<() => void>();

  /** Registers a tail; call this before its first read so no commit falls between. */
  wakeups(): Wakeups {
    let pending = false;
    let wake: (() => void) | undefined;
    const listener = () => {
      pending = true;
      wake?.();
    };
    this.listeners.add(listener);
    return {
      next: async (signal, timeoutMs) => {
        if (!pending && !signal?.aborted) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, timeoutMs);
            function done() {
              clearTimeout(timer);
              signal?.removeEventListener("abort", done);
              wake = undefined;
              resolve();
            }
            wake = done;
            signal?.addEventListener("abort", done, { once: true });
          });
        }
        pending = false;
      },
      close: () => {
        this.listeners.delete(listener);
      },
    };
  }

  notify(): void {
    for (const listener of this.listeners) listener();
  }

  get size(): number {
    return this.listeners.size;
  }
}

/** The Redis subscriber of one process: parses announcements and wakes the signal. */
export function subscribeCommitted(
  redisUrl: string,
  signal: CommitSignal,
  log: Logger,
): () => void {
  const redis = new Redis(redisUrl, {
    // A subscriber waits out Redis outages; it never fails commands for it.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 500, 5_000),
    // Subscribed below on every connection, so that the wake-up follows the subscription.
    autoResubscribe: false,
  });
  let connectedBefore = false;
  redis.on("ready", () => {
    const reconnected = connectedBefore;
    connectedBefore = true;
    redis.subscribe(AUDIT_COMMITTED_CHANNEL).then(
      () => {
        // Whatever was announced before the subscription took hold went unheard: on the
        // first connection, a commit between a new tail's first read and here; after a
        // reconnect, anything during the outage. So every tail reads again now.
        if (reconnected) log.info("audit announcements: reconnected to Redis; waking live tails");
        signal.notify();
      },
      (error: Error) =>
        log.error({ err: error.message }, "audit announcements: could not subscribe"),
    );
  });
  redis.on("error", (error: Error) =>
    log.warn({ err: error.message }, "audit announcements: Redis error"),
  );
  redis.on("message", (channel: string, message: string) => {
    if (channel !== AUDIT_COMMITTED_CHANNEL) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      parsed = undefined;
    }
    if (!AuditCommitted.safeParse(parsed).success) {
      log.warn("audit announcements: ignored a message that is not AuditCommitted");
      return;
    }
    signal.notify();
  });
  return () => redis.disconnect();
}

export interface AuditLive {
  signal: CommitSignal;
  /** How long a tail waits without a wake-up before it looks anyway. */
  pollMs: number;
}

const globalForLive = globalThis as unknown as { turgonAuditLive?: AuditLive };

/** This process's live-tail signal; the Redis subscription starts with the first tail. */
export function auditLive(): AuditLive {
  if (globalForLive.turgonAuditLive) return globalForLive.turgonAuditLive;
  const log = componentLogger("audit-live");
  const signal = new CommitSignal();
  const redisUrl = serverConfig().REDIS_URL;
  if (redisUrl) {
    subscribeCommitted(redisUrl, signal, log);
    log.info("live tails follow the audit worker's announcements on Redis");
  } else {
    log.warn(
      `REDIS_URL is not set: live tails poll the database every ${POLL_WITHOUT_REDIS_MS} ms`,
    );
  }
  globalForLive.turgonAuditLive = {
    signal,
    pollMs: redisUrl ? SAFETY_POLL_MS : POLL_WITHOUT_REDIS_MS,
  };
  return globalForLive.turgonAuditLive;
}

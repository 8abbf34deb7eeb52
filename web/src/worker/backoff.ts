import { AUDIT_BACKOFF } from "@turgon/api/audit";
import type { BackoffStrategy } from "bullmq";

const BASE_MS = 500;

/**
 * The delay before attempt `attemptsMade + 1` of a batch that could not be
 * committed: 500 ms doubling per attempt, capped at `maxMs`, with "equal
 * jitter" (between half and all of it) so that the jobs failed together by
 * one outage do not all come back in the same instant.
 */
export function cappedBackoffMs(attemptsMade: number, maxMs: number, random = Math.random): number {
  const exponent = Math.min(Math.max(attemptsMade - 1, 0), 30);
  const ceiling = Math.min(maxMs, BASE_MS * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The worker's settings.backoffStrategy: ours for AUDIT_BACKOFF; anything else is retried at once. */
export function auditBackoffStrategy(maxMs: number): BackoffStrategy {
  return (attemptsMade, type) =>
    type === AUDIT_BACKOFF ? cappedBackoffMs(attemptsMade, maxMs) : 0;
}

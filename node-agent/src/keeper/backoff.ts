/**
 * How long the keeper waits before starting the agent again: 1 s after the
 * first exit, doubling to 30 s while the agent keeps failing soon after it
 * starts, and 1 s again once a run lasted a minute (a crash after a good
 * run is not a crash loop). Pure logic: the keeper measures the runs.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A run at least this long starts the schedule over. */
  resetAfterMs: number;
}

export const RESTART_BACKOFF: BackoffPolicy = {
  initialMs: 1_000,
  maxMs: 30_000,
  resetAfterMs: 60_000,
};

export class RestartBackoff {
  private readonly policy: BackoffPolicy;
  private nextMs: number;

  constructor(policy: BackoffPolicy = RESTART_BACKOFF) {
    this.policy = policy;
    this.nextMs = policy.initialMs;
  }

  /** The pause before the next start, given how long the run that just ended lasted. */
  delayAfter(ranMs: number): number {
    if (ranMs >= this.policy.resetAfterMs) this.nextMs = this.policy.initialMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.policy.maxMs);
    return delay;
  }
}

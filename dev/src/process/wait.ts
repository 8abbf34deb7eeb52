import { setTimeout as sleep } from "node:timers/promises";

export class WaitTimeoutError extends Error {}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Errors from `probe` for which waiting longer is pointless; they are rethrown at once. */
  isFatal?: (error: unknown) => boolean;
}

/**
 * Polls `probe` until it returns a value other than undefined, or the deadline
 * passes. `probe` may throw; the last error becomes the timeout's cause.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs, intervalMs = 200, isFatal }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (isFatal?.(error)) throw error;
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`, {
    cause: lastError,
  });
}

/**
 * The one way tests wait for what happens in the background (an informer,
 * a reconcile, a daemon's heartbeat): read until the condition holds,
 * bounded in time, and fail with what was last seen. The pause between
 * reads paces the polling; it never stands in for the condition.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** `eventually` gave up: the condition never held within the bound. */
export class NotWithinError extends Error {
  override name = "NotWithinError";
}

/**
 * Reads until `accept` holds and returns that value. A read that throws is
 * retried (the thing read may not exist yet); at the deadline the error
 * names `what`, the bound, the last value and the last error.
 */
export async function eventually<T>(
  what: string,
  read: () => T | Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  // The monotonic clock: Date.now() is whole milliseconds and can step with the wall clock.
  const deadline = performance.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (accept(last)) return last;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - performance.now())));
  }
  throw new NotWithinError(
    `${what}: not within ${timeoutMs} ms; last value ${JSON.stringify(last)}${lastError ? `; last error ${(lastError as Error).message}` : ""}`,
    { cause: lastError },
  );
}

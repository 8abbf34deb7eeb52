import type { Logger } from "../logger.ts";
import type { OperatorMetrics } from "../metrics/metrics.ts";
import type { WorkQueue } from "./workqueue.ts";

/** What a reconcile asks of the queue: nothing, or another look after a delay. */
export interface Result {
  requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<Result>;

/**
 * Runs `workers` loops that take keys from the queue and reconcile them.
 * A thrown error retries the key with per-key backoff; success forgets its
 * failures. Resolves once the queue shuts down and the loops have drained.
 */
export async function runWorkers(options: {
  name: string;
  queue: WorkQueue<string>;
  workers: number;
  reconcile: Reconcile;
  metrics: OperatorMetrics;
  log: Logger;
}): Promise<void> {
  const { name, queue, reconcile, metrics, log } = options;
  const loop = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        const result = await reconcile(key);
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        metrics.reconcileSeconds.observe(
          { controller: name, result: "success" },
          (performance.now() - started) / 1000,
        );
      } catch (error) {
        const delay = queue.addRateLimited(key);
        const errorName = (error as Error).constructor?.name ?? "Error";
        metrics.reconcileErrors.inc({ controller: name, error: errorName });
        metrics.reconcileSeconds.observe(
          { controller: name, result: "error" },
          (performance.now() - started) / 1000,
        );
        log.warn({ key, err: error, retryInMs: delay }, "reconcile failed; retrying");
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, loop));
}

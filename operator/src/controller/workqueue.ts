/**
 * A work queue with the semantics of client-go's: a key is queued at most
 * once; a key being processed is not handed to a second worker, and if it
 * is added meanwhile it is queued again when the first worker is done; failed
 * keys come back after a per-key exponential backoff.
 */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private readonly baseMs: number;
  private readonly maxMs: number;
  private shuttingDown = false;

  constructor({ baseMs = 5, maxMs = 1000_000 }: BackoffOptions = {}) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** The next key, waiting for one; undefined once the queue shuts down. */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key processed; it is queued again if it was added meanwhile. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Adds the key after its backoff: base × 2^failures, capped. */
  addRateLimited(key: K): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delay = Math.min(this.baseMs * 2 ** failures, this.maxMs);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, delay);
    timer.unref();
    this.timers.add(timer);
    return delay;
  }

  /** Adds the key after a delay: a reconcile's "look again at" time, not a failure. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Forgets a key's failures: the next failure starts from the base delay. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}

import { setTimeout as sleep } from "node:timers/promises";
import { AUDIT_JOB_OPTIONS, AUDIT_QUEUE, type AuditBatch } from "@turgon/api/audit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "../logger.ts";
import type { AuditSpool, Checkpoint } from "./spool.ts";

const BATCH = 500;

/**
 * More spools to ship besides the agent's own: one per sandbox supervisor,
 * each written by its supervisor process. `drained` is told when one has
 * nothing left to ship, so a spool whose supervisor is gone can be removed.
 */
export interface SpoolSource {
  spools(): Promise<AuditSpool[]>;
  drained(spool: AuditSpool): Promise<void>;
  /** Lines of these spools that Redis took (the agent counts them in its metrics). */
  shipped?(lines: string[]): void;
}

/**
 * Moves spooled audit events to Redis (a bullmq queue) in order, one job per
 * batch of spool lines, advancing the spool's checkpoint only after Redis
 * accepted the job. A batch sent again after a crash may repeat events; the
 * worker's insert is idempotent on the event id, so they land once.
 */
export class AuditShipper {
  private readonly spool: AuditSpool;
  private readonly log: Logger;
  private readonly redis: Redis;
  private readonly queue: Queue;
  private running = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  shipped = 0;

  private readonly node: string;
  private readonly more?: SpoolSource;

  constructor(
    spool: AuditSpool,
    redisUrl: string,
    node: string,
    log: Logger,
    options: { more?: SpoolSource } = {},
  ) {
    this.spool = spool;
    if (options.more) this.more = options.more;
    this.node = node;
    this.log = log.child({ component: "audit-shipper" });
    // Fail fast while Redis is away: the events wait on disk, not in memory.
    this.redis = new Redis(redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    });
    this.redis.on("error", () => {});
    this.queue = new Queue(AUDIT_QUEUE, { connection: this.redis });
    this.queue.on("error", () => {});
  }

  start(): void {
    this.running = true;
    this.spool.on("appended", this.poke);
    this.loop = this.run();
  }

  private readonly poke = () => this.wake?.();

  /** Every spool this shipper ships: the agent's own, then the supervisors'. */
  private async spools(): Promise<AuditSpool[]> {
    return [this.spool, ...((await this.more?.spools()) ?? [])];
  }

  /** Bytes spooled and not yet taken by Redis, over every spool (the audit backlog metric). */
  async backlogBytes(): Promise<number> {
    let bytes = 0;
    for (const spool of await this.spools()) bytes += await spool.backlogBytes();
    return bytes;
  }

  private async run(): Promise<void> {
    let backoffMs = 250;
    // Each spool's checkpoint, by directory (loaded from its file the first time).
    const checkpoints = new Map<string, Checkpoint>();
    while (this.running) {
      try {
        if (this.redis.status === "wait" || this.redis.status === "end") await this.redis.connect();
        let more = false;
        for (const spool of await this.spools()) {
          const checkpoint = checkpoints.get(spool.dir) ?? (await spool.loadCheckpoint());
          const { events, next } = await spool.read(checkpoint, BATCH);
          if (events.length > 0) {
            const batch: AuditBatch = { node: this.node, lines: events };
            await this.queue.add("batch", batch, AUDIT_JOB_OPTIONS);
            this.shipped += events.length;
            if (spool !== this.spool) this.more?.shipped?.(events);
          }
          if (next.segment !== checkpoint.segment || next.offset !== checkpoint.offset) {
            await spool.saveCheckpoint(next);
            await spool.release(next);
          }
          checkpoints.set(spool.dir, next);
          if (events.length >= BATCH) more = true;
          else if (events.length === 0 && spool !== this.spool && this.more) {
            await this.more.drained(spool);
            checkpoints.delete(spool.dir);
          }
        }
        backoffMs = 250;
        if (!more) await this.idle(1000);
      } catch (error) {
        this.log.warn(
          { err: (error as Error).message, retryInMs: backoffMs },
          "cannot ship audit events yet; they stay in the spool",
        );
        await this.idle(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ships what is left (bounded by `timeoutMs`), then disconnects. */
  async stop(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      let left = 0;
      for (const spool of await this.spools().catch(() => [this.spool])) {
        const { events } = await spool.read(await spool.loadCheckpoint(), 1).catch(() => ({
          events: [],
        }));
        left += events.length;
      }
      if (left === 0) break;
      this.wake?.();
      await sleep(100);
    }
    this.running = false;
    this.wake?.();
    this.spool.off("appended", this.poke);
    await this.loop;
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
  }
}

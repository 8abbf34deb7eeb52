import { setTimeout as sleep } from "node:timers/promises";
import { AUDIT_JOB_OPTIONS, AUDIT_QUEUE, type AuditBatch } from "@turgon/api/audit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "../logger.ts";
import type { AuditSpool } from "./spool.ts";

const BATCH = 500;

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

  constructor(spool: AuditSpool, redisUrl: string, node: string, log: Logger) {
    this.spool = spool;
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

  private async run(): Promise<void> {
    let backoffMs = 250;
    let checkpoint = await this.spool.loadCheckpoint();
    while (this.running) {
      try {
        if (this.redis.status === "wait" || this.redis.status === "end") await this.redis.connect();
        const { events, next } = await this.spool.read(checkpoint, BATCH);
        if (events.length > 0) {
          const batch: AuditBatch = { node: this.node, lines: events };
          await this.queue.add("batch", batch, AUDIT_JOB_OPTIONS);
          this.shipped += events.length;
        }
        if (next.segment !== checkpoint.segment || next.offset !== checkpoint.offset) {
          checkpoint = next;
          await this.spool.saveCheckpoint(checkpoint);
          await this.spool.release(checkpoint);
        }
        backoffMs = 250;
        if (events.length < BATCH) await this.idle(1000);
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
      const checkpoint = await this.spool.loadCheckpoint();
      const { events } = await this.spool.read(checkpoint, 1);
      if (events.length === 0) break;
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

/**
 * The audit worker: bullmq Workers on the egress and exec audit queues
 * writing to Postgres, the commit announcements on Redis pub/sub, and the
 * retention sweep. A job is acknowledged (returns) only after its rows are
 * committed; a Postgres or transient failure throws, and bullmq retries it
 * with the capped backoff until it commits.
 */
import {
  AUDIT_COMMITTED_CHANNEL,
  AUDIT_QUEUE,
  type AuditCommitted,
  EXEC_AUDIT_QUEUE,
} from "@turgon/api/audit";
import { type Job, Worker } from "bullmq";
import { Redis } from "ioredis";
import { auditBackoffStrategy } from "./backoff.ts";
import type { WorkerConfig } from "./config.ts";
import { parseBatch, parseBatchLines, splitByTime, toRow } from "./egress-ingest.ts";
import { parseExecJob } from "./exec-ingest.ts";
import type { Logger } from "./logger.ts";
import { sweepPartitions } from "./partitions.ts";
import { AuditStore, createPool } from "./store.ts";
import type { TeamDirectory } from "./teams.ts";

export interface EgressJobResult {
  inserted: number;
  deadLettered: number;
  /** Events older than retention: not stored (their partition is, or is about to be, dropped). */
  expired: number;
}

export interface AuditWorker {
  /** True once both queues are consumed. */
  readonly running: boolean;
  /** Finishes the jobs in hand, then closes everything. */
  stop(): Promise<void>;
}

type Settings = Pick<
  WorkerConfig,
  | "retention-days"
  | "retention-interval-seconds"
  | "concurrency"
  | "lock-duration-ms"
  | "stalled-interval-ms"
  | "max-stalled-count"
  | "backoff-max-ms"
>;

export async function startAuditWorker(options: {
  databaseUrl: string;
  redisUrl: string;
  settings: Settings;
  teams: TeamDirectory;
  log: Logger;
}): Promise<AuditWorker> {
  const { settings, teams, log } = options;
  const pool = createPool(options.databaseUrl, settings.concurrency + 2, (error) =>
    log.warn({ err: error.message }, "a PostgreSQL connection failed; it is replaced on next use"),
  );
  const store = new AuditStore(pool);
  const publisher = createPublisher(options.redisUrl, log);

  // Retention first, so today's partitions exist before the first batch.
  const sweep = async () => {
    try {
      await sweepPartitions(pool, { retentionDays: settings["retention-days"], log });
    } catch (error) {
      log.warn({ err: (error as Error).message }, "retention sweep failed; retried next interval");
    } finally {
      store.forgetPartitions();
    }
  };
  await sweep();
  const sweeper = setInterval(() => void sweep(), settings["retention-interval-seconds"] * 1000);
  sweeper.unref();

  const processEgress = async (job: Job): Promise<EgressJobResult> => {
    const batch = parseBatch(job.data);
    if (!batch.ok) {
      await store.commitDeadLetters(AUDIT_QUEUE, job.id, [batch.letter]);
      log.warn({ jobId: job.id, reason: batch.letter.reason }, "job dead-lettered whole");
      return { inserted: 0, deadLettered: 1, expired: 0 };
    }
    const parsed = parseBatchLines(batch.batch.lines);
    const { kept, expired, future } = splitByTime(
      parsed.events,
      new Date(),
      settings["retention-days"],
    );
    const deadLetters = [...parsed.deadLetters, ...future];
    const rows = kept.map((event) => toRow(event, teams.teamOf(event.sandbox.namespace)));
    const commit = await store.commitEgress({
      queue: AUDIT_QUEUE,
      jobId: job.id,
      rows,
      deadLetters,
    });
    if (commit.lastSeq !== null) await publisher.committed(commit.lastSeq);
    if (deadLetters.length > 0 || expired > 0)
      log.warn(
        {
          jobId: job.id,
          node: batch.batch.node,
          deadLettered: deadLetters.length,
          expired,
          reasons: [...new Set(deadLetters.map((d) => d.reason))].slice(0, 3),
        },
        "batch committed with lines not stored",
      );
    if (!teams.synced && rows.length > 0)
      log.debug({ jobId: job.id }, "namespaces not listed yet: rows stored with team null");
    return { inserted: commit.inserted, deadLettered: deadLetters.length, expired };
  };

  const processExec = async (job: Job): Promise<{ inserted: boolean }> => {
    const parsed = parseExecJob(job.name, job.data, (ns) => teams.teamOf(ns));
    if (!parsed.ok) {
      await store.commitDeadLetters(EXEC_AUDIT_QUEUE, job.id, [parsed.letter]);
      log.warn({ jobId: job.id, reason: parsed.letter.reason }, "exec record dead-lettered");
      return { inserted: false };
    }
    return { inserted: await store.commitExecSession(parsed.row) };
  };

  // One connection per Worker (bullmq duplicates it for its blocking reads); retried forever while Redis is away.
  const connections: Redis[] = [];
  const connection = () => {
    const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    redis.on("error", () => {
      // The Worker reports it ("error" below); ioredis reconnects on its own.
    });
    connections.push(redis);
    return redis;
  };
  const common = {
    autorun: false,
    lockDuration: settings["lock-duration-ms"],
    stalledInterval: settings["stalled-interval-ms"],
    // A job whose worker was killed goes back to the queue, never to "failed".
    maxStalledCount: settings["max-stalled-count"],
    settings: { backoffStrategy: auditBackoffStrategy(settings["backoff-max-ms"]) },
  };
  const workers = [
    new Worker(AUDIT_QUEUE, processEgress, {
      ...common,
      connection: connection(),
      concurrency: settings.concurrency,
    }),
    new Worker(EXEC_AUDIT_QUEUE, processExec, {
      ...common,
      connection: connection(),
      concurrency: 2,
    }),
  ];
  for (const worker of workers) {
    worker.on("error", (error) =>
      log.warn({ queue: worker.name, err: error.message }, "queue connection error; reconnecting"),
    );
    worker.on("failed", (job, error) =>
      log.warn(
        { queue: worker.name, jobId: job?.id, attempts: job?.attemptsMade, err: error.message },
        "job not committed; it is retried with backoff",
      ),
    );
    void worker
      .run()
      .catch((error: unknown) =>
        log.error({ queue: worker.name, err: (error as Error).message }, "worker stopped running"),
      );
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  let running = true;
  log.info(
    { queues: [AUDIT_QUEUE, EXEC_AUDIT_QUEUE], concurrency: settings.concurrency },
    "consuming audit queues",
  );

  return {
    get running() {
      return running;
    },
    async stop() {
      running = false;
      clearInterval(sweeper);
      // close() waits for the jobs in hand: their commits finish and they are acknowledged.
      await Promise.allSettled(workers.map((worker) => worker.close()));
      for (const redis of connections) redis.disconnect();
      publisher.close();
      await pool.end().catch(() => {});
    },
  };
}

/** Announces commits on Redis pub/sub, best effort: a lost announcement never redoes a batch. */
function createPublisher(redisUrl: string, log: Logger) {
  const redis = new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
  });
  redis.on("error", () => {
    // Reconnects on its own; a failed publish is logged where it happens.
  });
  return {
    async committed(lastSeq: string): Promise<void> {
      const message: AuditCommitted = { lastSeq };
      try {
        await redis.publish(AUDIT_COMMITTED_CHANNEL, JSON.stringify(message));
      } catch (error) {
        log.debug({ err: (error as Error).message, lastSeq }, "commit announcement not sent");
      }
    },
    close(): void {
      redis.disconnect();
    },
  };
}

/**
 * Nothing lost, nothing doubled: while a synthetic agent (the real spool and
 * shipper) sends a known number of events, PostgreSQL is stopped for 20 s,
 * Redis is stopped for 20 s, the worker is SIGKILLed mid-batch, and two
 * workers run at once. After each, PostgreSQL holds every event exactly once.
 * This file runs its own PostgreSQL and Redis, so it can stop and start them.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AUDIT_QUEUE } from "@turgon/api/audit";
import { type ScratchRedis, startScratchRedis, uniqueName } from "@turgon/dev/testing";
import {
  type AuditWorkerProcess,
  FAST_RECOVERY_FLAGS,
  startAuditWorkerProcess,
} from "@turgon/dev/testing/audit-worker";
import { type ScratchPostgres, startScratchPostgres } from "@turgon/dev/testing/postgres";
import { Queue, QueueEvents } from "bullmq";
import pg from "pg";
import { EGRESS_COMMIT_LOCK } from "./store.ts";
import { SyntheticAgent } from "./synthetic-producer.ts";
import { type AuditDatabase, createAuditDatabase, eventually } from "./testing.ts";

const EVENTS = 2500;
/** The producer's pace: EVENTS take 20 s, so each fault happens while it sends. */
const PER_SECOND = 125;
const OUTAGE_MS = 20_000;

describe("delivery across failures", () => {
  let dir: string;
  let postgres: ScratchPostgres;
  let redis: ScratchRedis;
  let db: AuditDatabase;
  let worker: AuditWorkerProcess;
  let queue: Queue;
  let queueEvents: QueueEvents;
  const stalled: string[] = [];
  const retried: string[] = [];
  const finallyFailed: string[] = [];
  const startWorker = (name: string) =>
    startAuditWorkerProcess({
      databaseUrl: db.url,
      redisUrl: redis.url,
      flags: FAST_RECOVERY_FLAGS,
      logFile: join(dir, `${name}.log`),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-audit-faults-"));
    [postgres, redis] = await Promise.all([startScratchPostgres(), startScratchRedis()]);
    db = await createAuditDatabase(postgres.url);
    worker = await startWorker("worker-1");
    queue = new Queue(AUDIT_QUEUE, { connection: { url: redis.url } });
    // Redis goes away on purpose below; the clients reconnect on their own.
    queue.on("error", () => {});
    queueEvents = new QueueEvents(AUDIT_QUEUE, { connection: { url: redis.url } });
    queueEvents.on("error", () => {});
    queueEvents.on("stalled", ({ jobId }) => stalled.push(jobId));
    // A job that could not commit is delayed by the backoff and retried, never failed.
    queueEvents.on("delayed", ({ jobId }) => retried.push(jobId));
    queueEvents.on("failed", ({ jobId }) => finallyFailed.push(jobId));
    await queueEvents.waitUntilReady();
  });

  after(async () => {
    await queue?.close();
    await queueEvents?.close();
    await worker?.stop();
    await db?.close();
    await Promise.allSettled([postgres?.remove(), redis?.remove()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** Sends EVENTS from a fresh agent while `fault` runs; then every one must be stored once. */
  async function deliverThrough(fault: (agent: SyntheticAgent) => Promise<void>): Promise<void> {
    const node = uniqueName("node");
    const agent = await SyntheticAgent.start(join(dir, `spool-${node}`), redis.url, { node });
    try {
      await Promise.all([agent.produce(EVENTS, PER_SECOND), fault(agent)]);
    } finally {
      await agent.stop(60_000);
    }
    const counted = await eventually(
      `${EVENTS} events of ${node} in PostgreSQL`,
      () => db.egressCount(node),
      (c) => c.rows >= EVENTS,
      120_000,
      500,
    ).catch(async (error: Error) => {
      // Say where the missing ones are: still queued, dead-lettered, or nowhere.
      const jobs = await queue.getJobCounts();
      const letters = await db.query("SELECT reason FROM audit_dead_letter");
      const stored = new Set(
        (await db.query<{ id: string }>("SELECT id FROM egress_event WHERE node = $1", [node])).map(
          (r) => r.id,
        ),
      );
      const missing = agent.ids.filter((id) => !stored.has(id));
      throw new Error(
        `${error.message}\njobs: ${JSON.stringify(jobs)}\ndead letters: ${JSON.stringify(letters)}\nmissing: ${missing.slice(0, 5).join(", ")}\nworker log tail:\n${(await worker.log()).slice(-3000)}`,
      );
    });
    assert.deepEqual(counted, { rows: EVENTS, distinct: EVENTS }, "none lost, none doubled");
    assert.deepEqual(finallyFailed, [], "no job failed for good");
    const [found] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM egress_event WHERE id = ANY($1::uuid[])",
      [agent.ids],
    );
    assert.equal(found?.n, EVENTS, "exactly the events produced");
  }

  it("PostgreSQL stopped for 20 s and started again", async (t) => {
    await deliverThrough(async () => {
      await sleep(2000);
      await postgres.stop();
      await sleep(OUTAGE_MS);
      await postgres.start();
    });
    t.diagnostic(`${retried.length} attempts failed while PostgreSQL was down, then were retried`);
    assert.ok(retried.length > 0, "batches were retried with backoff");
  });

  it("Redis stopped for 20 s and started again, the agent spooling meanwhile", async () => {
    await deliverThrough(async (agent) => {
      await sleep(2000);
      await redis.stop();
      const shipped = agent.shipper.shipped;
      const produced = agent.produced;
      await sleep(OUTAGE_MS);
      assert.equal(agent.shipper.shipped, shipped, "nothing shipped while Redis is down");
      assert.ok(agent.produced > produced + 1000, "events kept coming into the spool");
      await redis.start();
    });
  });

  it("the worker SIGKILLed mid-batch and started again", async () => {
    await deliverThrough(async () => {
      await sleep(3000);
      // Hold the worker's commit lock, so that it is surely mid-batch (in its
      // transaction, the job active) when it is killed.
      const blocker = new pg.Client({ connectionString: db.url });
      await blocker.connect();
      try {
        await blocker.query("SELECT pg_advisory_lock($1)", [EGRESS_COMMIT_LOCK]);
        await eventually(
          "a batch in hand",
          () => queue.getActiveCount(),
          (n) => n > 0,
          10_000,
          50,
        );
        await worker.kill();
      } finally {
        await blocker.end();
      }
      await sleep(1000);
      worker = await startWorker("worker-2");
    });
    // The killed worker's jobs lapsed and were taken up again.
    assert.ok(stalled.length > 0, "the job in hand at the kill was taken up again");
  });

  it("SIGTERM lets the worker finish the batch in hand before it exits", async () => {
    const node = uniqueName("node");
    const agent = await SyntheticAgent.start(join(dir, `spool-${node}`), redis.url, { node });
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    const stalledBefore = stalled.length;
    let exited: Promise<number | null> | undefined;
    try {
      await blocker.query("SELECT pg_advisory_lock($1)", [EGRESS_COMMIT_LOCK]);
      await agent.produce(100);
      await eventually(
        "a batch in hand",
        () => queue.getActiveCount(),
        (n) => n > 0,
        10_000,
        50,
      );
      exited = worker.stop();
      await sleep(1500);
      assert.equal(await db.egressCount(node).then((c) => c.rows), 0, "still held up");
    } finally {
      await blocker.end();
    }
    assert.equal(await exited, 0, "it exits cleanly once its batch has committed");
    assert.ok((await db.egressCount(node)).rows > 0, "the batch in hand was committed");
    assert.equal(stalled.length, stalledBefore, "and acknowledged: nothing stalled");
    worker = await startWorker("worker-after-sigterm");
    await agent.stop();
    await eventually(
      "the rest stored by the next worker",
      () => db.egressCount(node),
      (c) => c.rows === 100,
    );
  });

  it("two workers at once", async () => {
    const second = await startWorker("worker-3");
    try {
      await deliverThrough(async () => {});
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });
});

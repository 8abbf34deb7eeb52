/**
 * Exec and SSH session records survive a Redis restart: the router holds
 * them and retries, and each lands on the exec audit queue once, in order.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AUDIT_JOB_OPTIONS, EXEC_AUDIT_QUEUE, type ExecAuditEvent } from "@turgon/api/audit";
import { type ScratchRedis, startScratchRedis } from "@turgon/dev/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { SessionRecorder } from "./session-records.ts";

function session(n: number): ExecAuditEvent {
  const at = new Date(Date.UTC(2026, 11, 1, 6, 0, n)).toISOString();
  return {
    id: randomUUID(),
    user: "ada@example.com",
    sandbox: { uid: randomUUID(), name: "shell", namespace: "team-a" },
    node: "node-1",
    command: null,
    tty: true,
    startedAt: at,
    endedAt: at,
    exitCode: n,
    reason: "exited",
  };
}

/** A logger whose lines the test reads. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: pino({ level: "info" }, sink), lines };
}

describe("SessionRecorder", () => {
  let redis: ScratchRedis;
  let connection: Redis;
  let queue: Queue;

  before(async () => {
    redis = await startScratchRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: 2, lazyConnect: true });
    connection.on("error", () => {});
    queue = new Queue(EXEC_AUDIT_QUEUE, { connection });
    queue.on("error", () => {});
  });

  after(async () => {
    await queue?.close();
    connection?.disconnect();
    await redis?.remove();
  });

  const send = async (event: ExecAuditEvent) => {
    await queue.add("exec", event, { ...AUDIT_JOB_OPTIONS, jobId: event.id });
  };

  it("holds records while Redis is stopped and sends each once, in order, when it is back", async () => {
    const { log, lines } = capturedLogger();
    const recorder = new SessionRecorder({ send, log, maxBackoffMs: 500 });
    await redis.stop();
    const records = Array.from({ length: 5 }, (_, n) => session(n));
    for (const record of records) recorder.record(record);
    await sleep(3_000);
    assert.equal(recorder.backlog, 5, "nothing is sent or dropped while Redis is away");
    assert.ok(
      lines.some((line) => line.msg === "cannot record sessions yet; holding them and retrying"),
    );

    await redis.start();
    const deadline = Date.now() + 30_000;
    while (recorder.backlog > 0 && Date.now() < deadline) await sleep(100);
    assert.equal(recorder.backlog, 0, "the backlog drains once Redis is back");
    // bullmq lists waiting jobs in the order they were added.
    const jobs = await queue.getWaiting(0, -1);
    const ids = jobs.map((job) => job.id);
    for (const record of records) assert.equal(ids.filter((id) => id === record.id).length, 1);
    const queued = jobs
      .filter((job) => records.some((r) => r.id === job.id))
      .map((job) => (job.data as ExecAuditEvent).exitCode);
    assert.deepEqual(queued, [0, 1, 2, 3, 4], "in the order the sessions ended");
    await recorder.stop();
  });

  it("logs whole what it must give up: past its bound, and at shutdown", async () => {
    const { log, lines } = capturedLogger();
    const recorder = new SessionRecorder({ send, log, maxPending: 2, maxBackoffMs: 200 });
    await redis.stop();
    const records = [session(10), session(11), session(12)];
    for (const record of records) recorder.record(record);
    await recorder.stop(500);
    await redis.start();
    const given = lines
      .filter((line) => line.session !== undefined)
      .map((line) => (line.session as ExecAuditEvent).id);
    assert.deepEqual(
      given,
      records.map((r) => r.id),
      "every record given up is in the log",
    );
  });
});

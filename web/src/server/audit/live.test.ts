/**
 * Live-tail wake-ups on a real Redis of the test's own: an AuditCommitted
 * wakes every registered tail; a wake-up between two reads is kept (so a
 * commit during a backfill is never missed); a malformed message wakes
 * nobody; a tail that started before the subscription took hold is woken
 * when it does (a commit announced in between went unheard); and after
 * Redis restarts, the subscriber is back and wakes every tail at once,
 * since announcements may have been lost meanwhile.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { AUDIT_COMMITTED_CHANNEL } from "@turgon/api/audit";
import { type ScratchRedis, startScratchRedis } from "@turgon/dev/testing";
import { Redis } from "ioredis";
import pino from "pino";
import { CommitSignal, subscribeCommitted } from "./live.ts";
import { announceCommitted } from "./testing.ts";

const quietLogger = pino(
  { level: "info" },
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  }),
);

/** Resolves true if woken within `ms`, false if it timed out. */
async function wokenWithin(
  wakeups: ReturnType<CommitSignal["wakeups"]>,
  ms: number,
): Promise<boolean> {
  const started = Date.now();
  await wakeups.next(undefined, ms);
  return Date.now() - started < ms - 20;
}

/** Waits until the channel has a subscriber (the subscriber connects in the background). */
async function subscribed(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const [, count] = (await redis.pubsub("NUMSUB", AUDIT_COMMITTED_CHANNEL)) as [string, number];
      if (Number(count) > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("the subscriber did not subscribe within 10 s");
  } finally {
    redis.disconnect();
  }
}

describe("live-tail wake-ups through Redis", () => {
  let redis: ScratchRedis;
  let close: () => void;
  const signal = new CommitSignal();

  before(async () => {
    redis = await startScratchRedis();
    close = subscribeCommitted(redis.url, signal, quietLogger);
    await subscribed(redis.url);
  });
  after(async () => {
    close?.();
    await redis?.remove();
  });

  it("wakes every registered tail on AuditCommitted, and keeps a wake-up that came between reads", async () => {
    const a = signal.wakeups();
    const b = signal.wakeups();
    try {
      const woken = Promise.all([wokenWithin(a, 5_000), wokenWithin(b, 5_000)]);
      await announceCommitted(redis.url, "42");
      assert.deepEqual(await woken, [true, true]);
      // Announced while `a` was busy reading: its next wait returns at once.
      await announceCommitted(redis.url, "43");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await wokenWithin(a, 2_000), true);
      // And that wake-up is consumed: the following wait times out.
      assert.equal(await wokenWithin(a, 500), false);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(signal.size, 0);
  });

  it("ignores a message that is not AuditCommitted", async () => {
    const a = signal.wakeups();
    try {
      const publisher = new Redis(redis.url);
      await publisher.publish(AUDIT_COMMITTED_CHANNEL, '{"lastSeq":"not a number"}');
      await publisher.publish(AUDIT_COMMITTED_CHANNEL, "garbage");
      publisher.disconnect();
      assert.equal(await wokenWithin(a, 1_000), false);
    } finally {
      a.close();
    }
  });

  it("wakes a tail that started before the subscription took hold, once it has", async () => {
    // A process's first tail starts the subscriber and reads at once; a commit announced
    // before SUBSCRIBE reached Redis is heard by nobody, so the tail must look again then.
    const early = new CommitSignal();
    const tail = early.wakeups();
    const stop = subscribeCommitted(redis.url, early, quietLogger);
    try {
      assert.equal(await wokenWithin(tail, 10_000), true, "woken without any announcement");
      // Only once: the next wait is for a real announcement.
      assert.equal(await wokenWithin(tail, 500), false);
    } finally {
      tail.close();
      stop();
    }
  });

  it("resubscribes after Redis restarts and wakes every tail then", async () => {
    const a = signal.wakeups();
    try {
      await redis.stop();
      await redis.start();
      // Woken by the reconnect itself, before any announcement.
      assert.equal(await wokenWithin(a, 15_000), true);
      await subscribed(redis.url);
      const next = wokenWithin(a, 5_000);
      await announceCommitted(redis.url, "44");
      assert.equal(await next, true);
    } finally {
      a.close();
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WorkQueue } from "./workqueue.ts";

describe("WorkQueue", () => {
  it("queues a key once however often it is added", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    assert.equal(queue.length, 2);
    assert.equal(await queue.get(), "a");
    assert.equal(await queue.get(), "b");
  });

  it("never hands a key to two workers; an add while processing requeues it after done", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    const key = await queue.get();
    queue.add("a");
    assert.equal(queue.length, 0, "not queued while in process");
    queue.done(key as string);
    assert.equal(queue.length, 1);
    assert.equal(await queue.get(), "a");
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const queue = new WorkQueue();
    const next = queue.get();
    queue.add("late");
    assert.equal(await next, "late");
  });

  it("backs off exponentially per key, and forget resets it", async () => {
    const queue = new WorkQueue({ baseMs: 10, maxMs: 40 });
    assert.deepEqual(
      [
        queue.addRateLimited("k"),
        queue.addRateLimited("k"),
        queue.addRateLimited("k"),
        queue.addRateLimited("k"),
      ],
      [10, 20, 40, 40],
    );
    assert.equal(queue.retries("k"), 4);
    queue.forget("k");
    assert.equal(queue.addRateLimited("k"), 10);
    assert.equal(await queue.get(), "k", "the key comes back after its delay");
    queue.shutDown();
  });

  it("releases waiting workers on shutdown", async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.shutDown();
    assert.equal(await waiting, undefined);
    queue.add("ignored");
    assert.equal(queue.length, 0);
  });
});

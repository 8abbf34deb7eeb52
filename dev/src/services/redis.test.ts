import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { testEnvironment } from "../testing/index.ts";

describe("local Redis", () => {
  it("stores and reads values, listening on loopback only", async () => {
    const redis = new Redis(testEnvironment().redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const key = `smoke:${process.pid}`;
      await redis.set(key, "hello", "EX", 60);
      assert.equal(await redis.get(key), "hello");
      assert.equal(await redis.incr(`${key}:n`), 1);
      assert.deepEqual(await redis.config("GET", "bind"), ["bind", "127.0.0.1"]);
      await redis.del(key, `${key}:n`);
    } finally {
      redis.disconnect();
    }
  });
});

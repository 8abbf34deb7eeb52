import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { ReplayCheckUnavailable, SingleUseGuard } from "./replay.ts";

describe("single-use token guard", () => {
  const redisUrl = process.env.REDIS_URL;
  const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
  after(() => redis?.disconnect());

  it("accepts a jti once, in Redis, until the token's expiry", async () => {
    assert.ok(redis, "REDIS_URL from the test platform (--test-global-setup)");
    const guard = new SingleUseGuard(redis, "exec");
    const jti = randomUUID();
    const exp = Math.floor(Date.now() / 1000) + 60;
    assert.equal(await guard.spent(jti), false, "not spent before its first use");
    assert.equal(await guard.spent(jti), false, "asking does not spend it");
    assert.equal(await guard.claim(jti, exp), true);
    assert.equal(await guard.spent(jti), true);
    assert.equal(await guard.claim(jti, exp), false);
    assert.equal(await new SingleUseGuard(redis, "exec").claim(jti, exp), false, "another replica");
    const ttl = await redis.ttl(`turgon:router:exec-jti:${jti}`);
    assert.ok(ttl > 60 && ttl <= 120, `expires with the token (plus slack): ${ttl} s`);
  });

  it("keeps each kind of token apart: a hand-off jti does not use up an exec jti", async () => {
    assert.ok(redis, "REDIS_URL from the test platform (--test-global-setup)");
    const jti = randomUUID();
    const exp = Math.floor(Date.now() / 1000) + 60;
    assert.equal(await new SingleUseGuard(redis, "handoff").claim(jti, exp), true);
    assert.equal(await new SingleUseGuard(redis, "exec").claim(jti, exp), true);
    assert.equal(await new SingleUseGuard(redis, "handoff").claim(jti, exp), false);
  });

  it("refuses (fails closed) when Redis does not answer", async () => {
    // A port that accepts connections and never answers.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const mute = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      const started = Date.now();
      await assert.rejects(
        new SingleUseGuard(mute, "handoff", 500).claim(
          randomUUID(),
          Math.floor(Date.now() / 1000) + 60,
        ),
        ReplayCheckUnavailable,
      );
      await assert.rejects(
        new SingleUseGuard(mute, "exec", 500).spent(randomUUID()),
        ReplayCheckUnavailable,
      );
      assert.ok(Date.now() - started < 5000, "bounded");
    } finally {
      mute.disconnect();
      silent.close();
    }
  });
});

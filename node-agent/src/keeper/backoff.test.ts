import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RESTART_BACKOFF, RestartBackoff } from "./backoff.ts";

describe("the keeper's restart backoff", () => {
  it("waits 1 s after the first exit and doubles up to 30 s while the agent fails quickly", () => {
    const backoff = new RestartBackoff();
    const delays = Array.from({ length: 8 }, () => backoff.delayAfter(500));
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("starts over at 1 s after a run of a minute or more, not before", () => {
    const backoff = new RestartBackoff();
    for (let i = 0; i < 4; i++) backoff.delayAfter(100);
    assert.equal(
      backoff.delayAfter(RESTART_BACKOFF.resetAfterMs - 1),
      16_000,
      "59.999 s: still failing",
    );
    assert.equal(backoff.delayAfter(RESTART_BACKOFF.resetAfterMs), 1_000, "a minute: a good run");
    assert.equal(backoff.delayAfter(10), 2_000, "and doubles again from there");
    assert.equal(backoff.delayAfter(3_600_000), 1_000);
  });

  it("follows the policy it is given", () => {
    const backoff = new RestartBackoff({ initialMs: 50, maxMs: 120, resetAfterMs: 1_000 });
    assert.deepEqual(
      [10, 10, 10, 1_000, 10].map((ran) => backoff.delayAfter(ran)),
      [50, 100, 120, 50, 100],
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { eventually, NotWithinError } from "./eventually.ts";

describe("eventually", () => {
  it("returns the first value accepted, retrying reads that throw", async () => {
    let reads = 0;
    const value = await eventually(
      "the third read",
      () => {
        reads += 1;
        if (reads === 1) throw new Error("not there yet");
        return reads;
      },
      (n) => n >= 3,
      5_000,
      1,
    );
    assert.deepEqual([value, reads], [3, 3]);
  });

  it("fails within its bound, naming what, the last value and the last error", async () => {
    const started = performance.now();
    await assert.rejects(
      eventually(
        "a value over 10",
        () => 7,
        (n) => n > 10,
        200,
        20,
      ),
      (error: unknown) => {
        assert.ok(error instanceof NotWithinError);
        assert.equal(error.message, "a value over 10: not within 200 ms; last value 7");
        return true;
      },
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 200 && elapsed < 2_000, `gave up after ${Math.round(elapsed)} ms`);
    await assert.rejects(
      eventually("a read that works", () => Promise.reject(new Error("refused")), Boolean, 50, 10),
      { name: "NotWithinError", message: /last value undefined; last error refused$/ },
    );
  });
});
